/// <reference lib="esnext.disposable" preserve="true" />
/**
 * Open-Sora's DiT forward (SPEC §1) on any Backend. Per forward: patch embedding plus one
 * combined position table; c = t_emb + y_emb; SiLU(c) once; every adaLN linear of every block
 * in ONE small-M GEMM (their weights are concatenated at load); then per block the fused
 * LN+modulate, qkv GEMM, strided attention straight from the qkv buffer, and the proj / fc2
 * GEMMs with the gated residual fused into their epilogue (the residual stream is updated in
 * place); final layer, unpatchify, f32 output.
 */
import * as os from 'node:os';
import { cudaDevice, getBackend, resolveDevice, type Backend, type Device } from '../backend';
import { dtypeSize, isFloatDType, type FloatDType } from '../dtype';
import { DitError } from '../errors';
import { SafetensorsReader } from '../safetensors';
import { describe, MAX_TENSOR_BYTES, Tensor } from '../tensor';
import { finiteNumber, oneOf, optionsArg } from '../validate';
import { derive, MAX_SEED, metadataConfig, resolveConfig, type DerivedConfig, type DiTConfig, type DiTConfigInput } from './config';
import { spatialPosEmbed, temporalPosEmbed } from './pos_embed';
import { checkFiniteTimesteps, labelIds, prepareCaption, prepareT, prepareX } from './inputs';
import { checkWeights, expectedParams, isOtherSizePositionTable, RandomWeights, tokenGemmWeightKeys, type ParamSpec } from './weights';

export interface DiTLoadOptions {
  /** Open-Sora constructor arguments; missing fields come from `preset`, then Open-Sora's defaults */
  config?: DiTConfigInput;
  /** e.g. 'DiT-XL/2', 'DiT-XL/2x2', 'DiT-S/2' */
  preset?: string;
  /** a safetensors path or a record of Tensors named by Open-Sora's state_dict keys; omitted: seeded random weights */
  weights?: string | Record<string, Tensor>;
  device?: Device | 'auto';
  dtype?: FloatDType;
  /** seed of the random weights used when `weights` is omitted */
  seed?: number;
}

export type TimestepInput = Tensor | ArrayLike<number> | BigInt64Array;
/** text: [B, 1, 1, caption_channels] floats; label: B integer class ids (Tensor or array) */
export type ConditionInput = Tensor | ArrayLike<number> | BigInt64Array;

export interface ForwardInput {
  /** latent [B, in_channels, T, H, W] */
  x: Tensor;
  t: TimestepInput;
  y: ConditionInput;
}

export interface CfgInput extends ForwardInput {
  cfgScale: number;
  /** the unconditional input; default: the null class (label) or y_embedding (text) */
  yNull?: ConditionInput;
  /** 'eps' (Open-Sora's samplers, default): guide the first in_channels channels; 'first3': facebook DiT's quirk */
  guidance?: 'eps' | 'first3';
}

/** A GEMM weight [N, K] with its bias: the backend's prepared form (CPU: packed once), else W itself. */
interface LinearWeight {
  w: Tensor | null;
  packed: Tensor | null;
  b: Tensor;
  N: number;
  K: number;
}

interface Block {
  qkv: LinearWeight; proj: LinearWeight; fc1: LinearWeight; fc2: LinearWeight;
}

/** Open-Sora's `dtype` argument as a config field ("bf16", "torch.bfloat16", "fp16", ...). */
function configDType(v: unknown): FloatDType | undefined {
  if (v === undefined || v === null) return undefined;
  const name = typeof v === 'string' ? v.replace(/^torch\./, '').toLowerCase() : '';
  const known: Record<string, FloatDType> = {
    f32: 'f32', fp32: 'f32', float32: 'f32', float: 'f32',
    bf16: 'bf16', bfloat16: 'bf16',
    f16: 'f16', fp16: 'f16', float16: 'f16', half: 'f16',
  };
  if (!Object.hasOwn(known, name)) throw new DitError('ERR_DIT_CONFIG', `invalid DiT config: dtype ${JSON.stringify(v)} is not f32, bf16 or f16`);
  return known[name];
}

