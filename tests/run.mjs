#!/usr/bin/env node
// Runs every tests/**/*.test.ts (or the files/folders given) in its own process,
// so each suite gets a fresh hub, and prints the total as `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const targets = args.length ? args.map((a) => resolve(a)) : [join(root, 'tests')];

function collect(p, out) {
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p).sort()) collect(join(p, e), out);
  } else if (/\.test\.(ts|mts|js|mjs)$/.test(p)) {
    out.push(p);
  }
  return out;
}

const files = targets.flatMap((t) => collect(t, []));
let passed = 0;
let failed = 0;
const broken = [];
for (const file of files) {
  const name = relative(root, file);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  const total = /Total:\s+(\d+)/.exec(out);
  const ok = /Passed:\s+(\d+)/.exec(out);
  if (!total || !ok) {
    // The suite did not get to report: count the whole file as one failure.
    failed++;
    broken.push(name);
    process.stdout.write(`✘ ${name}: no uvu summary (exit ${r.status}${r.signal ? ', ' + r.signal : ''})\n${out}\n`);
    continue;
  }
  const p = Number(ok[1]);
  const f = Number(total[1]) - p;
  passed += p;
  failed += f;
  if (f > 0 || r.status !== 0) {
    if (f === 0) failed++; // exited non-zero after passing: still a failure
    broken.push(name);
    process.stdout.write(`✘ ${name}\n${out}\n`);
  } else {
    // A suite that skipped a test says why, loudly (its `evy: SKIPPED ...` lines).
    const skips = out.split('\n').filter((l) => l.startsWith('evy: SKIPPED'));
    process.stdout.write(`✔ ${name} (${p})\n${skips.map((l) => `  ${l}\n`).join('')}`);
  }
}
// The stdlib-compat suite (`evy test`: tests/stdlib scenarios, stock vs
// monkey-patched), on full runs only; its final `N passed, N failed` joins the
// totals, and a run that prints no summary counts as one failure.
if (!args.length) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'evy'), 'test'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write(`\n$ evy test\n${out}`);
  const summary = [...out.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
  if (!summary) {
    failed++;
    broken.push('evy test');
    process.stdout.write(`✘ evy test: no summary (exit ${r.status}${r.signal ? ', ' + r.signal : ''})\n`);
  } else {
    passed += Number(summary[1]);
    failed += Number(summary[2]);
    if (Number(summary[2]) > 0 || r.status !== 0) {
      if (Number(summary[2]) === 0) failed++; // exited non-zero after passing: still a failure
      broken.push('evy test');
    }
  }
}
if (broken.length) process.stdout.write(`\nfailing: ${broken.join(', ')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
