// Preloaded with `node --import`: records every module this process loads, one line each in the file named
// by TOOLBRIDGE_LOADS_FILE, as `<threadId> <url>`. Worker threads inherit the flag, so they record theirs.
// ES modules through loader hooks; CommonJS files (a worker's runtime bundle, say) where require() loads them.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';

const file = process.env.TOOLBRIDGE_LOADS_FILE;
register('./record-loads-hooks.mjs', import.meta.url, { data: { file, threadId } });

const seen = new Set();
const load = Module._load;
Module._load = function recordLoad(request, parent, isMain) {
  const loaded = load.call(this, request, parent, isMain);
  try {
    const filename = Module._resolveFilename(request, parent, isMain);
    if (file && filename.startsWith('/') && !seen.has(filename)) {
      seen.add(filename);
      appendFileSync(file, `${threadId} ${pathToFileURL(filename).href}\n`);
    }
  } catch {
    // Not a file (a built-in module): not recorded.
  }
  return loaded;
};
