/**
 * safetensors <-> Tensors. Files are read tensor by tensor at their offsets (never the whole file
 * at once, so multi-GB checkpoints load), after the header has been validated in full
 * (safetensors_format.ts). Writes go to a temporary name and are renamed at the end.
 */
import { promises as fsp } from 'node:fs';
import { resolveDevice, type Device } from './backend';
import { dtypeSize, isFloatDType, type DType } from './dtype';
import { DitError } from './errors';
import { parseSafetensorsLayout, setOwn, writeSafetensorsFile, type RawTensor, type SafetensorsDType, type SafetensorsLayout } from './safetensors_format';
import { describe, optionsArg } from './args';
import { Tensor } from './tensor';

export interface ReadSafetensorsOptions {
  device?: Device | 'auto';
  /** convert floating tensors to this dtype (integer tensors keep theirs) */
  dtype?: 'f32' | 'f16' | 'bf16';
  /** load only the tensors whose name passes (the header is still validated whole) */
  filter?: (name: string) => boolean;
}

export interface SafetensorsHeader {
  tensors: Map<string, { dtype: SafetensorsDType; shape: number[] }>;
  metadata: Record<string, string>;
}

/**
 * Reads bytes.length bytes at `position`: in pieces of at most 1 GiB (one read() returns at most
 * 2 GiB - 4 KiB on Linux, and Node asserts on lengths past 2^31), until all have arrived.
 */
async function readFully(fh: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesRead } = await fh.read(bytes, done, Math.min(bytes.length - done, 2 ** 30), position + done);
    if (bytesRead === 0) throw new Error(`the file ended ${bytes.length - done} bytes early`);
    done += bytesRead;
  }
}

async function openLayout(path: string): Promise<{ fh: fsp.FileHandle; layout: SafetensorsLayout }> {
  if (typeof path !== 'string' || path === '') throw new TypeError(`Expected a file path for path but received ${String(path)}`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    throw new DitError('ERR_DIT_FILE', `cannot read safetensors file "${path}": ${(e as Error).message}`, { cause: e });
  }
  try {
    const { size } = await fh.stat();
    const prefix = new Uint8Array(Math.min(size, 8));
    await readFully(fh, prefix, 0);
    let head = prefix;
    if (size >= 8) {
      const n = Number(new DataView(prefix.buffer).getBigUint64(0, true));
      const want = Math.min(size, 8 + Math.min(n, 100_000_001));
      head = new Uint8Array(want);
      await readFully(fh, head, 0);
    }
    return { fh, layout: parseSafetensorsLayout(head, size, path) };
  } catch (e) {
    await fh.close();
    if (e instanceof DitError) throw e;
    throw new DitError('ERR_DIT_FILE', `cannot read safetensors file "${path}": ${(e as Error).message}`, { cause: e });
  }
}

/**
 * An open safetensors file whose header has been validated: tensors are read one at a time, on
 * request (for loading a model tensor by tensor without holding the whole file).
 */
export class SafetensorsReader {
  readonly tensors: Map<string, { dtype: SafetensorsDType; shape: number[] }>;
  readonly metadata: Record<string, string>;
  #fh: fsp.FileHandle | null;
  #layout: SafetensorsLayout;
  #entries: Map<string, SafetensorsLayout['entries'][number]>;
  #path: string;
  /**
   * the bytes of the last read, reused by the next (a model load reads gigabytes: fresh pages each
   * time cost faults); held, as large as the largest tensor read so far, until close()
   */
  #staging: Uint8Array | null = null;
  #stagingBusy = false;

