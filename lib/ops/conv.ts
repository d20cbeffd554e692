import { Tensor } from '../tensor';
import { expectShape, fmtShape, noOptions, nonNegativeInt, oneOf, optionsArg, positiveInt, sameKind, tensorArg, triple } from '../validate';

export interface Conv3dOptions {
  stride?: number | [number, number, number];
  /** 1 only (accepted for PyTorch-style calls) */
  groups?: number;
  /**
   * zeros on both sides; 'valid' = 0, 'same' (stride 1) = dilation * (k - 1) / 2 when that is whole
   * (PyTorch's uneven 'same', one more zero at the end, is refused: the padding here is symmetric)
   */
  padding?: number | [number, number, number] | 'same' | 'valid';
  dilation?: number | [number, number, number];
}

export interface CausalConv3dOptions {
  stride?: number | [number, number, number];
  /** 1 only (accepted for PyTorch-style calls) */
  groups?: number;
  dilation?: number | [number, number, number];
  /** spatial padding [h, w] or one int for both (zeros); default kernel // 2 */
  padding?: number | [number, number];
  /** time padding: 'replicate' repeats the first frame (EasyAnimate), 'zeros' (Open-Sora 1.2) */
  padMode?: 'replicate' | 'zeros';
  /** frames padded in front; default (kt - 1) * dilation_t */
  timePad?: number;
}

interface ConvGeometry {
  pad: [number, number, number, number]; // t front, t back, h, w
  stride: [number, number, number];
  dilation: [number, number, number];
  replicateTime: boolean;
}

function checkConvInputs(x: Tensor, weight: Tensor, bias: Tensor | null | undefined): void {
  tensorArg('x', x, 5);
  tensorArg('weight', weight, 5);
  sameKind('weight', weight, x, 'x');
  if (weight.shape[1] !== x.shape[1]) {
    throw new RangeError(`Expected weight to have shape [Cout, ${x.shape[1]}, kt, kh, kw] (Cin from x) but received ${fmtShape(weight.shape)}`);
  }
  if (bias !== undefined && bias !== null) {
    tensorArg('bias', bias, 1);
    sameKind('bias', bias, x, 'x');
    expectShape('bias', bias, [weight.shape[0]]);
  }
}

function runConv(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, g: ConvGeometry): Tensor {
  const [B, Cin, T, H, W] = x.shape;
  const [Cout, , kt, kh, kw] = weight.shape;
  const [st, sh, sw] = g.stride;
  const [dt, dh, dw] = g.dilation;
  const [padTFront, padTBack, padH, padW] = g.pad;
  const outLen = (n: number, front: number, back: number, k: number, d: number, s: number) => Math.floor((n + front + back - d * (k - 1) - 1) / s) + 1;
  const To = outLen(T, padTFront, padTBack, kt, dt, st);
  const Ho = outLen(H, padH, padH, kh, dh, sh);
  const Wo = outLen(W, padW, padW, kw, dw, sw);
  if (To <= 0 || Ho <= 0 || Wo <= 0 || kt === 0 || kh === 0 || kw === 0) {
    throw new RangeError(
      `Expected the padded input ${fmtShape([T + padTFront + padTBack, H + 2 * padH, W + 2 * padW])} to be at least the dilated kernel ` +
        `${fmtShape([dt * (kt - 1) + 1, dh * (kh - 1) + 1, dw * (kw - 1) + 1])} in every dimension`,
    );
  }
  if (g.replicateTime && T === 0) throw new RangeError('Expected at least one input frame to replicate but received T = 0');
  const out = Tensor.empty([B, Cout, To, Ho, Wo], { device: x.device, dtype: x.dtype });
  x.backend.conv3d({
    dtype: x.dtype, B, Cin, T, H, W, Cout, kt, kh, kw, st, sh, sw, dt, dh, dw,
    padTFront, padTBack, padH, padW, replicateTime: g.replicateTime, To, Ho, Wo,
    x, weight, bias: bias ?? null, out,
  });
  return out;
}

/** PyTorch's F.conv3d (NCTHW, weight [Cout, Cin, kt, kh, kw], zero padding, groups = 1). */
export function conv3d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv3dOptions): Tensor {
  const o = optionsArg('conv3d', options, ['stride', 'padding', 'dilation', 'groups']);
  checkGroups(o.groups);
  checkConvInputs(x, weight, bias);
  const stride = triple('options.stride', o.stride ?? 1, positiveInt);
  const dilation = triple('options.dilation', o.dilation ?? 1, positiveInt);
  const padding = convPadding(o.padding ?? 0, weight.shape.slice(2) as [number, number, number], stride, dilation);
  return runConv(x, weight, bias, { pad: [padding[0], padding[0], padding[1], padding[2]], stride, dilation, replicateTime: false });
}

