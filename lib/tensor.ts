/// <reference lib="esnext.disposable" preserve="true" />
/**
 * Tensor: a contiguous, row-major block of elements on a device. Several Tensor objects may share
 * one storage (reshape, views); the storage is released when the last of them is disposed, or by
 * the garbage collector as a safety net.
 */
import type { NativeBuffer } from '../binding';
import { getBackend, resolveDevice, type Backend, type Device } from './backend';
import { dtypeSize, isDType, type DType } from './dtype';
import { describe, optionsArg } from './args';
import { DitError } from './errors';

export { describe };

export type TensorData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | number[];

class Storage {
  refs = 1;
  constructor(readonly buffer: NativeBuffer, readonly backend: Backend) {}
  release(): void {
    if (--this.refs === 0) this.buffer.free();
  }
}

export interface TensorOptions {
  device?: Device | 'auto';
  dtype?: DType;
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: unknown, name = 'shape'): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`Expected an array of non-negative integers for ${name} but received ${describe(shape)}`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TypeError(`Expected an array of non-negative integers for ${name} but received [${shape.join(', ')}]`);
    }
  }
  return [...shape];
}

/** Larger sizes cannot be real allocations (and lose integer precision as numbers). */
export const MAX_TENSOR_BYTES = 2 ** 52;

/** The dtype a typed array holds when none is given (Uint16Array needs an explicit f16/bf16). */
function inferDType(data: TensorData): DType {
  if (data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data)) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof BigInt64Array) return 'i64';
  if (data instanceof Uint16Array) throw new TypeError('Expected dtype f16 or bf16 for a Uint16Array (raw half-precision bits) but received none');
  return 'f32';  // any other type of data is refused by hostView, naming it
}

/** Host data as a typed array of srcDtype that the native upload understands. */
/** Refuses values that are not integers in [lo, hi] for an integer dtype (NaN or 1.5 is an error, not INT_MIN or 1). */
function checkIntegers(values: Iterable<number>, dtype: DType, lo: number, hi: number): void {
  for (const v of values) if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`Expected integers that fit ${dtype} in data but received ${v}`);
}

