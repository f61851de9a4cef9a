// The evy command line (commander): `evy run`.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runScript, ScriptError } from './run';
import { runCompat } from './test';

const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

function printError(err: unknown): void {
  if (err instanceof ScriptError) process.stderr.write(`${err.message}\n`);
  else if (err instanceof Error) process.stderr.write(`${err.stack ?? err.message}\n`);
  else process.stderr.write(`evy: uncaught ${typeof err}: ${String(err)}\n`);
}

export function main(argv: string[]): void {
  const program = new Command();
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
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (script: string, args: string[]) => {
      try {
        await runScript(script, args);
      } catch (err) {
        printError(err);
        process.exitCode = 1;
      }
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
