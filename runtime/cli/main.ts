// The evy command line (commander): `evy run`, `evy test`.
// Loads no native hub until a script runs: `evy --version` and `--help` work
// where the addon is missing or broken.
import type { Command as CommandType } from 'commander';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { optionsFromList, type MonkeyPatchOptions } from '../patcher';
import { runScript, ScriptError, watchParent, type RunOptions } from './run';
import type { runCompat as RunCompat } from './test';

// test.ts loads child_process (and net with it): only `evy test` pays for that.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runCompat: typeof RunCompat = (...args) => (require('./test') as typeof import('./test')).runCompat(...args);

function printError(err: unknown): void {
  // Both carry the whole report in their message. A TsCompileError from the
  // ESM loader thread arrives as a copy, a plain Error: known by its name.
  if (err instanceof Error && (err.name === 'ScriptError' || err.name === 'TsCompileError')) process.stderr.write(`${err.message}\n`);
  else if (err instanceof Error) process.stderr.write(`${err.stack ?? err.message}\n`);
  else process.stderr.write(`evy: uncaught ${typeof err}: ${String(err)}\n`);
}

function patchOption(value: boolean | string): boolean | MonkeyPatchOptions {
  if (typeof value !== 'string') return value;
  try {
    return optionsFromList(value);
  } catch (err) {
    throw new ScriptError(`evy run --patch: ${(err as Error).message}`);
  }
}

function run(script: string, args: string[], patch: boolean | string, tools: Omit<RunOptions, 'patch'> = {}): void {
  let opts: boolean | MonkeyPatchOptions;
  try {
    opts = patchOption(patch);
  } catch (err) {
    printError(err);
    process.exitCode = 1;
    return;
  }
  watchParent();
  runScript(script, args, { patch: opts, ...tools }).catch((err: unknown) => {
    printError(err);
    process.exitCode = 1;
  });
}

/**
 * Node flags that take their value as the next argument (`-r ./x.js`). Any
 * other flag's value goes with `=` (`--inspect=9230`, `--max-old-space-size=64`).
 */
const NODE_FLAGS_WITH_VALUE = new Set([
  '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file',
  '--inspect-port', '--debug-port', '--title', '--input-type', '--redirect-warnings', '--disable-warning',
  '--unhandled-rejections', '--dns-result-order', '--max-http-header-size', '--stack-trace-limit',
  '--cpu-prof-dir', '--cpu-prof-name', '--heap-prof-dir', '--heap-prof-name', '--diagnostic-dir', '--report-dir',
]);

/**
 * `evy run [--no-patch | --patch list] [node flags] script args...` without
 * loading commander (a tenth of the start-up budget). Anything else, help
 * included, goes to commander. Returns false when it did not handle argv.
 */
function fastRun(argv: string[]): boolean {
  if (argv[2] !== 'run') return false;
  let patch: boolean | string = true;
  const evyArgs: string[] = [];
  const nodeArgs: string[] = [];
  let i = 3;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h' || a === '--') return false;
    if (/^--(backdoor|backdoor-allow-remote|block-warn)(=|$)/.test(a)) return false; // evy's tools: commander parses them
    if (a === '--no-patch') patch = false;
    else if (a === '--patch' && i + 1 < argv.length) patch = argv[++i];
    else if (a.startsWith('--patch=')) patch = a.slice('--patch='.length);
    else if (a === '--patch') return false; // commander says what is missing
    else {
      nodeArgs.push(a);
      if (NODE_FLAGS_WITH_VALUE.has(a) && i + 1 < argv.length) nodeArgs.push(argv[++i]);
      continue;
    }
    evyArgs.push(...(a === '--patch' ? [a, argv[i]] : [a]));
  }
  if (i >= argv.length) return false;
  if (nodeArgs.length > 0) runUnder(nodeArgs, [...evyArgs, ...argv.slice(i)]);
  else run(argv[i], argv.slice(i + 1), patch);
  return true;
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ScriptError(`evy run --block-warn: expected a positive number of seconds, got '${v}'`);
  return n;
}

/**
 * Node flags before the script (`evy run --inspect app.ts`): evy runs again in
 * a Node started with them, and this process only waits for it. SIGINT,
 * SIGTERM and SIGHUP are passed on, and its exit is this one's: the same code,
 * or the same signal.
 */
