/**
 * Datasets the `toolbridge mcp` command loads from files (`--dataset name=path`), into shared memory so that
 * tools get them without a copy: Arrow IPC (`.arrow`, `.arrows`, `.feather`) as a table, NumPy `.npy` and raw
 * little-endian arrays (`.f32`, `.f64`, `.i32`, ...) as a flat typed array, `.json` as its value.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { InvalidOptionsError } from '../errors.js';
import { shared, toShared, type TypedArrayConstructor } from '../tool/shared.js';

const RAW: Record<string, TypedArrayConstructor> = {
  '.f32': Float32Array,
  '.f64': Float64Array,
  '.i8': Int8Array,
  '.u8': Uint8Array,
  '.i16': Int16Array,
  '.u16': Uint16Array,
  '.i32': Int32Array,
  '.u32': Uint32Array,
  '.i64': BigInt64Array,
  '.u64': BigUint64Array,
};

/** NumPy dtypes (little-endian or byte-sized) -> typed arrays. */
const NPY: Record<string, TypedArrayConstructor> = {
  '<f4': Float32Array,
  '<f8': Float64Array,
  '|i1': Int8Array,
  '|u1': Uint8Array,
  '<i2': Int16Array,
  '<u2': Uint16Array,
  '<i4': Int32Array,
  '<u4': Uint32Array,
  '<i8': BigInt64Array,
  '<u8': BigUint64Array,
};

/** Reads one dataset file. */
export async function loadDataset(path: string): Promise<unknown> {
  const extension = extname(path).toLowerCase();
  const bytes = await readFile(path);
  if (extension === '.json') return JSON.parse(bytes.toString('utf8')) as unknown;
  if (extension === '.arrow' || extension === '.arrows' || extension === '.feather') {
    const { tableFromIPC } = await import('apache-arrow');
    return toShared(tableFromIPC(bytes));
  }
  if (extension === '.npy') return fromNpy(bytes, path);
  const Ctor = RAW[extension];
  if (Ctor === undefined) {
    throw new InvalidOptionsError(
      `--dataset ${path}: unknown file type ${JSON.stringify(extension)} (known: .arrow, .arrows, .feather, .npy, .json, ${Object.keys(RAW).join(', ')})`,
    );
  }
  return copyInto(Ctor, bytes, 0, path);
}

/** A flat typed array over shared memory from `bytes` (whose length must be a whole number of elements). */
function copyInto(Ctor: TypedArrayConstructor, bytes: Uint8Array, offset: number, path: string) {
  const size = Ctor.BYTES_PER_ELEMENT;
  const length = (bytes.byteLength - offset) / size;
  if (!Number.isInteger(length)) {
    throw new InvalidOptionsError(
      `--dataset ${path}: ${bytes.byteLength - offset} bytes are not ${Ctor.name} elements`,
    );
  }
  const out = shared(Ctor, length);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(offset));
  return out;
}

/** A NumPy `.npy` array (format 1.0 to 3.0, C order), flattened. */
function fromNpy(bytes: Uint8Array, path: string) {
  const magic = Buffer.from(bytes.subarray(0, 6)).toString('latin1');
  if (magic !== '\x93NUMPY') throw new InvalidOptionsError(`--dataset ${path}: not a .npy file`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = Buffer.from(bytes.subarray(start, start + headerLength)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const Ctor = descr === undefined ? undefined : NPY[descr];
  if (Ctor === undefined || fortran) {
    throw new InvalidOptionsError(
      `--dataset ${path}: a .npy of ${fortran ? 'Fortran order' : `dtype ${descr}`} is not supported (C order, ${Object.keys(NPY).join(', ')})`,
    );
  }
  return copyInto(Ctor, bytes, start + headerLength, path);
}
