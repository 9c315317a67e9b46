/** Raw Piscina worker for the baselines: the same work as bench/tools.ts, with no toolbridge in between. */
import { tableFromIPC } from 'apache-arrow';

export type RawTask = { kind: 'noop' } | { kind: 'first'; x: Float64Array } | { kind: 'ipc'; bytes: Uint8Array };

export default function run(task: RawTask): unknown {
  switch (task.kind) {
    case 'noop':
      return undefined;
    case 'first':
      return task.x[0];
    case 'ipc':
      return tableFromIPC(task.bytes).getChildAt(0)?.get(0) as number;
  }
}