function checkGroups(groups: unknown): void {
  if (groups !== undefined && groups !== 1) {
    throw new RangeError(`Expected options.groups to be 1 (grouped convolutions are not supported) but received ${String(groups)}`);
  }
}

/** PyTorch's padding argument: integers, 'valid' (none) or 'same' (output size = input size at stride 1). */
function convPadding(padding: unknown, kernel: [number, number, number], stride: number[], dilation: number[]): [number, number, number] {
  if (padding === 'valid') return [0, 0, 0];
  if (padding !== 'same') return triple('options.padding', padding, nonNegativeInt);
  if (stride.some((s) => s !== 1)) throw new RangeError(`Expected stride 1 with padding 'same' (as PyTorch) but received [${stride.join(', ')}]`);
  const total = kernel.map((k, i) => dilation[i] * (k - 1));
  if (total.some((p) => p % 2 !== 0)) {
    throw new RangeError(`padding 'same' needs an even dilation * (kernel - 1) in every dimension (symmetric padding) but it is [${total.join(', ')}]`);
  }
  return total.map((p) => p / 2) as [number, number, number];
}

/**
 * Causal 3-D convolution of video VAEs: time padded on the past side only, space padded with
 * zeros on both sides, then an ordinary conv3d. EasyAnimate: padMode 'replicate', timePad
 * (kt - 1) * dilation_t (the default). Open-Sora 1.2: padMode 'zeros', timePad = (kt - 1) * d + 1 - stride_t.
 */
export function causalConv3d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: CausalConv3dOptions): Tensor {
  const options = optionsArg('causalConv3d', opts, ['stride', 'dilation', 'padding', 'padMode', 'timePad', 'groups']);
  checkGroups(options.groups);
  checkConvInputs(x, weight, bias);
  const [, , kt, kh, kw] = weight.shape;
  const stride = triple('options.stride', options.stride ?? 1, positiveInt);
  const dilation = triple('options.dilation', options.dilation ?? 1, positiveInt);
  let padH: number;
  let padW: number;
  if (options.padding === undefined) {
    padH = Math.floor(kh / 2);
    padW = Math.floor(kw / 2);
  } else if (typeof options.padding === 'number') {
    padH = padW = nonNegativeInt('options.padding', options.padding);
  } else if (Array.isArray(options.padding) && options.padding.length === 2) {
    padH = nonNegativeInt('options.padding[0]', options.padding[0]);
    padW = nonNegativeInt('options.padding[1]', options.padding[1]);
  } else {
    throw new TypeError(`Expected options.padding to be an integer or [h, w] but received ${String(options.padding)}`);
  }
  const padMode = oneOf('options.padMode', options.padMode ?? 'replicate', ['replicate', 'zeros'] as const);
  const timePad = options.timePad === undefined ? (kt - 1) * dilation[0] : nonNegativeInt('options.timePad', options.timePad);
  return runConv(x, weight, bias, { pad: [timePad, 0, padH, padW], stride, dilation, replicateTime: padMode === 'replicate' });
}

/**
 * PatchEmbed3D: zero-pad T, H, W at the end to multiples of the patch, Conv3d with kernel =
 * stride = patch, flatten to [B, N, D] with T-major tokens.
 */
export function patchEmbed3d(x: Tensor, weight: Tensor, bias?: Tensor | null, ...extra: never[]): Tensor {
  noOptions('patchEmbed3d (the patch is the weight\'s kernel)', extra);
  checkConvInputs(x, weight, bias);
  const [B, C, T, H, W] = x.shape;
  const [D, , pt, ph, pw] = weight.shape;
  if (pt === 0 || ph === 0 || pw === 0) throw new RangeError(`Expected a non-empty patch but received weight shape ${fmtShape(weight.shape)}`);
  const N = Math.ceil(T / pt) * Math.ceil(H / ph) * Math.ceil(W / pw);
  const out = Tensor.empty([B, N, D], { device: x.device, dtype: x.dtype });
  x.backend.patchEmbed3d({ dtype: x.dtype, B, C, T, H, W, D, pt, ph, pw, x, weight, bias: bias ?? null, out });
  return out;
}