function hostView(input: TensorData, dtype: DType): { view: ArrayBufferView; srcDtype: DType } {
  // N-API cannot hand native code a SharedArrayBuffer's memory: such data is copied first
  const data = ArrayBuffer.isView(input) && typeof SharedArrayBuffer !== 'undefined' && input.buffer instanceof SharedArrayBuffer
    ? (input.slice() as TensorData) : input;
  // doubles to integers exactly and checked, as numbers are (never through f32, which rounds 2^24 + 1)
  const doublesToIntegers = data instanceof Float64Array && (dtype === 'i32' || dtype === 'i64');
  if (Array.isArray(data) || doublesToIntegers) {
    const values = data as number[] | Float64Array;
    if (Array.isArray(values)) for (const v of values) if (typeof v !== 'number') throw new TypeError(`Expected an array of numbers for data but received a ${typeof v} element`);
    if (dtype === 'i32' || dtype === 'i64') {
      // numbers become i64 through BigInt: exact only up to 2^53
      if (dtype === 'i32') checkIntegers(values, dtype, -(2 ** 31), 2 ** 31 - 1);
      else checkIntegers(values, dtype, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      return dtype === 'i32' ? { view: Int32Array.from(values), srcDtype: 'i32' } : { view: BigInt64Array.from(values, (v) => BigInt(v)), srcDtype: 'i64' };
    }
    return { view: Float32Array.from(values), srcDtype: 'f32' };
  }
  if (data instanceof Float64Array) return { view: Float32Array.from(data), srcDtype: 'f32' };
  if (data instanceof Float32Array) {
    // floats to integers checked as numbers are, then converted natively (exact: every
    // integer-valued f32 in range is an i32 or i64; 2^63 itself is not, the largest below it is)
    if (dtype === 'i32') checkIntegers(data, dtype, -(2 ** 31), 2 ** 31 - 1);
    if (dtype === 'i64') checkIntegers(data, dtype, -(2 ** 63), 2 ** 63 - 2 ** 39);
    return { view: data, srcDtype: 'f32' };
  }
  if (data instanceof Int32Array) return { view: data, srcDtype: 'i32' };
  if (data instanceof BigInt64Array) return { view: data, srcDtype: 'i64' };
  if (data instanceof Uint16Array) {
    if (dtype !== 'f16' && dtype !== 'bf16') throw new TypeError(`Expected dtype f16 or bf16 for a Uint16Array but received ${dtype}`);
    return { view: data, srcDtype: dtype };
  }
  throw new TypeError(`Expected a Float32Array, Float64Array, Uint16Array, Int32Array, BigInt64Array or number[] for data but received ${describe(data)}`);
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  /** @internal element offset into the storage */
  readonly offset: number;
  #storage: Storage;
  #disposed = false;

  private constructor(storage: Storage, shape: readonly number[], dtype: DType, offset: number) {
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = storage.backend.device;
    this.offset = offset;
  }

  /** Copies host data to a new tensor; converts to `dtype` (default: the data's own type). */
  static from(data: TensorData, shape: readonly number[], opts?: TensorOptions): Tensor {
    const options = optionsArg('Tensor.from', opts, ['device', 'dtype']);
    const s = checkShape(shape);
    if (options.dtype !== undefined && !isDType(options.dtype)) {
      throw new TypeError(`Expected dtype to be one of f32, f16, bf16, i32, i64 but received ${describe(options.dtype)}`);
    }
    const dtype = options.dtype ?? inferDType(data);
    const { view, srcDtype } = hostView(data, dtype);
    const n = numelOf(s);
    const length = (view as Float32Array).length;
    if (length !== n) {
      throw new RangeError(`Expected ${n} elements for shape [${s.join(', ')}] but received ${length}`);
    }
    const t = Tensor.empty(s, { device: options.device, dtype });
    t.backend.upload(t, view, srcDtype);
    return t;
  }

  /** A new tensor with uninitialised contents. */
  static empty(shape: readonly number[], opts?: TensorOptions): Tensor {
    const options = optionsArg('Tensor.empty', opts, ['device', 'dtype']);
    const s = checkShape(shape);
    const dtype = options.dtype ?? 'f32';
    if (!isDType(dtype)) throw new TypeError(`Expected dtype to be one of f32, f16, bf16, i32, i64 but received ${describe(dtype)}`);
    const device = resolveDevice(options.device);
    const bytes = numelOf(s) * dtypeSize(dtype);
    if (bytes > MAX_TENSOR_BYTES) {
      throw new RangeError(`Expected a tensor of at most 2^52 bytes but shape [${s.join(', ')}] of ${dtype} needs ${bytes.toExponential(3)} bytes`);
    }
    const backend = getBackend(device);
    const buffer = backend.alloc(bytes);
    return new Tensor(new Storage(buffer, backend), s, dtype, 0);
  }

  static zeros(shape: readonly number[], opts?: TensorOptions): Tensor {
    const options = optionsArg('Tensor.zeros', opts, ['device', 'dtype']);
    const s = checkShape(shape);
    return Tensor.from(new Float32Array(numelOf(s)), s, { ...options, dtype: options.dtype ?? 'f32' });
  }

  get numel(): number {
    return numelOf(this.shape);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal */
  get backend(): Backend {
    return this.#storage.backend;
  }

  /** @internal the native buffer; throws once disposed */
  get storageBuffer(): NativeBuffer {
    this.assertAlive();
    return this.#storage.buffer;
  }

  assertAlive(name = 'tensor'): void {
    if (this.#disposed) throw new DitError('ERR_DIT_DISPOSED', `Expected ${name} to be a live Tensor but it was disposed`);
  }

  /** A tensor sharing this one's storage, `offset` elements in, with `shape` (internal views). */
  view(offset: number, shape: readonly number[]): Tensor {
    this.assertAlive();
    const s = checkShape(shape);
    if (!Number.isSafeInteger(offset) || offset < 0 || this.offset + offset + numelOf(s) > this.offset + this.numel) {
      throw new RangeError(`view of [${s.join(', ')}] at offset ${offset} does not fit in a tensor of ${this.numel} elements`);
    }
    this.#storage.refs++;
    return new Tensor(this.#storage, s, this.dtype, this.offset + offset);
  }

  /** Same data, another shape with the same number of elements (shares storage). */
  reshape(shape: readonly number[]): Tensor {
    const s = checkShape(shape);
    if (numelOf(s) !== this.numel) {
      throw new RangeError(`Expected a shape with ${this.numel} elements for reshape but received [${s.join(', ')}]`);
    }
    return this.view(0, s);
  }

  /** All elements as f32 (integers converted), once the work queued on this tensor has run. */
  async toFloat32Array(): Promise<Float32Array> {
    this.assertAlive();
    const out = new Float32Array(this.numel);
    await this.backend.download(this, out, 'f32');
    return out;
  }

  /** Integer tensors as Int32Array (values outside int32 wrap), after queued work. */
  async toInt32Array(): Promise<Int32Array> {
    this.assertAlive();
    const out = new Int32Array(this.numel);
    await this.backend.download(this, out, 'i32');
    return out;
  }

  /** A copy on another device and/or in another dtype. */
  to(target: Device | { device?: Device; dtype?: DType }): Tensor {
    this.assertAlive();
    if (target === undefined) throw new TypeError("Expected a device ('cpu' or 'cuda') or { device, dtype } for Tensor.to but received undefined");
    const opts = typeof target === 'string' ? { device: target } : optionsArg('Tensor.to', target, ['device', 'dtype']);
    const device = opts.device ?? this.device;
    const dtype = opts.dtype ?? this.dtype;
    if (!isDType(dtype)) throw new TypeError(`Expected dtype to be one of f32, f16, bf16, i32, i64 but received ${describe(dtype)}`);
    if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`Expected device 'cpu' or 'cuda' but received ${describe(device)}`);
    if (device !== this.device) {
      // move first (raw bytes), then convert on the target device
      const moved = Tensor.empty(this.shape, { device, dtype: this.dtype });
      getBackend(device).copy(moved, this);
      if (dtype === this.dtype) return moved;
      const out = moved.to({ dtype });
      moved.dispose();
      return out;
    }
    const out = Tensor.empty(this.shape, { device, dtype });
    this.backend.cast({ srcDtype: this.dtype, dstDtype: dtype, count: this.numel, src: this, dst: out });
    return out;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#storage.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device}${this.#disposed ? ', disposed' : ''})`;
  }
}
