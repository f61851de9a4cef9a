// node --require dist/cli/tsload.js tests/stdlib/runner.ts <stock|patched> <module> [<scenario-name-filter>]
// (what `evy test` runs; `node --import tsx` works as well)
//
// Runs tests/stdlib/<module>.ts's scenarios one after another and prints one
// JSON line per scenario: {"name", "trace"} plus "error" when the scenario
// threw or hit the time limit (a failure whatever the other side does).
// EVY_STDLIB_SCENARIOS names another scenarios directory (the CLI's fixtures);
// EVY_STDLIB_TIMEOUT_MS the per-scenario limit (10 s); EVY_STDLIB_LEAKS=1
// prints to stderr the handles and timers a scenario left behind.
// The scenario files load through require(), as CommonJS (they use __dirname),
// with tsx and with evy's own require hook (dist/cli/tsload.js) alike, so
// each helper module in lib/ is one instance shared with the runner.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { errorInfo, type ErrorInfo, type Json, type Scenario, Trace } from './lib/trace';

// Captured before any patching: the runner's own clock is never a patched one.
const rawSetTimeout = globalThis.setTimeout;
const rawClearTimeout = globalThis.clearTimeout;

/**
 * The one place that knows monkeyPatch may not exist yet: evy.monkeyPatch()
 * is being written on another branch. Until it lands, `patched` runs the stock
 * modules (and every scenario passes trivially); once it lands this calls it.
 */
async function applyMonkeyPatch(): Promise<boolean> {
  const evy = (await import('evy')) as Record<string, unknown>;
  const patch = evy.monkeyPatch ?? (evy.default as Record<string, unknown> | undefined)?.monkeyPatch;
  if (typeof patch === 'function') {
    (patch as () => void)();
    return true;
  }
  return false;
}

interface Line {
  name: string;
  trace: Json[];
  error?: ErrorInfo;
}

function write(line: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(line + '\n', () => resolve()));
}

async function main(): Promise<void> {
  const [mode, moduleName, filter] = process.argv.slice(2);
  if ((mode !== 'stock' && mode !== 'patched') || !moduleName) {
    process.stderr.write('usage: runner.ts <stock|patched> <module> [<scenario-name-filter>]\n');
    process.exit(2);
  }
  const dir = process.env.EVY_STDLIB_SCENARIOS ? path.resolve(process.env.EVY_STDLIB_SCENARIOS) : __dirname;
  const limitMs = Number(process.env.EVY_STDLIB_TIMEOUT_MS ?? '') || 10_000;
  const file = path.join(dir, `${moduleName}.ts`);
  if (!existsSync(file)) {
    process.stderr.write(`runner: no scenario file ${file}\n`);
    process.exit(2);
  }
  // The mode, for the CLI's own fixtures (the stdlib scenarios never read it).
  (globalThis as { __evyCompatMode?: string }).__evyCompatMode = mode;
  if (mode === 'patched') {
    const patched = await applyMonkeyPatch();
    process.stderr.write(`runner: monkeyPatch ${patched ? 'applied' : 'not available (stock modules)'}\n`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { scenarios?: Scenario[]; default?: { scenarios?: Scenario[] } };
  const scenarios = mod.scenarios ?? mod.default?.scenarios;
  if (!Array.isArray(scenarios)) throw new Error(`${file} exports no scenarios`);

  let current: Trace | null = null;
  const stray = (kind: string) => (err: unknown) => {
    if (current) current.error(kind, err);
    else process.stderr.write(`runner: ${kind} between scenarios: ${String(err)}\n`);
  };
  process.on('uncaughtException', stray('uncaughtException'));
  process.on('unhandledRejection', stray('unhandledRejection'));

  // The runner's own handles (stdout, stderr): what a clean scenario leaves.
  const leakBaseline = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').length;
  for (const s of scenarios) {
    if (filter && !s.name.includes(filter)) continue;
    const t = new Trace();
    current = t;
    const line: Line = { name: s.name, trace: t.entries };
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        s.run(t),
        new Promise<never>((_, reject) => {
          timer = rawSetTimeout(() => reject(new Error(`scenario did not finish within ${limitMs} ms`)), limitMs);
        }),
      ]);
    } catch (err) {
      line.error = errorInfo(err);
    } finally {
      rawClearTimeout(timer);
    }
    // A turn for late events (they would land in this trace, not the next).
    await new Promise((r) => setImmediate(r));
    current = null;
    if (process.env.EVY_STDLIB_LEAKS) {
      const before = leakBaseline;
      await new Promise((r) => rawSetTimeout(r, 50));
      const now = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
      if (now.length > before) process.stderr.write(`leak: ${s.name}: ${JSON.stringify(now)}\n`);
    }
    await write(JSON.stringify(line));
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`runner: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
