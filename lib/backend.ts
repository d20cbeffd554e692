/**
 * Backend: what the model code (lib/dit/) is written against. One method per op plus memory and
 * stream control; implementations enqueue work in order on their device and only `download` and
 * `sync` wait. NativeBackend serves both devices: the addon dispatches on the buffers' device.
 */
import { loadAddon, type NativeAddon, type NativeBuffer, type OpArgs } from '../binding';
import { dtypeCode, dtypeSize, type DType } from './dtype';
import { DitError } from './errors';
import { Tensor } from './tensor';

export type Device = 'cpu' | 'cuda';
export type Activation = 'none' | 'gelu_tanh' | 'silu' | 'gelu';
const ACTIVATION_CODES: Record<Activation, number> = { none: 0, gelu_tanh: 1, silu: 2, gelu: 3 };

/** Fields named `<t>Offset` are element offsets into tensor field `<t>` (for views into a larger buffer). */
export interface LinearCall {
  dtype: DType; M: number; N: number; K: number;
  a: Tensor; aOffset?: number; lda: number;
  /** may be null when wPacked is given */
  w: Tensor | null; ldw: number;
  c: Tensor; ldc: number;
  bias?: Tensor | null;
  activation: Activation;
  /** gated residual epilogue: c = residual + gate[m / rowsPerGate] * (...) */
  gate?: Tensor | null; gateOffset?: number; gateStride?: number; rowsPerGate?: number;
  residual?: Tensor | null;
  /** W already packed by prepareLinearWeight (CPU); null or absent: W is read as it is */
  wPacked?: Tensor | null;
}
export interface LayerNormModulateCall {
  dtype: DType; B: number; N: number; D: number; eps: number;
  x: Tensor; out: Tensor;
  shift: Tensor; shiftOffset?: number; scale: Tensor; scaleOffset?: number; modStride: number;
}
export interface GatedResidualCall {
  dtype: DType; B: number; N: number; D: number;
  x: Tensor; y: Tensor; out: Tensor; gate: Tensor; gateOffset?: number; gateStride: number;
}
export interface AttentionCall {
  dtype: DType; B: number; H: number; N: number; M: number; Dh: number; scale: number;
  q: Tensor; qOffset?: number; qSb: number; qSh: number; qSn: number;
  k: Tensor; kOffset?: number; kSb: number; kSh: number; kSn: number;
  v: Tensor; vOffset?: number; vSb: number; vSh: number; vSn: number;
  o: Tensor; oSb: number; oSh: number; oSn: number;
}
export interface Conv3dCall {
  dtype: DType; B: number; Cin: number; T: number; H: number; W: number;
  Cout: number; kt: number; kh: number; kw: number;
  st: number; sh: number; sw: number; dt: number; dh: number; dw: number;
  padTFront: number; padTBack: number; padH: number; padW: number; replicateTime: boolean;
  To: number; Ho: number; Wo: number;
  x: Tensor; weight: Tensor; bias?: Tensor | null; out: Tensor;
}
export interface PatchEmbedCall {
  dtype: DType; B: number; C: number; T: number; H: number; W: number; D: number; pt: number; ph: number; pw: number;
  x: Tensor; weight: Tensor; bias?: Tensor | null; out: Tensor;
}
export interface TimestepEmbeddingCall { dtype: DType; B: number; dim: number; maxPeriod: number; t: Tensor; out: Tensor }
export interface ActivationCall { dtype: DType; count: number; activation: Activation; x: Tensor; out: Tensor }
export interface AddRowsCall { dtype: DType; rows: number; D: number; addRows: number; addRepeat: number; x: Tensor; add: Tensor; out: Tensor }
export interface UnpatchifyCall {
  dtype: DType; B: number; t: number; h: number; w: number; pt: number; ph: number; pw: number; C: number; x: Tensor; out: Tensor;
}
export interface EmbeddingCall { dtype: DType; B: number; D: number; rows: number; ids: Tensor; table: Tensor; out: Tensor }
export interface CfgCombineCall {
  dtype: DType; B: number; C: number; S: number; guided: number; scale: number;
  cond: Tensor; condOffset?: number; uncond: Tensor; uncondOffset?: number; out: Tensor;
}
export interface CastCall { srcDtype: DType; dstDtype: DType; count: number; src: Tensor; dst: Tensor }

