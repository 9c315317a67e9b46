import type { Data, DataType, Schema, Struct, Table, Vector } from 'apache-arrow';
import { BufferTable } from './buffers.js';
import { arrow } from './lazy-modules.js';
import { openView, type ViewRef } from './views.js';

/** One Arrow `Data` node with its buffers replaced by references into shared memory. */
export interface DataNodeRef {
  offset: number;
  length: number;
  nullCount: number;
  values: ViewRef | undefined;
  valueOffsets: ViewRef | undefined;
  nullBitmap: ViewRef | undefined;
  typeIds: ViewRef | undefined;
  variadic: ViewRef[];
  children: DataNodeRef[];
  dictionary: DataNodeRef[];
}

/** A table as it travels: its schema as an Arrow IPC schema message, and one struct node per batch. */
export interface FrameRef {
  schema: Uint8Array;
  batches: DataNodeRef[];
}

const schemaBytes = new WeakMap<Schema, Uint8Array>();

function encodeSchema(schema: Schema): Uint8Array {
  let bytes = schemaBytes.get(schema);
  if (bytes === undefined) {
    const { Message } = arrow();
    bytes = Message.encode(Message.from(schema));
    schemaBytes.set(schema, bytes);
  }
  return bytes;
}

/** Decoded schemas by their bytes: a tool called again and again with one table shape decodes it once. */
const decodedSchemas = new Map<string, Schema>();
const MAX_DECODED_SCHEMAS = 256;

function decodeSchema(bytes: Uint8Array): Schema {
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let schema = decodedSchemas.get(key);
  if (schema === undefined) {
    const { Message, Schema } = arrow();
    const header = Message.decode(bytes).header() as Schema | null;
    if (!(header instanceof Schema)) throw new Error('Malformed frame: the schema message holds no schema');
    schema = header;
    if (decodedSchemas.size >= MAX_DECODED_SCHEMAS) decodedSchemas.clear();
    decodedSchemas.set(key, schema);
  }
  return schema;
}

const optionalRef = (table: BufferTable, view: ArrayBufferView | undefined): ViewRef | undefined =>
  view === undefined || view === null ? undefined : table.ref(view);

function encodeData(data: Data, table: BufferTable): DataNodeRef {
  return {
    offset: data.offset,
    length: data.length,
    nullCount: data.nullCount,
    values: optionalRef(table, data.values as ArrayBufferView | undefined),
    valueOffsets: optionalRef(table, data.valueOffsets as ArrayBufferView | undefined),
    nullBitmap: optionalRef(table, data.nullBitmap as ArrayBufferView | undefined),
    typeIds: optionalRef(table, data.typeIds as ArrayBufferView | undefined),
    variadic: (data.variadicBuffers ?? []).map((view) => table.ref(view)),
    children: (data.children ?? []).map((child) => encodeData(asData(child), table)),
    dictionary: data.dictionary ? data.dictionary.data.map((chunk) => encodeData(chunk, table)) : [],
  };
}

/**
 * A child of a Data node. Arrow keeps `Vector`s instead of `Data` as the children of the batch of an empty
 * table; such a vector is empty and stands for its first (or an empty) chunk.
 */
function asData(child: Data | Vector): Data {
  if (!isVector(child)) return child;
  return child.data[0] ?? arrow().makeData({ type: child.type, length: 0 } as never);
}

/** A Vector (a list of Data chunks) rather than a Data node, whichever apache-arrow copy made it. */
const isVector = (child: Data | Vector): child is Vector => Array.isArray((child as Vector).data);

/** Describes a table's memory; column buffers not in shared memory are queued for copying in `table`. */
export function encodeFrame(value: Table, buffers: BufferTable): FrameRef {
  return { schema: encodeSchema(value.schema), batches: value.batches.map((batch) => encodeData(batch.data, buffers)) };
}

