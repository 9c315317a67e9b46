/** poolifier worker: the no-op task. */
import { ThreadWorker } from 'poolifier';

export default new ThreadWorker(() => undefined);
