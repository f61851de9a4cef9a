// `node --require <evy>/dist/cli/greenpreload.js program.js`: the world green
// before the program's first line, as `evy run` makes it (monkeyPatch() with
// every module). `evy test --node-tree` runs Node's own tests greened so.
import { monkeyPatch } from '../patcher';

monkeyPatch();
