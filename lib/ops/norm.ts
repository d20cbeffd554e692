import { Tensor } from '../tensor';
import { expectShape, finiteNumber, noOptions, optionsArg, sameKind, tensorArg } from '../validate';

/** Fused adaLN: LayerNorm(x) (eps, no affine, f32 statistics) * (1 + scale[:, None]) + shift[:, None]. */
export function layerNormModulate(x: Tensor, shift: Tensor, scale: Tensor, options?: { eps?: number }): Tensor {
  const o = optionsArg('layerNormModulate', options, ['eps']);
  tensorArg('x', x, 3);
  const [B, N, D] = x.shape;
  for (const [name, t] of [['shift', shift], ['scale', scale]] as const) {
    tensorArg(name, t, 2);
    sameKind(name, t, x, 'x');
    expectShape(name, t, [B, D]);
  }
  const eps = finiteNumber('options.eps', o.eps ?? 1e-6);
  if (eps < 0) throw new RangeError(`Expected options.eps >= 0 but received ${eps}`);
  const out = Tensor.empty(x.shape, { device: x.device, dtype: x.dtype });
  x.backend.layerNormModulate({ dtype: x.dtype, B, N, D, eps, x, out, shift, scale, modStride: D });
  return out;
}

/** x + gate[:, None] * y over [B, N, D] (the adaLN-Zero gated residual). */
export function gatedResidual(x: Tensor, gate: Tensor, y: Tensor, ...extra: never[]): Tensor {
  noOptions('gatedResidual', extra);
  tensorArg('x', x, 3);
  const [B, N, D] = x.shape;
  tensorArg('gate', gate, 2);
  sameKind('gate', gate, x, 'x');
  expectShape('gate', gate, [B, D]);
  tensorArg('y', y, 3);
  sameKind('y', y, x, 'x');
  expectShape('y', y, x.shape);
  const out = Tensor.empty(x.shape, { device: x.device, dtype: x.dtype });
  x.backend.gatedResidual({ dtype: x.dtype, B, N, D, x, y, out, gate, gateStride: D });
  return out;
}