  private constructor(path: string, fh: fsp.FileHandle, layout: SafetensorsLayout) {
    this.#path = path;
    this.#fh = fh;
    this.#layout = layout;
    this.#entries = new Map(layout.entries.map((e) => [e.name, e]));
    this.tensors = new Map(layout.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape }]));
    this.metadata = layout.metadata;
  }

  static async open(path: string): Promise<SafetensorsReader> {
    const { fh, layout } = await openLayout(path);
    return new SafetensorsReader(path, fh, layout);
  }

  /**
   * One tensor, on `device`; floating tensors converted to `dtype` when given (every dtype as well
   * with `convertAll`, for model weights, which are all floating point).
   */
  async read(name: string, options: Pick<ReadSafetensorsOptions, 'device' | 'dtype'> & { convertAll?: boolean } = {}): Promise<Tensor> {
    const e = this.#entries.get(name);
    if (!e) throw new DitError('ERR_DIT_WEIGHTS', `safetensors file "${this.#path}" has no tensor "${name}"`);
    if (!this.#fh) throw new DitError('ERR_DIT_FILE', `safetensors file "${this.#path}" was closed`);
    const size = e.end - e.begin;
    // the staging bytes unless another read is using them (reads may overlap): the upload copies
    // out of them before this read returns
    const shared = !this.#stagingBusy;
    let bytes: Uint8Array;
    try {
      if (shared && this.#staging && this.#staging.byteLength >= size) bytes = this.#staging.subarray(0, size);
      else {
        bytes = new Uint8Array(size);
        if (shared) this.#staging = bytes;
      }
    } catch (err) {
      throw new DitError('ERR_DIT_OOM', `safetensors file "${this.#path}": tensor "${name}" (${size} bytes) is too large to read: ${(err as Error).message}`, { cause: err });
    }
    if (shared) this.#stagingBusy = true;
    try {
      try {
        await readFully(this.#fh, bytes, this.#layout.dataStart + e.begin);
      } catch (err) {
        throw new DitError('ERR_DIT_FILE', `cannot read safetensors file "${this.#path}": ${(err as Error).message}`, { cause: err });
      }
      const { data, dtype } = decode(e.name, e.dtype, bytes, this.#path);
      const target = options.dtype && (isFloatDType(dtype) || options.convertAll) ? options.dtype : dtype;
      // the file's dtype is the source dtype of the upload, which converts (raw f16/bf16 bits too)
      const t = Tensor.empty(e.shape, { device: options.device, dtype: target });
      if (t.numel > 0) t.backend.upload(t, data, dtype);
      return t;
    } finally {
      if (shared) this.#stagingBusy = false;
    }
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    this.#staging = null;
    await fh?.close();
  }
}

/** Names, dtypes and shapes of a file's tensors and its metadata, validated, without reading the data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const { fh, layout } = await openLayout(path);
  await fh.close();
  return { tensors: new Map(layout.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape }])), metadata: layout.metadata };
}

const TO_SAFETENSORS: Record<DType, SafetensorsDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', i32: 'I32', i64: 'I64' };

/** Host typed array and our dtype for the bytes of one safetensors tensor (a view of them, or a copy where they are not 8-byte aligned). */
function decode(name: string, dtype: SafetensorsDType, bytes: Uint8Array, path: string): { data: ArrayBufferView; dtype: DType } {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const view = <A>(Array: new (buffer: ArrayBuffer, byteOffset: number, length: number) => A, size: number): A =>
    new Array(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / size);
  switch (dtype) {
    case 'F32': return { data: view(Float32Array, 4), dtype: 'f32' };
    case 'F16': return { data: view(Uint16Array, 2), dtype: 'f16' };
    case 'BF16': return { data: view(Uint16Array, 2), dtype: 'bf16' };
    case 'I32': return { data: view(Int32Array, 4), dtype: 'i32' };
    case 'I64': return { data: view(BigInt64Array, 8), dtype: 'i64' };
    case 'F64': return { data: Float32Array.from(view(Float64Array, 8)), dtype: 'f32' };
    case 'U8': case 'BOOL': return { data: Int32Array.from(aligned), dtype: 'i32' };
    case 'I8': return { data: Int32Array.from(view(Int8Array, 1)), dtype: 'i32' };
    case 'I16': return { data: Int32Array.from(view(Int16Array, 2)), dtype: 'i32' };
    case 'U16': return { data: Int32Array.from(view(Uint16Array, 2)), dtype: 'i32' };
    default:
      throw new DitError('ERR_DIT_UNSUPPORTED', `safetensors file "${path}": tensor "${name}" has dtype ${dtype}, which dit-native cannot load`);
  }
}

export async function readSafetensorsWithMetadata(
  path: string,
  opts?: ReadSafetensorsOptions,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const options = optionsArg('readSafetensors', opts, ['device', 'dtype', 'filter']);
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    throw new TypeError(`Expected options.filter to be a function of the tensor name but received ${describe(options.filter)}`);
  }
  if (options.dtype !== undefined && !isFloatDType(options.dtype)) {
    throw new TypeError(`Expected options.dtype to be one of 'f32', 'f16', 'bf16' but received ${String(options.dtype)}`);
  }
  resolveDevice(options.device);  // a bad device name fails before the file is read
  const reader = await SafetensorsReader.open(path);
  const tensors: Record<string, Tensor> = {};
  try {
    for (const name of reader.tensors.keys()) {
      if (options.filter && !options.filter(name)) continue;
      setOwn(tensors, name, await reader.read(name, options));  // a tensor may be called "__proto__"
    }
    return { tensors, metadata: reader.metadata };
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  } finally {
    await reader.close();
  }
}

/** All tensors of a safetensors file, by name, on `device`. */
export async function readSafetensors(path: string, options?: ReadSafetensorsOptions): Promise<Record<string, Tensor>> {
  return (await readSafetensorsWithMetadata(path, options)).tensors;
}

/** The raw little-endian bytes of a tensor, after the work queued on it. */
export async function tensorBytes(t: Tensor): Promise<Uint8Array> {
  const n = t.numel;
  const dst =
    t.dtype === 'f32' ? new Float32Array(n) : t.dtype === 'i32' ? new Int32Array(n) : t.dtype === 'i64' ? new BigInt64Array(n) : new Uint16Array(n);
  await t.backend.download(t, dst, t.dtype);
  return new Uint8Array(dst.buffer, 0, n * dtypeSize(t.dtype));
}

/** Writes tensors (any device) under their names; never leaves a partial file at `path`. */
export async function writeSafetensors(path: string, tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new TypeError(`Expected a file path for path but received ${String(path)}`);
  // a Map's entries are not own properties (Object.entries would see none and write an empty file);
  // an array's would be named '0', '1', ...
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors) || ArrayBuffer.isView(tensors) || tensors instanceof Tensor) {
    throw new TypeError(`Expected tensors to be a record (or Map) of name -> Tensor but received ${describe(tensors)}`);
  }
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (typeof name !== 'string') throw new TypeError(`Expected the tensors' names to be strings but received ${describe(name)}`);
    if (!(t instanceof Tensor)) throw new TypeError(`Expected tensors["${name}"] to be a Tensor`);
    t.assertAlive(`tensors["${name}"]`);
  }
  // views hold each tensor's storage, so the caller may dispose the tensors once this returns (as
  // with ops); the reads then run one at a time (on CUDA each takes a pinned staging buffer)
  const views = entries.map(([, t]) => t.reshape(t.shape));
  const raw: Record<string, RawTensor> = {};
  try {
    for (let i = 0; i < entries.length; i++) {
      const [name, t] = entries[i];
      setOwn(raw, name, { dtype: TO_SAFETENSORS[t.dtype], shape: [...t.shape], data: await tensorBytes(views[i]) });
      views[i].dispose();
    }
  } finally {
    for (const v of views) v.dispose();
  }
  await writeSafetensorsFile(path, raw, metadata);
}
