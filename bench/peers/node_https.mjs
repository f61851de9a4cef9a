// node:https hello world with its default options. Usage: node node_https.mjs PORT KEY CERT
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [port, key, cert] = process.argv.slice(2);
https
  .createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end('hello');
  })
  .listen(Number(port), '127.0.0.1');
