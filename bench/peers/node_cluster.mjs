// node:cluster running bench/peers/node_http.mjs in N workers (the primary
// hands the connections out round-robin), for bench/workers.sh. Prints
// `all N ready` on stderr once every worker listens.
//   node bench/peers/node_cluster.mjs N PORT
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';

const [n, port] = process.argv.slice(2);
if (cluster.isPrimary) {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('node_http.mjs', import.meta.url)), args: [port] });
  let up = 0;
  cluster.on('listening', () => {
    if (++up === Number(n)) process.stderr.write(`all ${n} ready\n`);
  });
  for (let i = 0; i < Number(n); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exitCode = 0;
  });
}
