// evy/patched/tls: node:tls plus Evy's green calls (in progress).
export * from 'node:tls';
