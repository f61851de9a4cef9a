// evy/patched/net: node:net plus Evy's green calls (in progress).
export * from 'node:net';
