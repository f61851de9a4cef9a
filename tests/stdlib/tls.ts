// node:tls scenarios with a self-signed certificate (lib/certs.ts): verification
// errors, servername / SNI, peer certificates, ALPN, versions, client certs,
// STARTTLS over a plain socket, handshake errors.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { getCerts } from './lib/certs';
import type { Scenario, Trace } from './lib/trace';
import { close, closed, closedPort, collect, deferred, listen, thrown, track, when } from './lib/util';

/** A TLS server with the localhost cert; echoes by default. Sockets are track()ed. */
async function server(opts: tls.TlsOptions = {}, onSecure?: (s: tls.TLSSocket) => void): Promise<[tls.Server, number]> {
  const { localhost } = getCerts();
  const s = tls.createServer({ key: localhost.key, cert: localhost.cert, ...opts }, (sock) => {
    track(sock);
    if (onSecure) onSecure(sock);
    else sock.pipe(sock);
  });
  s.on('connection', (raw: net.Socket) => track(raw));
  return [s, await listen(s)];
}

function connect(port: number, opts: tls.ConnectionOptions = {}): tls.TLSSocket {
  return track(tls.connect({ port, host: '127.0.0.1', ...opts }));
}

/** secureConnect or error, whichever comes first. */
function handshake(c: tls.TLSSocket): Promise<Error | null> {
  return new Promise((resolve) => {
    c.once('secureConnect', () => resolve(null));
    c.once('error', (e) => resolve(e));
  });
}

function subject(cert: tls.PeerCertificate | null | undefined): unknown {
  if (!cert || Object.keys(cert).length === 0) return cert ?? null;
  return { subjectCN: cert.subject?.CN, subjectO: cert.subject?.O ?? null, issuerCN: cert.issuer?.CN, subjectaltname: cert.subjectaltname ?? null };
}

async function shutdown(t: Trace | null, c: tls.TLSSocket, srv: tls.Server): Promise<void> {
  c.destroy();
  await closed(c);
  await close(srv);
  if (t) t.log('closed');
}

