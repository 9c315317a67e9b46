/** workerpool worker: the no-op task. */
import workerpool from 'workerpool';

workerpool.worker({ noop: () => undefined });
