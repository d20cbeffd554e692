/**
 * The state_dict of Open-Sora's DiT for a config: every key in order with its shape, checks that
 * a set of weights fits before anything is computed, and seeded random weights for trying a
 * preset without a checkpoint.
 */
import { DitError } from '../errors';
import { Tensor } from '../tensor';
import { fmtShape } from '../validate';
import { derive, type DiTConfig } from './config';

export interface ParamSpec {
  key: string;
  shape: number[];
  /** buffers recomputed from the config when a checkpoint lacks them */
  optional?: boolean;
}

export function expectedParams(c: DiTConfig): ParamSpec[] {
  const d = derive(c);
  const D = c.hidden_size;
  const [pt, ph, pw] = c.patch_size;
  const specs: ParamSpec[] = [
    { key: 'pos_embed_spatial', shape: [1, d.spatialTokens, D], optional: true },
    { key: 'pos_embed_temporal', shape: [1, d.grid[0], D], optional: true },
    { key: 'x_embedder.proj.weight', shape: [D, c.in_channels, pt, ph, pw] },
    { key: 'x_embedder.proj.bias', shape: [D] },
  ];
  if (d.numClasses === null) {
    specs.push(
      { key: 'y_embedder.y_embedding', shape: [1, c.caption_channels] },
      { key: 'y_embedder.y_proj.fc1.weight', shape: [D, c.caption_channels] },
      { key: 'y_embedder.y_proj.fc1.bias', shape: [D] },
      { key: 'y_embedder.y_proj.fc2.weight', shape: [D, D] },
      { key: 'y_embedder.y_proj.fc2.bias', shape: [D] },
    );
  } else {
    specs.push({ key: 'y_embedder.embedding_table.weight', shape: [d.labelRows, D] });
  }
  specs.push(
    { key: 't_embedder.mlp.0.weight', shape: [D, 256] },
    { key: 't_embedder.mlp.0.bias', shape: [D] },
    { key: 't_embedder.mlp.2.weight', shape: [D, D] },
    { key: 't_embedder.mlp.2.bias', shape: [D] },
  );
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    specs.push(
      { key: `${b}.attn.qkv.weight`, shape: [3 * D, D] },
      { key: `${b}.attn.qkv.bias`, shape: [3 * D] },
      { key: `${b}.attn.proj.weight`, shape: [D, D] },
      { key: `${b}.attn.proj.bias`, shape: [D] },
      { key: `${b}.mlp.fc1.weight`, shape: [d.mlpHidden, D] },
      { key: `${b}.mlp.fc1.bias`, shape: [d.mlpHidden] },
      { key: `${b}.mlp.fc2.weight`, shape: [D, d.mlpHidden] },
      { key: `${b}.mlp.fc2.bias`, shape: [D] },
      { key: `${b}.adaLN_modulation.1.weight`, shape: [6 * D, D] },
      { key: `${b}.adaLN_modulation.1.bias`, shape: [6 * D] },
    );
  }
  specs.push(
    { key: 'final_layer.linear.weight', shape: [d.patchVolume * d.outChannels, D] },
    { key: 'final_layer.linear.bias', shape: [d.patchVolume * d.outChannels] },
    { key: 'final_layer.adaLN_modulation.1.weight', shape: [2 * D, D] },
    { key: 'final_layer.adaLN_modulation.1.bias', shape: [2 * D] },
  );
  return specs;
}

const MODEL_PREFIXES = ['x_embedder.', 'y_embedder.', 't_embedder.', 'blocks.', 'final_layer.', 'pos_embed_'];

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function configSummary(c: DiTConfig): string {
  return `hidden_size ${c.hidden_size}, depth ${c.depth}, num_heads ${c.num_heads}, mlp_ratio ${c.mlp_ratio}, in_channels ${c.in_channels}, ` +
    `patch_size [${c.patch_size}], input_size [${c.input_size}], condition '${c.condition}', learn_sigma ${c.learn_sigma}`;
}

/**
 * When a key is missing but the file holds it under a prefix (DataParallel's `module.`, an EMA or
 * a wrapper's `ema.`, `model.`, torch.compile's `_orig_mod.`), says so: the keys must be the
 * module's own state_dict keys.
 */
