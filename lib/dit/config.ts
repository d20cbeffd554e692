/**
 * DiT configuration with Open-Sora's constructor argument names (opensora/models/dit/dit.py), the
 * named presets of the DiT family, and the values derived from them.
 */
import { DitError } from '../errors';

export interface DiTConfig {
  input_size: [number, number, number];
  in_channels: number;
  patch_size: [number, number, number];
  hidden_size: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  class_dropout_prob: number;
  learn_sigma: boolean;
  /** 'text' (pooled caption, CaptionEmbedder) or 'label_N' (N classes, LabelEmbedder) */
  condition: string;
  caption_channels: number;
  no_temporal_pos_emb: boolean;
}

export type DiTConfigInput = Partial<Omit<DiTConfig, 'input_size' | 'patch_size'>> & {
  input_size?: number | number[];
  patch_size?: number | number[];
  [other: string]: unknown;
};

/** Open-Sora's DiT defaults (DiT-XL/2, text condition, 16x32x32 latent). */
export const DEFAULT_CONFIG: DiTConfig = {
  input_size: [16, 32, 32],
  in_channels: 4,
  patch_size: [1, 2, 2],
  hidden_size: 1152,
  depth: 28,
  num_heads: 16,
  mlp_ratio: 4,
  class_dropout_prob: 0.1,
  learn_sigma: true,
  condition: 'text',
  caption_channels: 512,
  no_temporal_pos_emb: false,
};

const SIZES: Record<string, { depth: number; hidden_size: number; num_heads: number }> = {
  S: { depth: 12, hidden_size: 384, num_heads: 6 },
  B: { depth: 12, hidden_size: 768, num_heads: 12 },
  L: { depth: 24, hidden_size: 1024, num_heads: 16 },
  XL: { depth: 28, hidden_size: 1152, num_heads: 16 },
};

/**
 * DiT-{S,B,L,XL}/{2,4,8}: patch (1, p, p) as Open-Sora's DiT-XL/2; a trailing "x2" (DiT-XL/2x2)
 * also patches time by 2. Everything else takes Open-Sora's defaults.
 */
export const PRESETS: Record<string, Partial<DiTConfig>> = {};
for (const [size, dims] of Object.entries(SIZES)) {
  for (const p of [2, 4, 8]) {
    PRESETS[`DiT-${size}/${p}`] = { ...dims, patch_size: [1, p, p] };
    PRESETS[`DiT-${size}/${p}x2`] = { ...dims, patch_size: [2, p, p] };
  }
}

export interface DerivedConfig {
  outChannels: number;
  headDim: number;
  mlpHidden: number;
  /** grid of patches: time, height, width */
  grid: [number, number, number];
  tokens: number;
  spatialTokens: number;
  patchVolume: number;
  /** number of classes for label conditions, null for text */
  numClasses: number | null;
  labelRows: number;
}

function bad(message: string): never {
  throw new DitError('ERR_DIT_CONFIG', `invalid DiT config: ${message}`);
}

function intTriple(name: string, v: unknown, allowZero = false): [number, number, number] {
  const arr = typeof v === 'number' ? [1, v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((d) => Number.isSafeInteger(d) && (allowZero ? d >= 0 : d > 0))) {
    bad(`${name} must be 3 positive integers [T, H, W] (or one integer for [1, n, n]) but is ${JSON.stringify(v)}`);
  }
  return arr as [number, number, number];
}

// Open-Sora's other constructor arguments: accepted (they change how it runs, not what it computes;
// `dtype` picks the model's dtype when DiT.load is given none)
const KNOWN_KEYS = new Set([...Object.keys(DEFAULT_CONFIG), 'model_max_length', 'dtype', 'enable_flashattn', 'enable_flash_attn',
  'enable_layernorm_kernel', 'enable_sequence_parallelism', 'type', 'from_pretrained']);
const MAX_DEPTH = 4096;  // far past any DiT; keeps the per-block checks cheap for absurd values