/** Refuses a model that cannot exist here before any of it is allocated or drawn. */
function checkModelSize(specs: readonly ParamSpec[], dtype: FloatDType, device: Device): void {
  let elements = 0;
  for (const s of specs) elements += s.shape.reduce((a, b) => a * b, 1);
  const bytes = elements * dtypeSize(dtype);
  if (!(bytes <= MAX_TENSOR_BYTES)) throw new RangeError(`Expected a model of at most 2^52 bytes but this config has ${elements.toExponential(3)} parameters`);
  const gpu = device === 'cuda' ? cudaDevice() : undefined;
  const [limit, what] = gpu ? [gpu.totalMemory, `GPU memory (${gpu.name})`] : [os.totalmem(), 'memory'];
  if (bytes > limit) {
    throw new DitError('ERR_DIT_OOM', `this config has ${elements.toExponential(3)} parameters (${(bytes / 2 ** 30).toFixed(1)} GiB in ${dtype}), more than this machine's ${(limit / 2 ** 30).toFixed(1)} GiB of ${what}`);
  }
}

/** A model collected without dispose() still gives its stream back (its buffers have their own finalizers). */
const streamReleaser = new FinalizationRegistry<{ backend: Backend; stream: number }>(({ backend, stream }) => {
  try {
    backend.destroyStream(stream);
  } catch {
    // nothing to report to at collection time
  }
});

export class DiT {
  readonly config: DiTConfig;
  readonly derived: DerivedConfig;
  readonly device: Device;
  readonly dtype: FloatDType;
  #backend: Backend;
  #w: Map<string, Tensor>;
  #prepared: Map<string, Tensor>;
  #blocks: Block[];
  #final: LinearWeight;
  #adaW: Tensor;
  #adaB: Tensor;
  #pos: Tensor;
  /** the backend stream every forward runs on (CUDA: one per model, so models overlap) */
  #stream: number;
  #disposed = false;

