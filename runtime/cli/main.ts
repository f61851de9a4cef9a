// The evy command line (commander): `evy run`.
import type { Command as CommandType } from 'commander';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { optionsFromList, type MonkeyPatchOptions } from '../patcher';
import { runScript, ScriptError, type RunOptions } from './run';
import { runCompat } from './test';
import { TsCompileError } from './tscompile';

function printError(err: unknown): void {
  if (err instanceof ScriptError || err instanceof TsCompileError) process.stderr.write(`${err.message}\n`);
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
  runScript(script, args, { patch: opts, ...tools }).catch((err: unknown) => {
    printError(err);
    process.exitCode = 1;
  });
}

/**
 * `evy run [--no-patch | --patch list] script args...` without loading
 * commander (a tenth of the start-up budget). Anything else, help included,
 * goes to commander. Returns false when it did not handle argv.
 */
function fastRun(argv: string[]): boolean {
  if (argv[2] !== 'run') return false;
  let patch: boolean | string = true;
  let i = 3;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const a = argv[i];
    if (a === '--no-patch') patch = false;
    else if (a === '--patch' && i + 1 < argv.length) patch = argv[++i];
    else if (a.startsWith('--patch=')) patch = a.slice('--patch='.length);
    else return false;
  }
  if (i >= argv.length) return false;
  run(argv[i], argv.slice(i + 1), patch);
  return true;
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ScriptError(`evy run --block-warn: expected a positive number of seconds, got '${v}'`);
  return n;
}

export function main(argv: string[]): void {
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
    .argument('<script>', 'the script: .ts .mts .cts .js .mjs .cjs')
    .argument('[args...]', 'arguments for the script (process.argv.slice(2))')
    .option('--no-patch', 'leave Node\'s modules stock (no monkeyPatch())')
    .option('--patch <modules>', 'green only these: keywords or module names, comma-separated (net,dns,timers,childProcess,tls,http,os,select,thread)')
    .option('--backdoor <addr>', 'start a backdoor (evy backdoor connects to it): [HOST:]PORT or a Unix socket path; loopback only')
    .option('--backdoor-allow-remote', 'let --backdoor listen on a non-loopback address (anyone who reaches it runs code)')
    .option('--block-warn <seconds>', 'report code that blocks the loop for longer than this, with its stack', parseSeconds)
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

  program
    .command('test')
    .description('stdlib-compat suite: run tests/stdlib scenarios on stock Node and monkey-patched, compare the traces')
    .argument('[modules...]', 'modules to check (default: every tests/stdlib/<module>.ts)')
    .option('--scenarios-dir <dir>', 'where the scenario files are (default: tests/stdlib)')
    .option('--filter <text>', 'only scenarios whose name contains <text>')
    .option('-j, --jobs <n>', 'modules run at once', (v: string) => Number.parseInt(v, 10), 2)
    .action(async (modules: string[], o: { scenariosDir?: string; filter?: string; jobs: number }) => {
      const r = await runCompat(modules, { scenariosDir: o.scenariosDir, filter: o.filter, jobs: o.jobs });
      if (r.failed > 0) process.exitCode = 1;
    });

  program.parseAsync(argv).catch((err: unknown) => {
    printError(err);
    process.exitCode = 1;
  });
}