/** Fills defaults (from a preset when named), checks every field and the shapes they imply. */
export function resolveConfig(input: DiTConfigInput = {}, preset?: string): DiTConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad(`expected an object but received ${JSON.stringify(input)}`);
  let base: DiTConfig = DEFAULT_CONFIG;
  // Open-Sora's configs name the model in `type` (model = dict(type="DiT-XL/2", ...)): a preset
  if (input.type !== undefined) {
    if (typeof input.type !== 'string' || !Object.hasOwn(PRESETS, input.type)) {
      throw new DitError('ERR_DIT_CONFIG', `unknown model type ${JSON.stringify(input.type)}; known: ${Object.keys(PRESETS).join(', ')}`);
    }
    if (preset !== undefined && preset !== input.type) {
      throw new DitError('ERR_DIT_CONFIG', `the preset '${preset}' and the config's type '${input.type}' disagree`);
    }
    preset = input.type;
  }
  if (preset !== undefined) {
    const p = Object.hasOwn(PRESETS, preset) ? PRESETS[preset] : undefined;
    if (!p) throw new DitError('ERR_DIT_CONFIG', `unknown preset '${preset}'; known presets: ${Object.keys(PRESETS).join(', ')}`);
    base = { ...DEFAULT_CONFIG, ...p };
  }
  for (const k of Object.keys(input)) {
    if (!KNOWN_KEYS.has(k)) bad(`unknown field '${k}' (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`);
  }
  const c: DiTConfig = {
    ...base,
    ...(input as Partial<DiTConfig>),
    input_size: input.input_size === undefined ? base.input_size : intTriple('input_size', input.input_size),
    patch_size: input.patch_size === undefined ? base.patch_size : intTriple('patch_size', input.patch_size),
  };
  const posInt = (name: keyof DiTConfig) => {
    const v = c[name];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) bad(`${name} must be a positive integer but is ${JSON.stringify(v)}`);
  };
  posInt('in_channels');
  posInt('hidden_size');
  posInt('depth');
  posInt('num_heads');
  posInt('caption_channels');
  if (c.depth > MAX_DEPTH) bad(`depth ${c.depth} is more than ${MAX_DEPTH}`);
  if (typeof c.mlp_ratio !== 'number' || !(c.mlp_ratio > 0) || !Number.isFinite(c.mlp_ratio)) bad(`mlp_ratio must be a positive finite number but is ${typeof c.mlp_ratio === 'number' ? String(c.mlp_ratio) : JSON.stringify(c.mlp_ratio)}`);
  if (typeof c.class_dropout_prob !== 'number' || !(c.class_dropout_prob >= 0 && c.class_dropout_prob <= 1)) {
    bad(`class_dropout_prob must be in [0, 1] but is ${JSON.stringify(c.class_dropout_prob)}`);
  }
  for (const b of ['learn_sigma', 'no_temporal_pos_emb'] as const) {
    if (typeof c[b] !== 'boolean') bad(`${b} must be true or false but is ${JSON.stringify(c[b])}`);
  }
  if (typeof c.condition !== 'string' || !(c.condition === 'text' || /^label_[1-9][0-9]*$/.test(c.condition))) {
    bad(`condition must be 'text' or 'label_N' (N classes) but is ${JSON.stringify(c.condition)}`);
  }
  if (c.hidden_size % 4 !== 0) bad(`hidden_size ${c.hidden_size} must be a multiple of 4 (the 2-D sin-cos position table splits it in four)`);
  if (c.hidden_size % c.num_heads !== 0) bad(`hidden_size ${c.hidden_size} is not divisible by num_heads ${c.num_heads}`);
  const [T, H, W] = c.input_size;
  const [pt, ph, pw] = c.patch_size;
  if (T % pt || H % ph || W % pw) bad(`input_size [${c.input_size}] must be divisible by patch_size [${c.patch_size}]`);
  if (H / ph !== W / pw) {
    bad(`input_size [${c.input_size}] with patch_size [${c.patch_size}] gives a ${H / ph} x ${W / pw} token grid: it must be square (H / ph = W / pw), as Open-Sora's DiT builds a square position grid from input_size[1] / patch_size[1]`);
  }
  if (Math.floor(c.hidden_size * c.mlp_ratio) <= 0) bad(`mlp_ratio ${c.mlp_ratio} gives an empty MLP`);
  return c;
}

export function derive(c: DiTConfig): DerivedConfig {
  const [T, H, W] = c.input_size;
  const [pt, ph, pw] = c.patch_size;
  const grid: [number, number, number] = [T / pt, H / ph, W / pw];
  const numClasses = c.condition.startsWith('label_') ? Number(c.condition.slice(6)) : null;
  return {
    outChannels: c.learn_sigma ? 2 * c.in_channels : c.in_channels,
    headDim: c.hidden_size / c.num_heads,
    mlpHidden: Math.floor(c.hidden_size * c.mlp_ratio),
    grid,
    tokens: grid[0] * grid[1] * grid[2],
    spatialTokens: grid[1] * grid[2],
    patchVolume: pt * ph * pw,
    numClasses,
    labelRows: numClasses === null ? 0 : numClasses + (c.class_dropout_prob > 0 ? 1 : 0),
  };
}

/** The config a weights file carries in its metadata (`config`, JSON), or undefined; `source` names the file in errors. */
export function metadataConfig(metadata: Record<string, string>, source: string): DiTConfigInput | undefined {
  const text = metadata.config;
  if (!text) return undefined;
  try {
    return JSON.parse(text) as DiTConfigInput;
  } catch {
    throw new DitError('ERR_DIT_CONFIG', `weights ${source}: the "config" metadata is not valid JSON`);
  }
}

/** Seeds are 32-bit (the random weights' generator state). */
export const MAX_SEED = 0xffffffff;
