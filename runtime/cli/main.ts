// The evy command line (commander): `evy run`.
import type { Command as CommandType } from 'commander';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { optionsFromList, type MonkeyPatchOptions } from '../patcher';
import { runScript, ScriptError } from './run';
import type { runCompat as RunCompat } from './test';
import { TsCompileError } from './tscompile';

// test.ts loads child_process (and net with it): only `evy test` pays for that.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runCompat: typeof RunCompat = (...args) => (require('./test') as typeof import('./test')).runCompat(...args);

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

function run(script: string, args: string[], patch: boolean | string): void {
  let opts: boolean | MonkeyPatchOptions;
  try {
    opts = patchOption(patch);
  } catch (err) {
    printError(err);
    process.exitCode = 1;
    return;
  }
  runScript(script, args, { patch: opts }).catch((err: unknown) => {
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
    .passThroughOptions()
    .allowUnknownOption()
    .action((script: string, args: string[], o: { patch: boolean | string }) => run(script, args, o.patch));

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
