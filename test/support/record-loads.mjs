// Preloaded with `node --import`: records every module this process loads, one line each in the file named
// by TOOLBRIDGE_LOADS_FILE, as `<threadId> <url>`. Worker threads inherit the flag, so they record theirs.
import { register } from 'node:module';
import { threadId } from 'node:worker_threads';

register('./record-loads-hooks.mjs', import.meta.url, {
  data: { file: process.env.TOOLBRIDGE_LOADS_FILE, threadId },
});