/** GPU-side timing for the bench: CUDA events on the backend's stream. */
export interface GpuTimer {
  /** an event recorded on the stream now */
  record(): number;
  /** GPU milliseconds between two recorded events (waits for `end`; releases both) */
  elapsedMs(start: number, end: number): number;
  /** occupies the stream for this long, so the host can queue a sample behind it */
  busyWait(microseconds: number): void;
}

export interface Backend {
  readonly device: Device;
  /** CUDA only */
  readonly gpuTimer?: GpuTimer;
  alloc(bytes: number): NativeBuffer;
  /** Copies host data into a freshly allocated tensor, converting srcDtype -> dst.dtype. */
  upload(dst: Tensor, src: ArrayBufferView, srcDtype: DType): void;
  /** Reads a tensor after the work queued before this call, converting to dstDtype. */
  download(src: Tensor, dst: ArrayBufferView, dstDtype: DType): Promise<void>;
  /** Resolves when the work queued so far has run: on `stream` (CUDA), else everywhere. */
  sync(stream?: number): Promise<void>;
  /**
   * A stream of its own for a model's work, so models run side by side on a GPU (CUDA; the CPU
   * has one queue, and this returns its id, 0). Destroy it when done.
   */
  createStream(): number;
  /** Waits for the stream's queued work, then releases it. */
  destroyStream(stream: number): void;
  /**
   * Runs fn, which must not await, with `stream` as the stream of every allocation, copy and op
   * it issues; that work comes after everything queued before on the default stream.
   */
  onStream<R>(stream: number, fn: () => R): R;
  /** Raw copy of src's elements into dst (same dtype and size; the devices may differ). */
  copy(dst: Tensor, src: Tensor): void;
  linear(c: LinearCall): void;
  layerNormModulate(c: LayerNormModulateCall): void;
  gatedResidual(c: GatedResidualCall): void;
  attention(c: AttentionCall): void;
  conv3d(c: Conv3dCall): void;
  patchEmbed3d(c: PatchEmbedCall): void;
  timestepEmbedding(c: TimestepEmbeddingCall): void;
  activation(c: ActivationCall): void;
  addRows(c: AddRowsCall): void;
  unpatchify(c: UnpatchifyCall): void;
  embedding(c: EmbeddingCall): void;
  cfgCombine(c: CfgCombineCall): void;
  cast(c: CastCall): void;
  /**
   * A form of a linear weight [N, K] that this backend's GEMM reads faster (the CPU packs it into
   * its panel layout once instead of on every call), or null when the backend uses W as it is.
   * Pass it as `wPacked`; W itself is then not read and may be released.
   */
  prepareLinearWeight(w: Tensor): Tensor | null;
}

const DEVICE_CODES: Record<Device, number> = { cpu: 0, cuda: 1 };

/** Turns native errors (plain Errors with a `code`) into DitErrors. */
export function rethrowNative(e: unknown): never {
  if (e instanceof DitError) throw e;
  const err = e as { code?: string; message?: string };
  const code = err?.code;
  if (code === 'ERR_DIT_OOM' || code === 'ERR_DIT_DISPOSED' || code === 'ERR_DIT_CUDA_UNAVAILABLE') {
    throw new DitError(code, String(err.message), { cause: e });
  }
  throw new DitError('ERR_DIT_NATIVE', String(err?.message ?? e), { cause: e });
}

/** `<key>Offset` for each tensor field name, built once per name (marshal runs for every op). */
const OFFSET_KEYS = new Map<string, string>();
function offsetKey(key: string): string {
  let k = OFFSET_KEYS.get(key);
  if (k === undefined) OFFSET_KEYS.set(key, (k = `${key}Offset`));
  return k;
}

/**
 * Converts a call object into the addon's argument object: tensors become buffer + byte offset.
 * On every op's path, so written for speed: no entries array, no per-call key strings.
 */
function marshal(call: object): OpArgs {
  const args: OpArgs = {};
  const fields = call as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (value instanceof Tensor) {
      const extra = fields[offsetKey(key)];
      args[key] = value.storageBuffer;
      args[offsetKey(key)] = (value.offset + (typeof extra === 'number' ? extra : 0)) * dtypeSize(value.dtype);
    } else if (key.endsWith('Offset')) {
      // folded into the byte offset of tensor field `<t>` above
    } else if (value === null || value === undefined) {
      args[key] = null;
    } else if (key === 'activation') {
      args[key] = ACTIVATION_CODES[value as Activation];
    } else if (key === 'dtype' || key === 'srcDtype' || key === 'dstDtype') {
      args[key] = dtypeCode(value as DType);
    } else {
      args[key] = value as number | boolean;
    }
  }
  return args;
}

