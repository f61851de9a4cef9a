// `evy test [modules...]`: the stdlib-compat suite. Each module's scenarios
// (tests/stdlib/<module>.ts) run twice in child processes, on stock Node and
// with evy.monkeyPatch() applied; every scenario's two traces must be equal.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/** The package root: dist/cli (or runtime/cli) → ../.. */
const ROOT = path.resolve(__dirname, '..', '..');

export interface CompatOptions {
  /** Where the scenario files are (default <root>/tests/stdlib). */
  scenariosDir?: string;
  /** Only scenarios whose name contains this. */
  filter?: string;
  /** Modules run at the same time (each one is two processes). Default 2. */
  jobs?: number;
  /** Where the report goes (default process.stdout). */
  write?: (text: string) => void;
  /** Per-scenario limit in the runner, ms (default: the runner's 10 s). */
  scenarioTimeoutMs?: number;
}

export interface CompatResult {
  passed: number;
  failed: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ScenarioLine {
  name: string;
  trace: Json[];
  error?: Json;
}

interface RunnerOutput {
  lines: Map<string, ScenarioLine>;
  order: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const RUNNER = path.join(ROOT, 'tests', 'stdlib', 'runner.ts');
/**
 * The runners' TypeScript: evy's own (esbuild, which `evy run` uses too), so an
 * installed evy needs no dev dependency; from dist/ even when this file runs
 * from runtime/ under tsx.
 */
const TS_LOAD = path.join(ROOT, 'dist', 'cli', 'tsload.js');
/** A whole runner process is killed after this long (scenarios have their own 10 s). */
const PROCESS_LIMIT_MS = 300_000;

/** The modules that have a scenario file in `dir`. */
export function compatModules(dir = path.join(ROOT, 'tests', 'stdlib')): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'runner.ts' && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function runRunner(mode: 'stock' | 'patched', moduleName: string, opts: CompatOptions): Promise<RunnerOutput> {
  const args = ['--require', TS_LOAD, RUNNER, mode, moduleName];
  if (opts.filter) args.push(opts.filter);
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  if (opts.scenariosDir) env.EVY_STDLIB_SCENARIOS = path.resolve(opts.scenariosDir);
  if (opts.scenarioTimeoutMs) env.EVY_STDLIB_TIMEOUT_MS = String(opts.scenarioTimeoutMs);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), PROCESS_LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const lines = new Map<string, ScenarioLine>();
      const order: string[] = [];
      for (const text of out.split('\n')) {
        if (!text.startsWith('{"name":')) continue;
        try {
          const line = JSON.parse(text) as ScenarioLine;
          if (!lines.has(line.name)) order.push(line.name);
          lines.set(line.name, line);
        } catch {
          // a torn last line: the scenario counts as missing
        }
      }
      resolve({ lines, order, code, signal, stderr: err });
    });
    child.on('error', (e) => {
      clearTimeout(killer);
      resolve({ lines: new Map(), order: [], code: null, signal: null, stderr: String(e) });
    });
  });
}

function short(v: Json | undefined, max = 300): string {
  const s = v === undefined ? '(none)' : JSON.stringify(v);
  return s.length > max ? s.slice(0, max) + '…' : s;
}

/** Why two scenario lines differ, in a few lines; null when they agree. */
function compare(stock: ScenarioLine | undefined, patched: ScenarioLine | undefined): string | null {
  if (!stock) return 'missing on stock';
  if (!patched) return 'missing on patched';
  if (stock.error !== undefined) return `failed on stock: ${short(stock.error)}`;
  if (patched.error !== undefined) return `failed on patched: ${short(patched.error)}`;
  if (isDeepStrictEqual(stock.trace, patched.trace)) return null;
  const n = Math.max(stock.trace.length, patched.trace.length);
  let i = 0;
  while (i < n && isDeepStrictEqual(stock.trace[i], patched.trace[i])) i++;
  return [
    `trace differs at entry #${i} (stock ${stock.trace.length} entries, patched ${patched.trace.length})`,
    `    stock:   ${short(stock.trace[i])}`,
    `    patched: ${short(patched.trace[i])}`,
  ].join('\n');
}

