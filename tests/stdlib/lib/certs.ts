// Self-signed certificates for the tls and https scenarios, made by openssl
// once per runner process in a temp dir (removed at exit).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
}

export interface Certs {
  /** CN=localhost, SAN DNS:localhost, IP:127.0.0.1, O=Evy Compat */
  localhost: KeyPair;
  /** CN=other.test, SAN DNS:other.test (for SNI) */
  other: KeyPair;
  /** CN=evy-client (a client certificate) */
  client: KeyPair;
}

let certs: Certs | null = null;

function make(dir: string, name: string, subj: string, san: string | null): KeyPair {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', subj];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  execFileSync('openssl', args, { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

export function getCerts(): Certs {
  if (!certs) {
    const dir = mkdtempSync(path.join(tmpdir(), 'evy-compat-certs-'));
    try {
      certs = {
        localhost: make(dir, 'localhost', '/O=Evy Compat/CN=localhost', 'DNS:localhost,IP:127.0.0.1'),
        other: make(dir, 'other', '/CN=other.test', 'DNS:other.test'),
        client: make(dir, 'client', '/CN=evy-client', null),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return certs;
}