class NativeBackend implements Backend {
  readonly gpuTimer?: GpuTimer;

  constructor(readonly device: Device, private readonly addon: NativeAddon) {
    if (device === 'cuda') {
      this.gpuTimer = {
        record: () => this.invoke(() => addon.cudaTimer()),
        elapsedMs: (start, end) => this.invoke(() => addon.cudaElapsed(start, end)),
        busyWait: (microseconds) => this.invoke(() => addon.cudaBusyWait(microseconds)),
      };
    }
  }

  alloc(bytes: number): NativeBuffer {
    return this.invoke(() => new this.addon.NativeBuffer(DEVICE_CODES[this.device], bytes));
  }

  upload(dst: Tensor, src: ArrayBufferView, srcDtype: DType): void {
    this.invoke(() =>
      this.addon.upload(dst.storageBuffer, dst.offset * dtypeSize(dst.dtype), src, dtypeCode(srcDtype), dtypeCode(dst.dtype), dst.numel),
    );
  }

  async download(src: Tensor, dst: ArrayBufferView, dstDtype: DType): Promise<void> {
    try {
      await this.addon.download(src.storageBuffer, src.offset * dtypeSize(src.dtype), dtypeCode(src.dtype), dst, dtypeCode(dstDtype), src.numel);
    } catch (e) {
      rethrowNative(e);
    }
  }

  async sync(stream?: number): Promise<void> {
    try {
      await this.addon.sync(DEVICE_CODES[this.device], stream);
    } catch (e) {
      rethrowNative(e);
    }
  }

  createStream(): number {
    return this.device === 'cuda' ? this.invoke(() => this.addon.cudaStreamCreate()) : 0;
  }

  destroyStream(stream: number): void {
    if (this.device === 'cuda') this.invoke(() => this.addon.cudaStreamDestroy(stream));
  }

  onStream<R>(stream: number, fn: () => R): R {
    if (this.device !== 'cuda' || stream === 0) return fn();
    const previous = this.invoke(() => this.addon.cudaSetStream(stream));
    try {
      this.invoke(() => this.addon.cudaWaitForStream(0));
      return fn();
    } finally {
      try {
        this.addon.cudaSetStream(previous);
      } catch {
        this.addon.cudaSetStream(0); // `previous` was destroyed inside fn; keep fn's own error
      }
    }
  }

  copy(dst: Tensor, src: Tensor): void {
    const size = dtypeSize(src.dtype);
    this.invoke(() => this.addon.copy(dst.storageBuffer, dst.offset * size, src.storageBuffer, src.offset * size, src.numel * size));
  }

  /** Calls into the addon; native errors come out as DitErrors. */
  private invoke<R>(fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      rethrowNative(e);
    }
  }

  linear(c: LinearCall): void { this.invoke(() => this.addon.linear(marshal(c))); }
  layerNormModulate(c: LayerNormModulateCall): void { this.invoke(() => this.addon.layerNormModulate(marshal(c))); }
  gatedResidual(c: GatedResidualCall): void { this.invoke(() => this.addon.gatedResidual(marshal(c))); }
  attention(c: AttentionCall): void { this.invoke(() => this.addon.attention(marshal(c))); }
  conv3d(c: Conv3dCall): void { this.invoke(() => this.addon.conv3d(marshal(c))); }
  patchEmbed3d(c: PatchEmbedCall): void { this.invoke(() => this.addon.patchEmbed3d(marshal(c))); }
  timestepEmbedding(c: TimestepEmbeddingCall): void { this.invoke(() => this.addon.timestepEmbedding(marshal(c))); }
  activation(c: ActivationCall): void { this.invoke(() => this.addon.activation(marshal(c))); }
  addRows(c: AddRowsCall): void { this.invoke(() => this.addon.addRows(marshal(c))); }
  unpatchify(c: UnpatchifyCall): void { this.invoke(() => this.addon.unpatchify(marshal(c))); }
  embedding(c: EmbeddingCall): void { this.invoke(() => this.addon.embedding(marshal(c))); }
  cfgCombine(c: CfgCombineCall): void { this.invoke(() => this.addon.cfgCombine(marshal(c))); }
  cast(c: CastCall): void { this.invoke(() => this.addon.cast(marshal(c))); }

  prepareLinearWeight(w: Tensor): Tensor | null {
    if (this.device !== 'cpu') return null;
    const [N, K] = w.shape;
    const packed = Tensor.empty([this.addon.packedWeightFloats(dtypeCode(w.dtype), N, K)], { device: 'cpu', dtype: 'f32' });
    this.invoke(() => this.addon.packLinearWeight(marshal({ dtype: w.dtype, N, K, w, out: packed })));
    return packed;
  }
}

