// evy/patched/timers: node:timers plus Evy's green calls (in progress).
export * from 'node:timers';
