// node:http hello world, the same file for both runs of bench/http_patch.sh:
// plain `node`, and `evy run` (which calls monkeyPatch() first).
//   node bench/peers/node_http.mjs PORT
import http from 'node:http';

http
  .createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '13' });
    res.end('Hello, World!');
  })
  .listen(Number(process.argv[2]), '127.0.0.1');
