/** Raw Piscina worker for the baselines: the same work as bench/tools.ts, with no toolbridge in between. */
import { tableFromIPC } from 'apache-arrow';

export type RawTask =
  | { kind: 'noop' }
  | { kind: 'first'; x: Float64Array }
  | { kind: 'ipc'; bytes: Uint8Array }
  | { kind: 'sumIpc'; bytes: Uint8Array; column: string }
  | { kind: 'sumRows'; rows: Array<Record<string, unknown>>; column: string }
  | { kind: 'sumJson'; json: string; column: string }
  | { kind: 'addChunk'; items: Array<{ a: number; b: number }> };

function sumRows(rows: Array<Record<string, unknown>>, column: string): number {
  let sum = 0;
  for (const row of rows) sum += row[column] as number;
  return sum;
}

export default function run(task: RawTask): unknown {
  switch (task.kind) {
    case 'noop':
      return undefined;
    case 'first':
      return task.x[0];
    case 'ipc':
      return tableFromIPC(task.bytes).getChildAt(0)?.get(0) as number;
    case 'sumIpc': {
      let sum = 0;
      for (const value of tableFromIPC(task.bytes).getChild(task.column)!) sum += value as number;
      return sum;
    }
    case 'sumRows':
      return sumRows(task.rows, task.column);
    case 'sumJson':
      return sumRows(JSON.parse(task.json) as Array<Record<string, unknown>>, task.column);
    case 'addChunk':
      return task.items.map(({ a, b }) => a + b);
  }
}
