// Module loader hooks for record-loads.mjs: appends `<threadId> <url>` for each module loaded.
import { appendFileSync } from 'node:fs';

let file;
let thread = 0;

export function initialize(data) {
  file = data.file;
  thread = data.threadId;
}

export async function load(url, context, nextLoad) {
  if (file) appendFileSync(file, `${thread} ${url}\n`);
  return nextLoad(url, context);
}
