// Runs an example as its README line says (`evy run examples/NAME args`) and
// lets a test wait for lines of its output. Shared by the example suites.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { wait } from 'evy';

const root = resolve(__dirname, '..', '..');
const children = new Set<ChildProcess>();

export interface Running {
  child: ChildProcess;
  out: () => string;
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp): Promise<RegExpMatchArray>;
}

export function run(example: string, args: string[]): Running {
  const child = spawnChild(process.execPath, [join(root, 'bin', 'evy'), 'run', join(root, 'examples', example), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  const waiting: [RegExp, (m: RegExpMatchArray) => void][] = [];
  const check = (): void => {
    for (let i = waiting.length - 1; i >= 0; i--) {
      const m = out.match(waiting[i][0]);
      if (m) {
        waiting[i][1](m);
        waiting.splice(i, 1);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    out: () => out,
    line: (re) =>
      wait(
        new Promise<RegExpMatchArray>((res, rej) => {
          waiting.push([re, res]);
          check();
          child.once('exit', (code) => rej(new Error(`${example} exited (${code}) before printing ${re}:\n${out}`)));
        }),
      ),
  };
}

/** Waits for the example to exit by itself; its exit code. */
export async function exited(r: Running): Promise<number | null> {
  const code = r.child.exitCode ?? (await wait(new Promise<number | null>((res) => r.child.once('exit', res))));
  children.delete(r.child);
  return code;
}

export async function stop(r: Running): Promise<void> {
  if (r.child.exitCode === null) {
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGTERM'); // only the child this test started, by its pid
    await wait(exited);
  }
  children.delete(r.child);
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

