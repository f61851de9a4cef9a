// The evy command line (commander): `evy run`.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { optionsFromList } from '../patcher';
import { runScript, ScriptError } from './run';

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
    .option('--no-patch', 'leave Node\'s modules stock (no monkeyPatch())')
    .option('--patch <modules>', 'green only these: keywords or module names, comma-separated (net,dns,timers,childProcess,tls,http,os,select,thread)')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (script: string, args: string[], o: { patch: boolean | string }) => {
      try {
        let patch: ReturnType<typeof optionsFromList> | boolean = o.patch !== false;
        if (typeof o.patch === 'string') {
          try {
            patch = optionsFromList(o.patch);
          } catch (err) {
            throw new ScriptError(`evy run --patch: ${(err as Error).message}`);
          }
        }
        await runScript(script, args, { patch });
      } catch (err) {
        printError(err);
        process.exitCode = 1;
      }
    });

  program.parseAsync(argv).catch((err: unknown) => {
    printError(err);
    process.exitCode = 1;
  });
}
