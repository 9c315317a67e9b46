/**
 * A bare worker thread for the kernels bench: the built-in product's kernel on rows of a shared product,
 * with no toolbridge in between, so the bench can show how far the machine itself scales that kernel.
 */
import { parentPort } from 'node:worker_threads';
import { gemm } from '../../workers/kernels/kernels.js';

export interface BareProduct {
  a: Float64Array;
  b: Float64Array;
  c: Float64Array;
  n: number;
  rowStart: number;
  rowEnd: number;
}

parentPort!.on('message', ({ a, b, c, n, rowStart, rowEnd }: BareProduct) => {
  gemm(a, b, c, n, n, n, rowStart, rowEnd);
  parentPort!.postMessage(0);
});