export const scenarios: Scenario[] = [
  {
    name: 'self-signed, rejectUnauthorized default: DEPTH_ZERO_SELF_SIGNED_CERT',
    async run(t) {
      const [srv, port] = await server();
      srv.on('tlsClientError', () => {});
      const c = connect(port, { servername: 'localhost' });
      c.on('secureConnect', () => t.log('secureConnect?!'));
      const err = await handshake(c);
      t.error('error', err);
      await closed(c);
      t.log('client closed', c.destroyed);
      await close(srv);
    },
  },
  {
    name: 'self-signed, rejectUnauthorized false: connects, not authorized',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { rejectUnauthorized: false, servername: 'localhost' });
      t.log('handshake', await handshake(c));
      t.log('state', { authorized: c.authorized, authorizationError: String(c.authorizationError), encrypted: c.encrypted });
      c.end('over tls');
      t.log('echo', await collect(c));
      await closed(c);
      await close(srv);
    },
  },
  {
    name: 'ca: [cert] makes it authorized',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { ca: [getCerts().localhost.cert], servername: 'localhost' });
      t.log('handshake', await handshake(c));
      t.log('authorized', [c.authorized, c.authorizationError ?? null]);
      await shutdown(t, c, srv);
    },
  },
  {
    name: 'ca with the wrong servername: ERR_TLS_CERT_ALTNAME_INVALID',
    async run(t) {
      const [srv, port] = await server();
      srv.on('tlsClientError', () => {});
      const c = connect(port, { ca: [getCerts().localhost.cert], servername: 'wrong.example' });
      const err = (await handshake(c)) as Error & { reason?: string; host?: string };
      t.error('error', err);
      t.log('fields', { reason: err?.reason ?? null, host: err?.host ?? null });
      await closed(c);
      await close(srv);
    },
  },
  {
    name: 'ca, no servername, host 127.0.0.1: the IP SAN matches',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { ca: [getCerts().localhost.cert] });
      t.log('handshake', await handshake(c));
      t.log('authorized', c.authorized);
      t.log('servername on the client', c.servername ?? null);
      await shutdown(t, c, srv);
    },
  },
  {
    name: 'getPeerCertificate().subject.CN and friends',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { rejectUnauthorized: false, servername: 'localhost' });
      await handshake(c);
      const cert = c.getPeerCertificate();
      t.log('subject', subject(cert));
      t.log('fields', {
        validFrom: typeof cert.valid_from,
        validTo: typeof cert.valid_to,
        fingerprint256: /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(cert.fingerprint256),
        serialNumber: /^[0-9A-F]+$/.test(cert.serialNumber),
        raw: Buffer.isBuffer(cert.raw),
        rawMatches: createHash('sha256').update(cert.raw).digest('hex').length === 64,
      });
      const detailed = c.getPeerCertificate(true);
      t.log('detailed issuerCertificate is itself', detailed.issuerCertificate?.fingerprint256 === detailed.fingerprint256);
      t.log('own certificate on the client', c.getCertificate());
      await shutdown(t, c, srv);
    },
  },
  {
    name: 'server side: servername, getCertificate, no peer certificate',
    async run(t) {
      const seen = deferred<unknown>();
      const [srv, port] = await server({}, (s) => {
        seen.resolve({
          servername: s.servername,
          cert: subject(s.getCertificate() as tls.PeerCertificate),
          peer: s.getPeerCertificate(),
          authorized: s.authorized,
        });
        s.end();
      });
      const c = connect(port, { rejectUnauthorized: false, servername: 'localhost' });
      c.resume();
      t.log('server saw', await seen.promise);
      await closed(c);
      await close(srv);
    },
  },
  {
    name: 'TLS versions: default TLSv1.3, maxVersion TLSv1.2',
    async run(t) {
      const [srv, port] = await server();
      const a = connect(port, { rejectUnauthorized: false });
      await handshake(a);
      t.log('default', { protocol: a.getProtocol(), cipherVersion: a.getCipher().version, cipherName: typeof a.getCipher().name });
      a.destroy();
      await closed(a);
      const b = connect(port, { rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await handshake(b);
      t.log('maxVersion 1.2', { protocol: b.getProtocol(), ephemeral: b.getEphemeralKeyInfo() !== null });
      await shutdown(t, b, srv);
    },
  },
  {
    name: 'version mismatch: server min 1.3, client max 1.2',
    async run(t) {
      const [srv, port] = await server({ minVersion: 'TLSv1.3' });
      const serverErr = deferred<unknown>();
      srv.on('tlsClientError', (e) => serverErr.resolve(e));
      const c = connect(port, { rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      t.error('client', await handshake(c));
      t.error('server', await serverErr.promise);
      await closed(c);
      await close(srv);
    },
  },
  {
    name: 'ALPN negotiation',
    async run(t) {
      const [srv, port] = await server({ ALPNProtocols: ['http/1.1', 'evy/1'] }, (s) => {
        s.end(String(s.alpnProtocol));
      });
      const a = connect(port, { rejectUnauthorized: false, ALPNProtocols: ['evy/1', 'h2'] });
      await handshake(a);
      t.log('client alpn', a.alpnProtocol);
      t.log('server alpn', await collect(a));
      await closed(a);
      const b = connect(port, { rejectUnauthorized: false });
      await handshake(b);
      t.log('no ALPN offered', b.alpnProtocol);
      b.resume();
      await closed(b);
      await close(srv);
    },
  },
  {
    name: 'SNICallback picks the certificate',
    async run(t) {
      const { other } = getCerts();
      const names: unknown[] = [];
      const otherCtx = tls.createSecureContext({ key: other.key, cert: other.cert });
      const [srv, port] = await server({
        SNICallback: (name, cb) => {
          names.push(name);
          cb(null, name === 'other.test' ? otherCtx : undefined);
        },
      });
      for (const servername of ['other.test', 'localhost']) {
        const c = connect(port, { rejectUnauthorized: false, servername });
        await handshake(c);
        t.log(servername, subject(c.getPeerCertificate()));
        c.destroy();
        await closed(c);
      }
      t.log('SNICallback names', names);
      await close(srv);
    },
  },
  {
    name: 'server.addContext for SNI',
    async run(t) {
      const { other } = getCerts();
      const [srv, port] = await server();
      srv.addContext('other.test', { key: other.key, cert: other.cert });
      const c = connect(port, { ca: [other.cert], servername: 'other.test' });
      t.log('handshake', await handshake(c));
      t.log('cert', subject(c.getPeerCertificate()));
      t.log('authorized', c.authorized);
      await shutdown(t, c, srv);
    },
  },
  {
    name: "event order: 'connection', 'secureConnection'; client 'connect', 'secureConnect', data, end, close",
    async run(t) {
      const serverEvents: string[] = [];
      const clientEvents: string[] = [];
      const done = deferred();
      const [srv, port] = await server({}, (s) => {
        serverEvents.push('secureConnection');
        s.on('end', () => serverEvents.push('socket end'));
        s.on('close', () => {
          serverEvents.push('socket close');
          done.resolve();
        });
        s.end('hello');
      });
      srv.on('connection', () => serverEvents.push('connection'));
      const c = connect(port, { rejectUnauthorized: false });
      for (const e of ['connect', 'secureConnect', 'end', 'close']) c.on(e, () => clientEvents.push(e));
      c.setEncoding('utf8');
      let got = '';
      c.on('data', (d: string) => {
        if (!got) clientEvents.push('data');
        got += d;
      });
      await closed(c);
      await done.promise;
      t.log('server', serverEvents);
      t.log('client', clientEvents);
      t.log('data', got);
      await close(srv);
    },
  },
  {
    name: 'ECONNREFUSED through tls.connect',
    async run(t) {
      const port = await closedPort(net);
      const c = connect(port, { rejectUnauthorized: false });
      t.error('error', await handshake(c));
      await closed(c);
    },
  },
  {
    name: 'tls.checkServerIdentity',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { rejectUnauthorized: false });
      await handshake(c);
      const cert = c.getPeerCertificate();
      for (const host of ['localhost', '127.0.0.1', 'other.test', '::1']) {
        const r = tls.checkServerIdentity(host, cert);
        t.log(host, r === undefined ? 'ok' : { code: (r as NodeJS.ErrnoException).code, message: r.message });
      }
      await shutdown(null, c, srv);
    },
  },
  {
    name: 'createSecureContext with bad key or cert',
    async run(t) {
      const { localhost, other } = getCerts();
      t.error('garbage key', thrown(() => tls.createSecureContext({ key: 'not a key', cert: localhost.cert })));
      t.error('mismatched key', thrown(() => tls.createSecureContext({ key: other.key, cert: localhost.cert })));
      t.error('garbage cert', thrown(() => tls.createSecureContext({ cert: 'nope' })));
      t.error('key wrong type', thrown(() => tls.createSecureContext({ key: 42 as unknown as string })));
      t.log('good', typeof tls.createSecureContext({ key: localhost.key, cert: localhost.cert }).context);
    },
  },
  {
    name: 'module constants and lists',
    async run(t) {
      t.log('versions', [tls.DEFAULT_MIN_VERSION, tls.DEFAULT_MAX_VERSION, tls.DEFAULT_ECDH_CURVE]);
      t.log('getCiphers has aes128-gcm-sha256', tls.getCiphers().includes('aes128-gcm-sha256'));
      t.log('rootCertificates', { isArray: Array.isArray(tls.rootCertificates), frozen: Object.isFrozen(tls.rootCertificates), pem: tls.rootCertificates.every((c) => c.startsWith('-----BEGIN CERTIFICATE-----')) });
    },
  },
  {
    name: 'client certificates: requestCert',
    async run(t) {
      const { client } = getCerts();
      const seen: unknown[] = [];
      const [srv, port] = await server({ requestCert: true, rejectUnauthorized: false, ca: [client.cert] }, (s) => {
        seen.push({ authorized: s.authorized, authorizationError: s.authorizationError ? String(s.authorizationError) : null, peer: subject(s.getPeerCertificate()) });
        s.end();
      });
      const a = connect(port, { rejectUnauthorized: false, key: client.key, cert: client.cert });
      a.resume();
      await closed(a);
      const b = connect(port, { rejectUnauthorized: false });
      b.resume();
      await closed(b);
      t.log('server saw', seen);
      await close(srv);
    },
  },
  {
    name: 'client certificate required and missing: the client is rejected',
    async run(t) {
      const { client } = getCerts();
      const serverErr = deferred<unknown>();
      const [srv, port] = await server({ requestCert: true, rejectUnauthorized: true, ca: [client.cert] }, (s) => {
        t.log('secureConnection?!');
        s.end();
      });
      srv.on('tlsClientError', (e) => serverErr.resolve(e));
      const c = connect(port, { rejectUnauthorized: false });
      const errs: string[] = [];
      c.on('error', (e: NodeJS.ErrnoException) => errs.push(String(e.code)));
      c.resume();
      await closed(c);
      t.error('server tlsClientError', await serverErr.promise);
      t.log('client saw an error', errs.length > 0);
      await close(srv);
    },
  },
  {
    name: 'STARTTLS: tls over an existing net socket, both ends upgraded',
    async run(t) {
      const { localhost } = getCerts();
      const ctx = tls.createSecureContext({ key: localhost.key, cert: localhost.cert });
      const serverGot = deferred<string>();
      const plain = net.createServer((raw) => {
        raw.once('data', (d: Buffer) => {
          t.log('plain line', d.toString());
          raw.write('GO\n', () => {
            const secure = track(new tls.TLSSocket(raw, { isServer: true, secureContext: ctx }));
            secure.on('secure', () => t.log('server secure'));
            collect(secure).then(serverGot.resolve, serverGot.reject);
            secure.on('end', () => secure.end('secret reply'));
          });
        });
      });
      const port = await listen(plain);
      const raw = track(net.connect(port, '127.0.0.1'));
      raw.write('STARTTLS\n');
      await when(raw, 'data');
      const c = track(tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }));
      await handshake(c);
      t.log('client', { encrypted: c.encrypted, protocol: c.getProtocol(), cn: c.getPeerCertificate().subject.CN });
      c.end('secret question');
      t.log('client got', await collect(c));
      t.log('server got', await serverGot.promise);
      await closed(c);
      await close(plain);
    },
  },
  {
    name: 'plain text to a TLS server: tlsClientError',
    async run(t) {
      const [srv, port] = await server();
      const serverErr = deferred<unknown>();
      srv.on('tlsClientError', (e: Error, s: tls.TLSSocket) => {
        serverErr.resolve(e);
        t.log('socket is a TLSSocket', s instanceof tls.TLSSocket);
      });
      const raw = track(net.connect(port, '127.0.0.1'));
      raw.on('error', () => {});
      raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      raw.resume();
      t.error('server', await serverErr.promise);
      await closed(raw);
      await close(srv);
    },
  },
  {
    name: 'handshakeTimeout: a silent client',
    async run(t) {
      const [srv, port] = await server({ handshakeTimeout: 100 });
      const serverErr = deferred<unknown>();
      // With a 'tlsClientError' listener the server leaves the socket to us.
      srv.on('tlsClientError', (e, s) => {
        serverErr.resolve(e);
        s.destroy();
      });
      const raw = track(net.connect(port, '127.0.0.1'));
      raw.on('error', () => {});
      raw.resume();
      t.error('server', await serverErr.promise);
      await closed(raw);
      t.log('raw closed by the server');
      await close(srv);
    },
  },
  {
    name: 'a 1 MiB round trip',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { rejectUnauthorized: false });
      const payload = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      c.end(payload);
      await when(c, 'end');
      const back = Buffer.concat(chunks);
      t.log('length', back.length);
      t.log('same', back.equals(payload));
      await closed(c);
      await close(srv);
    },
  },
  {
    name: 'session and keying material APIs',
    async run(t) {
      const [srv, port] = await server();
      const c = connect(port, { rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await handshake(c);
      t.log('isSessionReused', c.isSessionReused());
      t.log('getFinished', Buffer.isBuffer(c.getFinished()));
      t.log('getPeerFinished', Buffer.isBuffer(c.getPeerFinished()));
      t.log('exportKeyingMaterial', c.exportKeyingMaterial(32, 'evy', Buffer.alloc(0)).length);
      t.log('getSession', Buffer.isBuffer(c.getSession()));
      t.log('getTLSTicket', Buffer.isBuffer(c.getTLSTicket()));
      t.log('ticket keys', srv.getTicketKeys().length);
      await shutdown(t, c, srv);
    },
  },
  {
    name: 'session resumption with TLSv1.2',
    async run(t) {
      const [srv, port] = await server({ maxVersion: 'TLSv1.2' });
      const a = connect(port, { rejectUnauthorized: false });
      await handshake(a);
      const session = a.getSession();
      t.log('first reused', a.isSessionReused());
      a.destroy();
      await closed(a);
      const b = connect(port, { rejectUnauthorized: false, session });
      await handshake(b);
      t.log('second reused', b.isSessionReused());
      await shutdown(t, b, srv);
    },
  },
  {
    name: 'tls.connect argument errors',
    async run(t) {
      t.error('bad minVersion', thrown(() => tls.connect({ port: 1, host: '127.0.0.1', minVersion: 'TLSv9' as tls.SecureVersion })));
    },
  },
  {
    name: 'server.address() and the secure server close',
    async run(t) {
      const [srv] = await server();
      const a = srv.address() as net.AddressInfo;
      t.log('address', { address: a.address, family: a.family, port: typeof a.port });
      t.log('listening', srv.listening);
      await close(srv);
      t.log('listening after', srv.listening);
    },
  },
];