  private constructor(config: DiTConfig, device: Device, dtype: FloatDType, weights: Map<string, Tensor>, prepared: Map<string, Tensor>) {
    this.config = config;
    this.derived = derive(config);
    this.device = device;
    this.dtype = dtype;
    this.#backend = getBackend(device);
    this.#w = weights;
    this.#prepared = prepared;
    const D = config.hidden_size;
    const shapes = new Map(expectedParams(config).map((s) => [s.key, s.shape]));
    const linearWeight = (prefix: string): LinearWeight => {
      const key = `${prefix}.weight`;
      const [N, K] = shapes.get(key)!;
      const packed = prepared.get(key) ?? null; // the prepared form from load, or W as it is
      return { w: packed ? null : this.#param(key), packed, b: this.#param(`${prefix}.bias`), N, K };
    };
    this.#blocks = Array.from({ length: config.depth }, (_, i) => ({
      qkv: linearWeight(`blocks.${i}.attn.qkv`),
      proj: linearWeight(`blocks.${i}.attn.proj`),
      fc1: linearWeight(`blocks.${i}.mlp.fc1`),
      fc2: linearWeight(`blocks.${i}.mlp.fc2`),
    }));
    this.#final = linearWeight('final_layer.linear');
    // every adaLN linear (depth x 6D rows, then the final layer's 2D) as one weight and bias
    const rows = this.#modRows;
    this.#adaW = Tensor.empty([rows, D], { device, dtype });
    this.#adaB = Tensor.empty([rows], { device, dtype });
    const parts: [string, number][] = [];
    for (let i = 0; i < config.depth; i++) parts.push([`blocks.${i}.adaLN_modulation.1`, 6 * D]);
    parts.push(['final_layer.adaLN_modulation.1', 2 * D]);
    let row = 0;
    for (const [prefix, n] of parts) {
      this.#copy(this.#param(`${prefix}.weight`), this.#adaW, row * D);
      this.#copy(this.#param(`${prefix}.bias`), this.#adaB, row);
      row += n;
      // only the concatenation is used from here on (frees are queued after the copies)
      for (const key of [`${prefix}.weight`, `${prefix}.bias`]) {
        this.#param(key).dispose();
        this.#w.delete(key);
      }
    }
    this.#pos = this.#positionTable();
    this.#stream = this.#backend.createStream();
    streamReleaser.register(this, { backend: this.#backend, stream: this.#stream }, this);
  }

  /** Loads a DiT: validates the config against the weights before any compute. */
  static async load(options: DiTLoadOptions = {}): Promise<DiT> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected an options object but received ${describe(options)}`);
    optionsArg('DiT.load', options, ['config', 'preset', 'weights', 'device', 'dtype', 'seed']);
    if (options.config === null || (options.config !== undefined && (typeof options.config !== 'object' || Array.isArray(options.config)))) {
      throw new TypeError(`Expected config to be an object of Open-Sora DiT arguments but received ${describe(options.config)}`);
    }
    if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0 && options.seed <= MAX_SEED)) {
      throw new TypeError(`Expected seed to be an integer in [0, 2^32 - 1] but received ${describe(options.seed)}`);
    }
    if (options.dtype !== undefined && !isFloatDType(options.dtype)) {
      throw new TypeError(`Expected dtype to be one of 'f32', 'f16', 'bf16' but received ${describe(options.dtype)}`);
    }
    const device = resolveDevice(options.device);
    getBackend(device); // explains an unusable device before reading any file
    // one open file for the header check and then the tensors
    const reader = typeof options.weights === 'string' ? await SafetensorsReader.open(options.weights) : null;
    try {
      return await DiT.#loadFrom(options, device, reader);
    } finally {
      await reader?.close();
    }
  }

  static async #loadFrom(options: DiTLoadOptions, device: Device, reader: SafetensorsReader | null): Promise<DiT> {
    const held = new Map<string, Tensor>();
    try {
      return await DiT.#loadHeld(options, device, reader, held);
    } finally {
      for (const t of held.values()) t.dispose();
    }
  }

  static async #loadHeld(options: DiTLoadOptions, device: Device, reader: SafetensorsReader | null, held: Map<string, Tensor>): Promise<DiT> {
    let configInput = options.config;
    let shapes: Map<string, readonly number[]>;
    let source: string;
    if (reader) {
      // the header first: a config that does not fit is refused before any tensor is read
      source = `"${options.weights}"`;
      if (configInput === undefined && options.preset === undefined) configInput = metadataConfig(reader.metadata, source);
      shapes = new Map([...reader.tensors].map(([k, v]) => [k, v.shape]));
    } else if (options.weights !== undefined) {
      if (typeof options.weights !== 'object' || options.weights === null) {
        throw new TypeError(`Expected weights to be a safetensors path or a record of Tensors but received ${describe(options.weights)}`);
      }
      source = '(record)';
      shapes = new Map();
      for (const [k, t] of Object.entries(options.weights)) {
        if (!(t instanceof Tensor)) throw new TypeError(`Expected weights["${k}"] to be a Tensor but received ${describe(t)}`);
        t.assertAlive(`weights["${k}"]`);
        shapes.set(k, t.shape);
      }
      // a view of each, taken before the first await: the caller may dispose its tensors as soon
      // as load() returns its promise (a view keeps the storage alive)
      for (const [k, t] of Object.entries(options.weights as Record<string, Tensor>)) held.set(k, t.reshape(t.shape));
    } else {
      source = '(random)';
      shapes = new Map();
    }
    const config = resolveConfig(configInput ?? {}, options.preset);
    // the model's dtype: the option, else the config's own `dtype` (Open-Sora's constructor argument), else f32
    const dtype = options.dtype ?? configDType(configInput?.dtype) ?? 'f32';
    const specs = expectedParams(config);
    if (options.weights !== undefined) checkWeights(config, shapes, source);
    checkModelSize(specs, dtype, device);

    // Tensor by tensor, so a checkpoint is never held twice: read (or take from the record, or
    // draw at random), move to the device and dtype, and hand each token-GEMM weight to the
    // backend to prepare at once (CPU: packed; W is then released and its memory recycled).
    const backend = getBackend(device);
    const gemmKeys = tokenGemmWeightKeys(config);
    const own = new Map<string, Tensor>();
    const prepared = new Map<string, Tensor>();
    const record = typeof options.weights === 'object' ? held : null;
    const random = options.weights === undefined ? new RandomWeights(options.seed ?? 0) : null;
    const fetch = async (s: ParamSpec): Promise<Tensor | undefined> => {
      // facebook DiT: `pos_embed` for pos_embed_spatial, a 4-D patch weight
      const name = (n: string) => (n === 'pos_embed_spatial' && !has(n) && has('pos_embed') ? 'pos_embed' : n);
      const has = (n: string) => (reader ? reader.tensors.has(n) : record ? record.has(n) : !s.optional);
      if (!has(name(s.key))) return undefined;
      const stored = shapes.get(name(s.key));
      if (stored && isOtherSizePositionTable(s, stored)) return undefined; // recomputed for this size
      let t: Tensor;
      if (random) return random.next(s, device, dtype);
      if (reader) t = await reader.read(name(s.key), { device, dtype, convertAll: true });
      else {
        const src = record!.get(name(s.key))!;
        t = src.device === device && src.dtype === dtype ? src.reshape(src.shape) : src.to({ device, dtype });
      }
      const shaped = t.reshape(s.shape); // a view: shares the storage
      t.dispose();
      return shaped;
    };
    try {
      for (const s of specs) {
        const t = await fetch(s);
        if (!t) continue;
        const packed = gemmKeys.has(s.key) ? backend.prepareLinearWeight(t) : null;
        if (packed) {
          prepared.set(s.key, packed);
          t.dispose(); // freed after the packing that reads it (stream order)
        } else {
          own.set(s.key, t);
        }
      }
      const model = new DiT(config, device, dtype, own, prepared);
      await backend.sync(); // weights uploaded and prepared: the first forward is a normal one
      return model;
    } catch (e) {
      for (const t of [...own.values(), ...prepared.values()]) t.dispose();
      throw e;
    }
  }

  get #modRows(): number {
    return (6 * this.config.depth + 2) * this.config.hidden_size;
  }

  #param(key: string): Tensor {
    const t = this.#w.get(key);
    if (!t) throw new DitError('ERR_DIT_WEIGHTS', `internal: weight "${key}" not loaded`);
    return t;
  }

  /** device copy of src into dst at element offset */
  #copy(src: Tensor, dst: Tensor, offset: number): void {
    const view = dst.view(offset, [src.numel]);
    this.#backend.cast({ srcDtype: src.dtype, dstDtype: dst.dtype, count: src.numel, src, dst: view });
    view.dispose();
  }

  /** spatial + temporal tables as one [t * S, D] table (checkpoint buffers when present) */
  #positionTable(): Tensor {
    const { hidden_size: D, no_temporal_pos_emb } = this.config;
    const [tg, hg] = this.derived.grid;
    const S = this.derived.spatialTokens;
    const spatial = this.#w.get('pos_embed_spatial') ?? Tensor.from(spatialPosEmbed(D, hg), [1, S, D], { device: this.device, dtype: this.dtype });
    const table = Tensor.empty([tg * S, D], { device: this.device, dtype: this.dtype });
    for (let i = 0; i < tg; i++) this.#copy(spatial, table, i * S * D);
    if (!no_temporal_pos_emb) {
      const temporal = this.#w.get('pos_embed_temporal') ?? Tensor.from(temporalPosEmbed(D, tg), [1, tg, D], { device: this.device, dtype: this.dtype });
      this.#backend.addRows({ dtype: this.dtype, rows: tg * S, D, addRows: tg, addRepeat: S, x: table, add: temporal, out: table });
      if (!this.#w.has('pos_embed_temporal')) temporal.dispose();
    }
    if (!this.#w.has('pos_embed_spatial')) spatial.dispose();
    return table;
  }

  #assertAlive(): void {
    if (this.#disposed) throw new DitError('ERR_DIT_DISPOSED', 'Expected a live DiT but it was disposed');
  }

  /** The null condition for classifier-free guidance, for B samples. */
  #nullCondition(B: number): ConditionInput {
    const d = this.derived;
    if (d.numClasses !== null) {
      if (d.labelRows === d.numClasses) throw new DitError('ERR_DIT_CONFIG', 'this label model has no null class (class_dropout_prob = 0): pass yNull');
      return new Array<number>(B).fill(d.numClasses);
    }
    const Cc = this.config.caption_channels;
    const table = this.#param('y_embedder.y_embedding');
    const out = Tensor.empty([B, 1, 1, Cc], { device: this.device, dtype: this.dtype });
    for (let b = 0; b < B; b++) this.#copy(table, out, b * Cc);
    return out;
  }

  /** Runs the model; resolves to the output [B, out_channels, T, H, W] (f32) once computed. */
  async forward(input: ForwardInput): Promise<Tensor> {
    this.#assertAlive();
    if (typeof input !== 'object' || input === null) throw new TypeError(`Expected { x, t, y } but received ${describe(input)}`);
    const guided = ['cfgScale', 'yNull', 'guidance'].some((k) => Object.hasOwn(input, k));
    optionsArg('forward', input, ['x', 't', 'y'], guided ? ' (classifier-free guidance is forwardWithCfg)' : '');
    const x = prepareX(this, input.x);
    const temps: Tensor[] = [x];
    try {
      const B = x.shape[0];
      const t = prepareT(this, input.t, B);
      temps.push(t);
      let cond: Tensor | Int32Array;
      if (this.derived.numClasses !== null) cond = await labelIds(this, input.y, B, 'y');
      else temps.push((cond = prepareCaption(this, input.y, B, 'y')));
      this.#assertAlive(); // disposed while the labels were read
      const out = this.#backend.onStream(this.#stream, () => this.#run(x, t, cond));
      await this.#backend.sync(this.#stream);
      if (input.t instanceof Tensor) await checkFiniteTimesteps(t, out);
      return out;
    } finally {
      for (const z of temps) z.dispose();
    }
  }

  /**
   * Classifier-free guidance in one batched forward of [x; x] with [y; yNull]: the guided channels
   * (eps: the first in_channels; or facebook DiT's first 3) get uncond + s (cond - uncond), the
   * rest (the learned-sigma channels) come from the conditional half. Output [B, out_channels, T, H, W].
   */
  async forwardWithCfg(input: CfgInput): Promise<Tensor> {
    this.#assertAlive();
    if (typeof input !== 'object' || input === null) throw new TypeError(`Expected { x, t, y, cfgScale } but received ${describe(input)}`);
    optionsArg('forwardWithCfg', input, ['x', 't', 'y', 'cfgScale', 'yNull', 'guidance']);
    const scale = finiteNumber('cfgScale', input.cfgScale);
    const guidance = oneOf('guidance', input.guidance ?? 'eps', ['eps', 'first3'] as const);
    const x = prepareX(this, input.x);
    const temps: Tensor[] = [x];
    try {
      const B = x.shape[0];
      const C = this.config.in_channels;
      const x2 = Tensor.empty([2 * B, ...x.shape.slice(1)], { device: this.device, dtype: this.dtype });
      temps.push(x2);
      this.#copy(x, x2, 0);
      this.#copy(x, x2, x.numel);
      const t = prepareT(this, input.t, B);
      temps.push(t);
      const t2 = Tensor.empty([2 * B], { device: this.device });
      temps.push(t2);
      this.#copy(t, t2, 0);
      this.#copy(t, t2, B);
      const yNull = input.yNull ?? this.#nullCondition(B);
      if (yNull instanceof Tensor && input.yNull === undefined) temps.push(yNull);
      let cond: Tensor | Int32Array;
      if (this.derived.numClasses !== null) {
        const a = await labelIds(this, input.y, B, 'y');
        const b = await labelIds(this, yNull, B, 'yNull');
        cond = new Int32Array(2 * B);
        cond.set(a, 0);
        cond.set(b, B);
      } else {
        const a = prepareCaption(this, input.y, B, 'y');
        const b = prepareCaption(this, yNull, B, 'yNull');
        temps.push(a, b);
        cond = Tensor.empty([2 * B, 1, 1, this.config.caption_channels], { device: this.device, dtype: this.dtype });
        temps.push(cond);
        this.#copy(a, cond, 0);
        this.#copy(b, cond, a.numel);
      }
      this.#assertAlive();
      const out = this.#backend.onStream(this.#stream, () => {
        const both = this.#run(x2, t2, cond);
        temps.push(both);
        const outC = this.derived.outChannels;
        const S = both.numel / (2 * B * outC);
        const guided = Tensor.empty([B, outC, ...x.shape.slice(2)], { device: this.device });
        this.#backend.cfgCombine({
          dtype: 'f32', B, C: outC, S, guided: Math.min(guidance === 'first3' ? 3 : C, outC), scale,
          cond: both, uncond: both, uncondOffset: B * outC * S, out: guided,
        });
        return guided;
      });
      await this.#backend.sync(this.#stream);
      if (input.t instanceof Tensor) await checkFiniteTimesteps(t, out);
      return out;
    } finally {
      for (const z of temps) z.dispose();
    }
  }

  /** Enqueues the whole forward; x and t are on the device in the model's dtype (t in f32). */
  #run(x: Tensor, t: Tensor, cond: Tensor | Int32Array): Tensor {
    const be = this.#backend;
    const dtype = this.dtype;
    const dev = { device: this.device, dtype };
    const cfg = this.config;
    const d = this.derived;
    const D = cfg.hidden_size;
    const B = x.shape[0];
    const N = d.tokens;
    const [T, H, W] = cfg.input_size;
    const [pt, ph, pw] = cfg.patch_size;
    const temps: Tensor[] = [];
    const tmp = (shape: number[], opts = dev) => {
      const z = Tensor.empty(shape, opts);
      temps.push(z);
      return z;
    };
    const linear = (a: Tensor, M: number, K: number, key: string, out: Tensor, activation: 'none' | 'silu' | 'gelu_tanh' = 'none') => {
      const w = this.#param(`${key}.weight`);
      be.linear({ dtype, M, N: w.shape[0], K, a, lda: K, w, ldw: K, c: out, ldc: w.shape[0], bias: this.#param(`${key}.bias`), activation });
    };
    try {
      // tokens + positions: the residual stream, updated in place from here on
      const h = tmp([B, N, D]);
      const xe = this.#param('x_embedder.proj.weight');
      be.patchEmbed3d({ dtype, B, C: cfg.in_channels, T, H, W, D, pt, ph, pw, x, weight: xe, bias: this.#param('x_embedder.proj.bias'), out: h });
      be.addRows({ dtype, rows: B * N, D, addRows: N, addRepeat: 1, x: h, add: this.#pos, out: h });

      // conditioning c = t_emb + y_emb, then SiLU(c) shared by every adaLN
      const tfreq = tmp([B, 256]);
      be.timestepEmbedding({ dtype, B, dim: 256, maxPeriod: 10000, t, out: tfreq });
      const t1 = tmp([B, D]);
      linear(tfreq, B, 256, 't_embedder.mlp.0', t1, 'silu');
      const c = tmp([B, D]);
      linear(t1, B, D, 't_embedder.mlp.2', c);
      const yEmb = tmp([B, D]);
      if (cond instanceof Int32Array) {
        const ids = Tensor.from(cond, [B], { device: this.device });
        temps.push(ids);
        be.embedding({ dtype, B, D, rows: d.labelRows, ids, table: this.#param('y_embedder.embedding_table.weight'), out: yEmb });
      } else {
        const y1 = tmp([B, D]);
        linear(cond, B, cfg.caption_channels, 'y_embedder.y_proj.fc1', y1, 'gelu_tanh');
        linear(y1, B, D, 'y_embedder.y_proj.fc2', yEmb);
      }
      be.addRows({ dtype, rows: B, D, addRows: B, addRepeat: 1, x: c, add: yEmb, out: c });
      const sc = tmp([B, D]);
      be.activation({ dtype, count: B * D, activation: 'silu', x: c, out: sc });
      const rows = this.#modRows / D;
      const mods = tmp([B, rows * D]);
      be.linear({ dtype, M: B, N: rows * D, K: D, a: sc, lda: D, w: this.#adaW, ldw: D, c: mods, ldc: rows * D, bias: this.#adaB, activation: 'none' });
      const modStride = rows * D;
      // a token GEMM: out = act(a W^T + b), or with gateOffset out += gate * (a W^T + b) in place
      const gemm = (a: Tensor, M: number, lw: LinearWeight, out: Tensor, activation: 'none' | 'gelu_tanh' = 'none', gateOffset?: number) => {
        const { N: Nout, K } = lw;
        const gated = gateOffset !== undefined;
        be.linear({
          dtype, M, N: Nout, K, a, lda: K, w: lw.w, ldw: K, c: out, ldc: Nout, bias: lw.b, activation, wPacked: lw.packed,
          gate: gated ? mods : null, gateOffset, gateStride: modStride, rowsPerGate: N, residual: gated ? out : null,
        });
      };

      const Hh = cfg.num_heads, Dh = d.headDim, F = d.mlpHidden;
      const normed = tmp([B, N, D]);
      const qkv = tmp([B, N, 3 * D]);
      const attn = tmp([B, N, D]);
      const mlp = tmp([B, N, F]);
      const M = B * N;
      this.#blocks.forEach((blk, i) => {
        const base = i * 6 * D;
        be.layerNormModulate({ dtype, B, N, D, eps: 1e-6, x: h, out: normed, shift: mods, shiftOffset: base, scale: mods, scaleOffset: base + D, modStride });
        gemm(normed, M, blk.qkv, qkv);
        be.attention({
          dtype, B, H: Hh, N, M: N, Dh, scale: Dh ** -0.5,
          q: qkv, qOffset: 0, qSb: N * 3 * D, qSh: Dh, qSn: 3 * D,
          k: qkv, kOffset: D, kSb: N * 3 * D, kSh: Dh, kSn: 3 * D,
          v: qkv, vOffset: 2 * D, vSb: N * 3 * D, vSh: Dh, vSn: 3 * D,
          o: attn, oSb: N * D, oSh: Dh, oSn: D,
        });
        gemm(attn, M, blk.proj, h, 'none', base + 2 * D); // h += gate_msa * proj(attn)
        be.layerNormModulate({ dtype, B, N, D, eps: 1e-6, x: h, out: normed, shift: mods, shiftOffset: base + 3 * D, scale: mods, scaleOffset: base + 4 * D, modStride });
        gemm(normed, M, blk.fc1, mlp, 'gelu_tanh');
        gemm(mlp, M, blk.fc2, h, 'none', base + 5 * D); // h += gate_mlp * fc2(mlp)
      });

      // final layer and unpatchify
      const fbase = cfg.depth * 6 * D;
      be.layerNormModulate({ dtype, B, N, D, eps: 1e-6, x: h, out: normed, shift: mods, shiftOffset: fbase, scale: mods, scaleOffset: fbase + D, modStride });
      const P = d.patchVolume * d.outChannels;
      const lin = tmp([B, N, P]);
      gemm(normed, M, this.#final, lin);
      const [tg, hg, wg] = d.grid;
      const video = Tensor.empty([B, d.outChannels, T, H, W], dev);
      be.unpatchify({ dtype, B, t: tg, h: hg, w: wg, pt, ph, pw, C: d.outChannels, x: lin, out: video });
      if (dtype === 'f32') return video;
      temps.push(video);
      return video.to({ dtype: 'f32' });
    } finally {
      for (const z of temps) z.dispose(); // frees are stream-ordered: after the work above
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#w.values()) t.dispose();
    for (const t of this.#prepared.values()) t.dispose();
    this.#adaW.dispose();
    this.#adaB.dispose();
    this.#pos.dispose();
    // after the frees (which note the stream's pending reads); waits for the stream's work
    streamReleaser.unregister(this);
    this.#backend.destroyStream(this.#stream);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
