// comlink ships this module's types as node-adapter.d.ts beside node-adapter.mjs, which NodeNext
// resolution does not pair; this declares the one function the benchmarks use.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';

  export default function nodeEndpoint(endpoint: unknown): Endpoint;
}
