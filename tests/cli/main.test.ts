import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, evy, root, sandbox } from './sandbox';

// The evy command line itself (runtime/cli/main.ts): what it does before a
// script runs, Node flags, and how it ends with its script.
const box = sandbox('evy-main-');
const { dir, run, script } = box;

test.after(() => box.remove());

test('--version and --help work without the native addon (they do not load the hub)', () => {
  // A preload that makes loading any native addon fail, as a missing build does.
  const pre = script('no-native.cjs', "require('module')._extensions['.node'] = (m, f) => { throw new Error('native addon loaded: ' + f); };");
  const node = (args: string[]) => spawnSync(process.execPath, ['-r', pre, evy, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  for (const args of [['--version'], ['--help'], ['run', '--help'], ['test', '--help']]) {
    const r = node(args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr, '');
  }
  assert.match(node(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
  // The preload does bite: a script run needs the hub.
  script('hello.js', "console.log('hi');");
  assert.match(node(['run', 'hello.js']).stderr, /native addon loaded/);
});

test('Node flags before the script go to Node; evy\'s own options still work; the exit code comes back', () => {
  const pre = script('pre.cjs', 'globalThis.preloaded = true;');
  script('flags.ts', [
    "import { isMonkeyPatched } from 'evy';",
    "import inspector from 'node:inspector';",
    'const g = globalThis as { preloaded?: boolean };',
    "console.log(JSON.stringify([process.execArgv, process.argv.slice(2), g.preloaded === true, isMonkeyPatched('dns'), Error.stackTraceLimit, typeof inspector.url()]));",
    'process.exitCode = 3;',
  ].join('\n'));
  const r = run(['run', '--no-patch', '--inspect=127.0.0.1:0', '--stack-trace-limit=7', '-r', pre, 'flags.ts', 'a', '--flag']);
  assert.is(r.code, 3, r.err);
  const [execArgv, args, preloaded, patched, limit, url] = JSON.parse(r.out) as [string[], string[], boolean, boolean, number, string];
  assert.equal(execArgv, ['--inspect=127.0.0.1:0', '--stack-trace-limit=7', '-r', pre]);
  assert.equal(args, ['a', '--flag'], 'the script\'s arguments are its own');
  assert.ok(preloaded, '-r ran');
  assert.is(patched, false, '--no-patch still reached evy');
  assert.is(limit, 7);
  assert.is(url, 'string', 'the inspector is open');
  assert.match(r.err, /Debugger listening on ws:\/\/127\.0\.0\.1:/);
  // What Node refuses, Node says.
  const bad = run(['run', '--no-such-node-flag', 'flags.ts']);
  assert.is(bad.code, 9);
  assert.match(bad.err, /bad option: --no-such-node-flag/);
});

/** Waits (up to 20 s) until `pred` holds, checking every 50 ms. */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.unreachable(`timed out waiting until ${what}`);
}

/** Starts `cmd args`, and resolves with the script's first line (its pid) once it is up. */
function start(
  cmd: string,
  args: string[],
  cwd = dir,
  env: NodeJS.ProcessEnv = process.env,
  group = false,
): Promise<{ child: ChildProcess; pid: number; exited: Promise<[number | null, NodeJS.Signals | null]> }> {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, sig) => r([code, sig])));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /^pid (\d+)\n/.exec(out);
      if (m !== null) resolve({ child, pid: Number(m[1]), exited });
    });
    void exited.then(([code, sig]) => reject(new Error(`${cmd} ${args.join(' ')} exited (${code}, ${sig}) before it was up: ${err}`)));
  });
}

// A script that stays up (until killed, or for 60 s), after printing its pid.
const STAYS = "import { sleep } from 'evy';\nconsole.log('pid', process.pid);\nawait sleep(60);\n";

test('SIGTERM or SIGINT to an evy run that started Node with flags stops the script\'s process too', async () => {
  script('stays.ts', STAYS);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const { child, pid, exited } = await start(process.execPath, [evy, 'run', '--stack-trace-limit=5', 'stays.ts']);
    assert.is.not(pid, child.pid, 'the script runs in a Node of its own');
    child.kill(sig);
    assert.equal(await exited, [null, sig], 'evy run ends by the same signal');
    await until(() => !alive(pid), `the script's process (${pid}) is gone after ${sig}`);
  }
});

test('`npx evy run` stops with its script: SIGTERM to npx, SIGINT to its process group (a terminal\'s Ctrl-C)', async () => {
  const proj = join(dir, 'npxproj');
  mkdirSync(join(proj, 'node_modules', '.bin'), { recursive: true });
  writeFileSync(join(proj, 'package.json'), '{"name":"npxproj","version":"1.0.0"}');
  symlinkSync(root, join(proj, 'node_modules', 'evy'));
  symlinkSync(join('..', 'evy', 'bin', 'evy'), join(proj, 'node_modules', '.bin', 'evy'));
  writeFileSync(join(proj, 'stays.ts'), STAYS);
  const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_cache: join(dir, 'npm-cache') };
  // npm passes SIGTERM to its `sh -c`, which dies of it and leaves evy behind: evy sees its parent go.
  const term = await start('npx', ['--offline', 'evy', 'run', 'stays.ts'], proj, env);
  assert.ok(alive(term.pid));
  term.child.kill('SIGTERM');
  await term.exited;
  await until(() => !alive(term.pid), `the script's process (${term.pid}) is gone after SIGTERM to npx`);
  // Ctrl-C signals the whole foreground process group, the script included.
  const int = await start('npx', ['--offline', 'evy', 'run', 'stays.ts'], proj, env, true);
  process.kill(-int.child.pid!, 'SIGINT');
  await until(() => !alive(int.pid), `the script's process (${int.pid}) is gone after SIGINT to the group`);
  await int.exited;
});

test.run();
