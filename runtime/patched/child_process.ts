// evy/patched/child_process: node:child_process plus Evy's green calls (in progress).
export * from 'node:child_process';
