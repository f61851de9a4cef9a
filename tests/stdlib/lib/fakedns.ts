// A tiny authoritative DNS server on 127.0.0.1:0 (UDP) for the dns scenarios:
// c-ares (dns.Resolver) asks it, so resolve*() runs without leaving the host.
import * as dgram from 'node:dgram';

export interface Records {
  A?: string[];
  AAAA?: string[];
  TXT?: string[][];
  CNAME?: string;
  MX?: { priority: number; exchange: string }[];
  SRV?: { priority: number; weight: number; port: number; name: string }[];
  PTR?: string[];
  /** A response code instead of records: 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED. */
  rcode?: number;
  /** Never answer. */
  drop?: boolean;
}

const TYPES: Record<number, keyof Records> = { 1: 'A', 28: 'AAAA', 16: 'TXT', 5: 'CNAME', 15: 'MX', 33: 'SRV', 12: 'PTR' };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p.length > 0);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function rdata(type: keyof Records, value: unknown): Buffer {
  switch (type) {
    case 'A':
      return Buffer.from((value as string).split('.').map(Number));
    case 'AAAA':
      return ipv6Bytes(value as string);
    case 'TXT':
      return Buffer.concat((value as string[]).map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    case 'CNAME':
    case 'PTR':
      return encodeName(value as string);
    case 'MX': {
      const mx = value as { priority: number; exchange: string };
      return Buffer.concat([u16(mx.priority), encodeName(mx.exchange)]);
    }
    case 'SRV': {
      const srv = value as { priority: number; weight: number; port: number; name: string };
      return Buffer.concat([u16(srv.priority), u16(srv.weight), u16(srv.port), encodeName(srv.name)]);
    }
    default:
      throw new Error(`no rdata for ${type}`);
  }
}

export interface FakeDns {
  port: number;
  server: string;
  /** Queries seen, as "TYPE name". */
  queries: string[];
  close(): Promise<void>;
}

export async function fakeDns(zone: Record<string, Records>): Promise<FakeDns> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    const id = msg.readUInt16BE(0);
    let off = 12;
    const labels: string[] = [];
    while (msg[off] !== 0) {
      labels.push(msg.subarray(off + 1, off + 1 + msg[off]).toString('ascii'));
      off += msg[off] + 1;
    }
    off++;
    const qtype = msg.readUInt16BE(off);
    const question = msg.subarray(12, off + 4);
    const name = labels.join('.').toLowerCase();
    const type = TYPES[qtype];
    queries.push(`${type ?? qtype} ${name}`);
    const rec = zone[name];
    if (rec?.drop) return;
    let rcode = 0;
    const answers: Buffer[] = [];
    if (!rec) rcode = 3;
    else if (rec.rcode !== undefined) rcode = rec.rcode;
    else if (type) {
      const add = (t: keyof Records, v: unknown, n: number): void => {
        const data = rdata(t, v);
        answers.push(Buffer.concat([Buffer.from([0xc0, 0x0c]), u16(n), u16(1), Buffer.from([0, 0, 0x01, 0x2c]), u16(data.length), data]));
      };
      const v = rec[type];
      if (rec.CNAME) {
        add('CNAME', rec.CNAME, 5);
      } else if (Array.isArray(v)) {
        for (const item of v) add(type, item, qtype);
      }
    }
    const header = Buffer.concat([u16(id), u16(0x8180 | rcode), u16(1), u16(answers.length), u16(0), u16(0)]);
    sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  return {
    port,
    server: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
