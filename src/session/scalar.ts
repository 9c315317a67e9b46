/** A value that needs no codec: structured clone carries it as it is, and it holds no memory to count. */
export type Scalar = number | string | boolean | bigint | null | undefined;

/** Whether `value` is a {@link Scalar}. (Its own module: the worker runtime imports it without comlink.) */
export const isScalar = (value: unknown): value is Scalar =>
  value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
