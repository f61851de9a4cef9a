// What the CLI suites share: the repository's bin/evy, and a temporary
// directory outside the repository (so 'evy' must resolve from anywhere) with
// `run(args)` (bin/evy there, to completion) and `script(name, text)`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..');
export const evy = join(root, 'bin', 'evy');

export interface Sandbox {
  readonly dir: string;
  run(args: string[], cwd?: string): { code: number | null; out: string; err: string };
  script(name: string, text: string): string;
  remove(): void;
}

export function sandbox(prefix: string): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    run(args, cwd = dir) {
      const r = spawnSync(process.execPath, [evy, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    script(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Whether process `pid` still exists (signal 0: nothing is sent). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