function prefixHint(key: string, shapes: Map<string, readonly number[]>): string {
  for (const name of shapes.keys()) {
    if (name.length > key.length && name.endsWith(`.${key}`)) {
      const prefix = name.slice(0, name.length - key.length);
      return `; the weights hold it as "${name}": strip the prefix "${prefix}" from the tensor names`;
    }
  }
  return '';
}

/**
 * Checks `shapes` (name -> shape) against the config: the first missing or differing tensor,
 * or a model tensor the config has no place for, is named in a DitError. facebook DiT's 4-D patch
 * weight (D, C, ph, pw) is accepted when the temporal patch is 1, and its `pos_embed` in place of
 * `pos_embed_spatial`.
 */
/**
 * A checkpoint's position table made for another input size ([1, n, D] with the config's D but
 * another token count). Open-Sora's and facebook DiT's tables are fixed sin-cos buffers, not
 * learned, so such a table is recomputed for the config's size instead of refused: running a
 * checkpoint at another latent size is what `run --weights --input-size` does.
 */
export function isOtherSizePositionTable(spec: ParamSpec, got: readonly number[]): boolean {
  return spec.key.startsWith('pos_embed_') && got.length === 3 && got[0] === 1 && got[2] === spec.shape[2] && got[1] !== spec.shape[1];
}

export function checkWeights(c: DiTConfig, shapes: Map<string, readonly number[]>, source: string): void {
  const specs = expectedParams(c);
  const fail = (what: string): never => {
    throw new DitError('ERR_DIT_WEIGHTS', `weights ${source} do not fit the config (${configSummary(c)}): ${what}`);
  };
  for (const s of specs) {
    let got = shapes.get(s.key), name = s.key;
    if (got === undefined && s.key === 'pos_embed_spatial') {
      got = shapes.get('pos_embed');
      name = 'pos_embed';  // facebook DiT's name, as the file has it
    }
    if (got === undefined) {
      if (s.optional) continue;
      return fail(`tensor "${s.key}" is missing (expected shape ${fmtShape(s.shape)})${prefixHint(s.key, shapes)}`);
    }
    if (isOtherSizePositionTable(s, got)) continue;
    const facebookPatch = s.key === 'x_embedder.proj.weight' && c.patch_size[0] === 1 && sameShape(got, [s.shape[0], s.shape[1], s.shape[3], s.shape[4]]);
    if (!sameShape(got, s.shape) && !facebookPatch) fail(`tensor "${name}" has shape ${fmtShape(got)} but the config expects ${fmtShape(s.shape)}`);
  }
  const known = new Set(specs.map((s) => s.key));
  known.add('pos_embed');
  for (const key of shapes.keys()) {
    if (!known.has(key) && MODEL_PREFIXES.some((p) => key.startsWith(p))) {
      fail(`tensor "${key}" has no place in this config`);
    }
  }
}

/** The weights of the token GEMMs (qkv, proj, fc1, fc2 of every block, the final linear). */
export function tokenGemmWeightKeys(c: DiTConfig): Set<string> {
  const keys = new Set(['final_layer.linear.weight']);
  for (let i = 0; i < c.depth; i++) {
    for (const k of ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2']) keys.add(`blocks.${i}.${k}.weight`);
  }
  return keys;
}

/**
 * Seeded random weights, one tensor at a time (N(0, 1/fan_in)-like matrices, small biases), for
 * trying a preset without a checkpoint. xorshift32, inlined in the fill loop: DiT-XL/2 draws 675M.
 */
export class RandomWeights {
  #x: number;
  /** reused across tensors (the upload copies it): fresh pages for every tensor were a third of a DiT-XL/2 load */
  #buf = new Float32Array(0);
  constructor(seed: number) {
    this.#x = (seed >>> 0) ^ 0x9e3779b9 || 1;
  }

  next(spec: ParamSpec, device: Tensor['device'], dtype: Tensor['dtype']): Tensor {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const matrix = spec.shape.length >= 2;
    const std = matrix ? 1 / Math.sqrt(n / spec.shape[0]) : 0.02;
    if (this.#buf.length < n) this.#buf = new Float32Array(n);
    const data = this.#buf.subarray(0, n);
    // uniform with the same variance as N(0, std^2): cheap and enough for a random model
    const scale = (2 * std * Math.sqrt(3)) / 4294967296;
    const shift = std * Math.sqrt(3);
    let x = this.#x;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = (x >>> 0) * scale - shift;
    }
    this.#x = x;
    return Tensor.from(data, spec.shape, { device, dtype });
  }
}
