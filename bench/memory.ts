// A million concurrent sleepers: peak RSS and completion, one kind per process.
//   evy run bench/memory.ts evy-threads   a million green threads parked in sleep()
//   evy run bench/memory.ts evy-timers    a million hub timers (scheduleCallGlobal)
//   node bench/memory.ts ...              (via tsx) node-async: a million async functions
//                                         awaiting a setTimeout promise, no evy
// Sleeps last 1-2 s, spread over 1000 deadlines. Prints name<TAB>value<TAB>unit:
// peak RSS, RSS per sleeper, the wall time until the last one woke, and the
// process's CPU time (user + system) by then, which a loaded machine moves less.
const N = 1_000_000;
const kind = process.argv[2] ?? 'evy-threads';

async function main(): Promise<void> {
  const base = process.memoryUsage().rss;
  let peak = base;
  let done = 0;
  const finish = (): void => {
    done++;
  };
  const start = performance.now();
  const cpu = process.cpuUsage();
  const delay = (i: number): number => 1 + (i % 1000) / 1000;
  if (kind === 'evy-threads' || kind === 'evy-timers') {
    const evy = await import('evy');
    const hub = evy.getHub();
    for (let i = 0; i < N; i++) {
      if (kind === 'evy-timers') hub.scheduleCallGlobal(delay(i), finish);
      else
        evy.spawnN(async () => {
          await evy.sleep(delay(i));
          finish();
        });
    }
  } else if (kind === 'node-async') {
    for (let i = 0; i < N; i++) {
      void (async () => {
        await new Promise((r) => setTimeout(r, delay(i) * 1000));
        finish();
      })();
    }
  } else {
    throw new Error(`unknown kind ${kind}: evy-threads, evy-timers or node-async`);
  }
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
      if (done === N) {
        clearInterval(poll);
        resolve();
      }
    }, 50);
  });
  const secs = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  console.log(`mem_${kind}_peak_rss\t${(peak / 2 ** 20).toFixed(0)}\tMiB`);
  console.log(`mem_${kind}_per_sleeper\t${((peak - base) / N).toFixed(0)}\tbytes`);
  console.log(`mem_${kind}_done_in\t${secs.toFixed(2)}\ts`);
  console.log(`mem_${kind}_cpu\t${((used.user + used.system) / 1e6).toFixed(2)}\ts`);
}

void main();
