// evy/web/wsgi over TLS (opts.ssl): wsgi.url_scheme is https, and a client
// that fails the handshake ends only its own connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as https from 'node:https';
import { connect, listen, spawn, wait } from 'evy';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';
import { assertClean, localhostCert } from '../helpers';

// A self-signed certificate for localhost / 127.0.0.1, made by this test.
const { key, cert } = localhostCert();
test.after.each(assertClean);

function app(environ: Environ, startResponse: StartResponse): string[] {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`${environ['wsgi.url_scheme']} ${environ.PATH_INFO}`];
}

function get(port: number, path: string): Promise<string> {
  return wait(
    new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path, ca: cert, servername: 'localhost', agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        })
        .on('error', reject);
    }),
  );
}

test('HTTPS: verified by the client, url_scheme https; a plain-HTTP client does not stop the server', async () => {
  const sock = listen(['127.0.0.1', 0]);
  const port = (sock.getsockname() as [string, number])[1];
  const gt = spawn(() => server(sock, app, { log: null, ssl: { key, cert } }));
  assert.is(await get(port, '/secure'), '200 https /secure');
  // Plain HTTP to the TLS port: its handshake fails, its connection ends.
  const plain = await connect(['127.0.0.1', port]);
  await plain.sendall('GET / HTTP/1.0\r\n\r\n');
  for (let d; (d = await plain.recv()).length > 0; ) void d;
  plain.close();
  assert.is(await get(port, '/again'), '200 https /again');
  sock.close();
  await gt.wait();
});

test.run();
