// `node --require <evy>/dist/cli/tsload.js script.ts`: TypeScript through
// require() for a plain Node process without evy's runtime (no hub, no
// patching, no loader thread), as `evy test` runs its scenario runners:
// esbuild compiles each .ts/.cts/.tsx file to CommonJS, cached on disk.
import { installTsRequire } from './tsrequire';

installTsRequire();