function processTrouble(mode: string, r: RunnerOutput): string | null {
  if (r.code === 0) return null;
  const tail = r.stderr.trim().split('\n').slice(-8).join('\n      ');
  return `${mode} runner exited ${r.signal ? `on ${r.signal}` : `with code ${r.code}`}${tail ? `\n      ${tail}` : ''}`;
}

async function compatModule(moduleName: string, opts: CompatOptions): Promise<{ result: CompatResult; report: string }> {
  const dir = opts.scenariosDir ? path.resolve(opts.scenariosDir) : path.join(ROOT, 'tests', 'stdlib');
  if (!existsSync(path.join(dir, `${moduleName}.ts`))) {
    return { result: { passed: 0, failed: 1 }, report: `${moduleName}: no scenario file ${moduleName}.ts in ${dir}\n` };
  }
  const [stock, patched] = await Promise.all([runRunner('stock', moduleName, opts), runRunner('patched', moduleName, opts)]);
  const names = [...stock.order, ...patched.order.filter((n) => !stock.lines.has(n))];
  let passed = 0;
  let failed = 0;
  const failures: string[] = [];
  for (const name of names) {
    const why = compare(stock.lines.get(name), patched.lines.get(name));
    if (why === null) passed++;
    else {
      failed++;
      failures.push(`  ✘ ${moduleName} › ${name}: ${why}`);
    }
  }
  // A runner that crashed or exited non-zero is one more failure (its scenarios
  // past the crash are not even listed).
  for (const [mode, r] of [['stock', stock], ['patched', patched]] as const) {
    const trouble = processTrouble(mode, r);
    if (trouble) {
      failed++;
      failures.push(`  ✘ ${moduleName}: ${trouble}`);
    }
  }
  const report = `${moduleName}: ${passed} passed, ${failed} failed\n` + failures.map((f) => f + '\n').join('');
  return { result: { passed, failed }, report };
}

/**
 * Runs the stdlib-compat scenarios of `modules` (all that have a scenario file
 * when empty) stock and patched, prints `<module>: N passed, N failed` with
 * each failure's first differing trace entry, then `N passed, N failed`.
 */
export async function runCompat(modules: string[], opts: CompatOptions = {}): Promise<CompatResult> {
  const write = opts.write ?? ((s: string) => void process.stdout.write(s));
  const list = modules.length ? modules : compatModules(opts.scenariosDir ? path.resolve(opts.scenariosDir) : undefined);
  const jobs = Math.max(1, opts.jobs ?? 2);
  const pending: Promise<{ result: CompatResult; report: string }>[] = [];
  let next = 0;
  const slots: (() => void)[] = [];
  let running = 0;
  const acquire = (): Promise<void> =>
    running < jobs ? (running++, Promise.resolve()) : new Promise<void>((r) => slots.push(r));
  const release = (): void => {
    const wake = slots.shift();
    if (wake) wake();
    else running--;
  };
  for (; next < list.length; next++) {
    const name = list[next];
    pending.push(acquire().then(() => compatModule(name, opts).finally(release)));
  }
  const total: CompatResult = { passed: 0, failed: 0 };
  for (const p of pending) {
    const { result, report } = await p;
    total.passed += result.passed;
    total.failed += result.failed;
    write(report);
  }
  // A run that checked nothing is a failure: no scenario files, or a --filter
  // that matches no scenario.
  if (total.passed + total.failed === 0) {
    total.failed = 1;
    const where = opts.scenariosDir ? path.resolve(opts.scenariosDir) : path.join(ROOT, 'tests', 'stdlib');
    write(
      list.length === 0
        ? `evy test: no scenario files in ${where}\n`
        : `evy test: no scenario ran${opts.filter ? ` (no scenario name contains ${JSON.stringify(opts.filter)})` : ''}\n`,
    );
  }
  write(`${total.passed} passed, ${total.failed} failed\n`);
  return total;
}