function runUnder(nodeArgs: string[], runArgs: string[]): void {
  const bin = path.join(__dirname, '..', '..', 'bin', 'evy');
  const env = { ...process.env, EVY_RUN_PARENT: String(process.pid) };
  // child_process loads streams and net: only a run with Node flags pays for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, [...nodeArgs, bin, 'run', ...runArgs], { stdio: 'inherit', env });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const pass = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const sig of signals) process.on(sig, pass);
  watchParent();
  child.on('error', (err) => {
    process.stderr.write(`evy run: could not start ${process.execPath}: ${err.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    for (const sig of signals) process.off(sig, pass);
    if (signal !== null) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}

export function main(argv: string[]): void {
  // `evy run --workers N`: the supervisor; EVY_WORKER_CHANNEL: one of its workers (./workers).
  if (argv[2] === 'run' && (process.env.EVY_WORKER_CHANNEL !== undefined || argv.some((a) => /^--workers(=|$)/.test(a)))) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if ((require('./workers') as typeof import('./workers')).workersMain(argv, NODE_FLAGS_WITH_VALUE)) return;
  }
  if (fastRun(argv)) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Command } = require('commander') as typeof import('commander');
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  const program: CommandType = new Command();
  program
    .name('evy')
    .description('Green threads for Node.js on libuv: run scripts with Evy\'s concurrency model')
    .version(pkg.version, '-V, --version')
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('run')
    .description('run a TypeScript or JavaScript script (ESM or CommonJS) as the main green thread')
    .argument('<script>', 'the script: .ts .mts .cts .tsx .js .mjs .cjs')
    .argument('[args...]', 'arguments for the script (process.argv.slice(2))')
    .option('--no-patch', 'leave Node\'s modules stock (no monkeyPatch())')
    .option('--patch <modules>', 'green only these: keywords or module names, comma-separated (net,dns,timers,childProcess,tls,http,os,select,thread)')
    .option('--backdoor <addr>', 'start a backdoor (evy backdoor connects to it): [HOST:]PORT or a Unix socket path; loopback only')
    .option('--backdoor-allow-remote', 'let --backdoor listen on a non-loopback address (anyone who reaches it runs code)')
    .option('--block-warn <seconds>', 'report code that blocks the loop for longer than this, with its stack', parseSeconds)
    .option('--workers <n>', 'run n processes of the script (auto: one per core), sharing its listening sockets; restarted when they crash, drained on SIGTERM/SIGINT, replaced on SIGHUP; EVY_WORKER holds the index')
    .option('--grace <seconds>', 'with --workers: how long a stopping worker may take to finish its requests (default 30)')
    .addHelpText('after', '\nNode flags before the script go to Node (evy runs in a Node started with them):\n  evy run --inspect app.ts\n  evy run --max-old-space-size=64 -r ./setup.js app.ts')
    .passThroughOptions()
    .allowUnknownOption()
    .action((script: string, args: string[], o: { patch: boolean | string; backdoor?: string; backdoorAllowRemote?: boolean; blockWarn?: number }) =>
      run(script, args, o.patch, { backdoor: o.backdoor, backdoorAllowRemote: o.backdoorAllowRemote, blockWarn: o.blockWarn }),
    );

  program
    .command('backdoor')
    .description('a prompt into a running evy process (one started with evy run --backdoor, or that called backdoor())')
    .option('--host <host>', 'the host to connect to', '127.0.0.1')
    .option('-p, --port <port>', 'the TCP port', (v: string) => Number(v))
    .option('-s, --socket <path>', 'a Unix socket path instead of a port')
    .option('-e, --eval <code>', 'run one input, print its output, exit (non-zero if it threw)')
    .action(async (o: { host: string; port?: number; socket?: string; eval?: string }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runBackdoorClient } = require('./backdoor') as typeof import('./backdoor');
      process.exitCode = await runBackdoorClient(o);
    });

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeTree = require('./nodetree') as typeof import('./nodetree');
  program
    .command('test')
    .description('stdlib-compat suite: run tests/stdlib scenarios on stock Node and monkey-patched, compare the traces; with --node-tree, Node\'s own tests')
    .argument('[modules...]', 'modules to check (default: every tests/stdlib/<module>.ts); with --node-tree: modules, file-name globs or parts of names')
    .option('--scenarios-dir <dir>', 'where the scenario files are (default: tests/stdlib)')
    .option('--filter <text>', 'only scenarios whose name contains <text>')
    .option('--node-tree <dir>', 'run the test/parallel and test/sequential tests of this Node source tree, stock and greened')
    .option('--timeout <seconds>', 'with --node-tree: the time limit of each run (default 60)', nodeTree.cliNumber('seconds'))
    .option('-j, --jobs <n>', 'modules run at once (default 2); with --node-tree, tests (default 1)', nodeTree.cliNumber('count'))
    .action(async (modules: string[], o: { scenariosDir?: string; filter?: string; nodeTree?: string; timeout?: number; jobs?: number }) => {
      const r = o.nodeTree
        ? await nodeTree.runNodeTree(o.nodeTree, modules, { jobs: o.jobs, timeoutMs: o.timeout && o.timeout * 1000 })
        : await runCompat(modules, { scenariosDir: o.scenariosDir, filter: o.filter, jobs: o.jobs });
      if (r.failed > 0) process.exitCode = 1;
    });

  program.parseAsync(argv).catch((err: unknown) => {
    printError(err);
    process.exitCode = 1;
  });
}