const backends = new Map<Device, Backend>();

/** The backend of a device; CUDA needs a binary with CUDA and a GPU that answers. */
export function getBackend(device: Device): Backend {
  let b = backends.get(device);
  if (!b) {
    if (device === 'cuda') {
      const reason = cudaUnavailableReason();
      if (reason) throw new DitError('ERR_DIT_CUDA_UNAVAILABLE', `CUDA is not available: ${reason}`);
    }
    b = new NativeBackend(device, loadAddon());
    backends.set(device, b);
  }
  return b;
}

/** Why CUDA cannot be used here, or null when it can (cached: the probe runs once). */
export function cudaUnavailableReason(): string | null {
  const info = loadAddon().info().cuda;
  if (!info.compiled) return 'this dit-native binary was built without CUDA';
  if (info.error === 'cudaErrorInsufficientDriver') {
    return info.driverVersion === 0
      ? 'no NVIDIA driver was found (cudaErrorInsufficientDriver)'
      : `the NVIDIA driver (${info.driverVersion}) is older than the CUDA runtime (${info.runtimeVersion}) (cudaErrorInsufficientDriver)`;
  }
  if (info.error) return `${info.errorMessage ?? 'the CUDA runtime failed'} (${info.error})`;
  if (info.deviceCount === 0) return 'no CUDA device was found';
  const gpu = info.devices[0];
  const major = Number(gpu?.computeCapability.split('.')[0] ?? 0);
  // the kernels are built for sm_80 and newer (bf16 tensor cores); PTX cannot be JIT-compiled down
  if (major < 8) return `the GPU ${gpu?.name ?? '(unknown)'} has compute capability ${gpu?.computeCapability}; dit-native's CUDA kernels need 8.0 (Ampere) or newer`;
  return null;
}

/** The GPU the CUDA backend runs on (device 0), or undefined without one. */
export function cudaDevice(): { name: string; totalMemory: number } | undefined {
  return loadAddon().info().cuda.devices[0];
}

/**
 * Why 'auto' does not pick CUDA, or null when it does: CUDA whenever it is usable (the CUDA kernels
 * passed their tests and the PyTorch fixtures on an H200, 2026-11-27).
 */
export function cudaAutoReason(): string | null {
  return cudaUnavailableReason();
}

/** 'auto' resolves to CUDA when usable, else CPU; DIT_DEVICE=cpu|cuda overrides 'auto'. */
export function resolveDevice(requested: Device | 'auto' | undefined): Device {
  const want = requested ?? 'auto';
  if (want === 'cpu' || want === 'cuda') return want;
  if (want !== 'auto') {
    const shown = typeof want === 'string' ? `'${want}'` : typeof want;
    throw new TypeError(`Expected device to be one of 'auto', 'cpu', 'cuda' but received ${shown}`);
  }
  const env = deviceOverride();
  if (env === 'cpu' || env === 'cuda') return env;
  // a misspelt override is an error, not a silent fallback to detection
  const error = deviceOverrideError();
  if (error) throw new TypeError(error);
  return detectedDevice();
}

/** DIT_DEVICE, trimmed and lower-cased; '' when unset. */
function deviceOverride(): string {
  return (process.env.DIT_DEVICE ?? '').trim().toLowerCase();
}

/** Why DIT_DEVICE cannot be used, or null when it is unset, 'auto', 'cpu' or 'cuda'. */
export function deviceOverrideError(): string | null {
  const env = deviceOverride();
  return ['', 'auto', 'cpu', 'cuda'].includes(env) ? null : `Expected DIT_DEVICE to be 'cpu', 'cuda' or 'auto' but it is '${process.env.DIT_DEVICE}'`;
}

/** What 'auto' picks without DIT_DEVICE. */
export function detectedDevice(): Device {
  return cudaAutoReason() === null ? 'cuda' : 'cpu';
}
