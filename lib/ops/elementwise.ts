import { describe, Tensor } from '../tensor';
import { floatDTypeArg, finiteNumber, noOptions, oneOf, optionsArg, positiveInt, tensorArg, triple } from '../validate';

/** GELU, tanh approximation (the DiT MLP's) or exact erf form. */
export function gelu(x: Tensor, options?: { approximate?: 'tanh' | 'none' }): Tensor {
  const o = optionsArg('gelu', options, ['approximate']);
  tensorArg('x', x);
  const approximate = oneOf('options.approximate', o.approximate ?? 'none', ['tanh', 'none'] as const);
  const out = Tensor.empty(x.shape, { device: x.device, dtype: x.dtype });
  x.backend.activation({ dtype: x.dtype, count: x.numel, activation: approximate === 'tanh' ? 'gelu_tanh' : 'gelu', x, out });
  return out;
}

/** SiLU x * sigmoid(x). */
export function silu(x: Tensor, ...extra: never[]): Tensor {
  noOptions('silu', extra);
  tensorArg('x', x);
  const out = Tensor.empty(x.shape, { device: x.device, dtype: x.dtype });
  x.backend.activation({ dtype: x.dtype, count: x.numel, activation: 'silu', x, out });
  return out;
}

/** Sinusoidal embedding of timesteps t [B] -> [B, dim] as [cos | sin] (DiT's TimestepEmbedder). */
export function timestepEmbedding(
  timesteps: Tensor | ArrayLike<number>,
  dim: number,
  options?: { maxPeriod?: number; dtype?: 'f32' | 'f16' | 'bf16'; device?: 'cpu' | 'cuda' },
): Tensor {
  const o = optionsArg('timestepEmbedding', options, ['maxPeriod', 'dtype', 'device']);
  const t = timesteps instanceof Tensor ? timesteps : hostTimesteps(timesteps, o.device);
  tensorArg('t', t, 1, true);
  positiveInt('dim', dim);
  const maxPeriod = finiteNumber('options.maxPeriod', o.maxPeriod ?? 10000);
  if (maxPeriod <= 0) throw new RangeError(`Expected options.maxPeriod > 0 but received ${maxPeriod}`);
  const dtype = floatDTypeArg('options.dtype', o.dtype ?? 'f32');
  const B = t.shape[0];
  const tf = t.dtype === 'f32' ? t : t.to({ dtype: 'f32' });
  const out = Tensor.empty([B, dim], { device: t.device, dtype });
  t.backend.timestepEmbedding({ dtype, B, dim, maxPeriod, t: tf, out });
  if (tf !== t) tf.dispose();
  if (t !== timesteps) t.dispose();
  return out;
}

function hostTimesteps(values: unknown, device: 'cpu' | 'cuda' | undefined): Tensor {
  if (!Array.isArray(values) && !(ArrayBuffer.isView(values) && !(values instanceof DataView))) {
    throw new TypeError(`Expected t to be a Tensor or an array of numbers but received ${describe(values)}`);
  }
  const data = Float32Array.from(values as ArrayLike<number | bigint>, Number);
  if (data.some((v) => !Number.isFinite(v))) throw new TypeError('Expected t to hold finite numbers');
  return Tensor.from(data, [data.length], { device });
}

/**
 * Tokens back to a video: x [B, t*h*w, pt*ph*pw*C] -> [B, C, t*pt, h*ph, w*pw] (channel fastest
 * within a token, as Open-Sora's unpatchify).
 */
export function unpatchify(
  x: Tensor,
  options: { gridSize: [number, number, number]; patchSize: [number, number, number]; outChannels: number },
): Tensor {
  tensorArg('x', x, 3);
  if (typeof options !== 'object' || options === null) throw new TypeError('Expected options { gridSize, patchSize, outChannels }');
  optionsArg('unpatchify', options, ['gridSize', 'patchSize', 'outChannels']);
  const [t, h, w] = triple('options.gridSize', options.gridSize, positiveInt);
  const [pt, ph, pw] = triple('options.patchSize', options.patchSize, positiveInt);
  const C = positiveInt('options.outChannels', options.outChannels);
  const [B, N, F] = x.shape;
  if (N !== t * h * w || F !== pt * ph * pw * C) {
    throw new RangeError(`Expected x to have shape [${B}, ${t * h * w}, ${pt * ph * pw * C}] for grid [${t}, ${h}, ${w}], patch [${pt}, ${ph}, ${pw}] and ${C} channels but received [${x.shape.join(', ')}]`);
  }
  const out = Tensor.empty([B, C, t * pt, h * ph, w * pw], { device: x.device, dtype: x.dtype });
  x.backend.unpatchify({ dtype: x.dtype, B, t, h, w, pt, ph, pw, C, x, out });
  return out;
}
