// evy/patched/http: node:http plus Evy's green calls (in progress).
export * from 'node:http';