function decodeData(node: DataNodeRef, type: DataType, buffers: readonly ArrayBufferLike[]): Data {
  const { Data, Vector } = arrow();
  const view = (ref: ViewRef | undefined) => (ref === undefined ? undefined : openView(buffers, ref));
  const children = node.children.map((child, i) => {
    const childType = type.children[i]?.type;
    if (childType === undefined) throw new Error(`Malformed frame: no type for child ${i} of ${String(type)}`);
    return decodeData(child, childType, buffers);
  });
  let dictionary: Vector | undefined;
  if (node.dictionary.length > 0) {
    const valueType = (type as DataType & { dictionary?: DataType }).dictionary;
    if (valueType === undefined) throw new Error(`Malformed frame: dictionary data for ${String(type)}`);
    dictionary = new Vector(node.dictionary.map((chunk) => decodeData(chunk, valueType, buffers)));
  }
  const bufferList = [view(node.valueOffsets), view(node.values), view(node.nullBitmap), view(node.typeIds)];
  const variadic = node.variadic.map((ref) => openView(buffers, ref) as Uint8Array);
  return new Data(type, node.offset, node.length, node.nullCount, bufferList as never, children, dictionary, variadic);
}

/** Rebuilds a table over the referenced memory. Nothing is copied. */
export function decodeFrame(frame: FrameRef, buffers: readonly ArrayBufferLike[]): Table {
  const arrowModule = arrow();
  const schema = decodeSchema(frame.schema);
  const structType = new arrowModule.Struct(schema.fields);
  const batches = frame.batches.map(
    (node) => new arrowModule.RecordBatch(schema, decodeData(node, structType, buffers) as Data<Struct>),
  );
  return new arrowModule.Table(schema, batches);
}

type Share = (view: ArrayBufferView | undefined | null) => ArrayBufferView | undefined;

/**
 * A copy of a Data node with its buffers passed through `share`, built with the node's own classes (so with
 * whichever apache-arrow copy made it, loaded by toolbridge or not). Children that are empty Vectors (the
 * batch of an empty table) hold no buffers and are kept.
 */
function rebuildData(data: Data, share: Share): Data {
  const DataClass = data.constructor as typeof Data;
  const children = (data.children ?? []).map((child: Data | Vector) =>
    isVector(child) ? child : rebuildData(child, share),
  );
  let dictionary: Vector | undefined;
  if (data.dictionary) {
    // The dictionary may be a subclass (apache-arrow memoizes dictionaries): build the root class, Vector.
    let VectorClass = data.dictionary.constructor as typeof Vector;
    while (Object.getPrototypeOf(VectorClass) !== Function.prototype) VectorClass = Object.getPrototypeOf(VectorClass);
    dictionary = new VectorClass(data.dictionary.data.map((chunk) => rebuildData(chunk, share)));
  }
  const bufferList = [share(data.valueOffsets), share(data.values), share(data.nullBitmap), share(data.typeIds)];
  const variadic = (data.variadicBuffers ?? []).map((view) => share(view));
  return new DataClass(
    data.type,
    data.offset,
    data.length,
    data.nullCount,
    bufferList as never,
    children as Data[],
    dictionary,
    variadic as never,
  );
}

/**
 * The same table with every column buffer in shared memory (`copyAll`: every buffer copied into new shared
 * memory; else buffers already shared are kept and the others copied once). Uses the table's own classes:
 * it works in a thread where toolbridge has not loaded apache-arrow, and never loads it.
 */
export function shareTable(value: Table, { copyAll = false } = {}): { table: Table; copiedBytes: number } {
  const buffers = new BufferTable({ copyAll });
  const refs: ViewRef[] = [];
  const collect: Share = (view) => {
    if (view === undefined || view === null) return undefined;
    refs.push(buffers.ref(view));
    return view;
  };
  for (const batch of value.batches) rebuildData(batch.data, collect);
  buffers.flush();
  let next = 0;
  const open: Share = (view) =>
    view === undefined || view === null ? undefined : openView(buffers.buffers, refs[next++]!);
  const TableClass = value.constructor as new (schema: Schema, batches: unknown[]) => Table;
  const batches = value.batches.map((batch) => {
    const BatchClass = batch.constructor as new (schema: Schema, data: Data) => unknown;
    return new BatchClass(value.schema, rebuildData(batch.data, open));
  });
  return { table: new TableClass(value.schema, batches), copiedBytes: buffers.copiedBytes };
}
