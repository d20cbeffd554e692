import { Tensor } from '../tensor';
import { expectShape, finiteNumber, fmtShape, optionsArg, sameKind, tensorArg } from '../validate';

/** softmax(q k^T * scale) v, flash-style (never materialises N x M); q [B,H,N,Dh], k/v [B,H,M,Dh]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: { scale?: number }): Tensor {
  const o = optionsArg('attention', options, ['scale']);
  tensorArg('q', q, 4);
  const [B, H, N, Dh] = q.shape;
  tensorArg('k', k, 4);
  sameKind('k', k, q, 'q');
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== Dh) {
    throw new RangeError(`Expected k to have shape [${B}, ${H}, M, ${Dh}] but received ${fmtShape(k.shape)}`);
  }
  const M = k.shape[2];
  tensorArg('v', v, 4);
  sameKind('v', v, q, 'q');
  expectShape('v', v, k.shape);
  if (M === 0 && N > 0) throw new RangeError('Expected k and v to hold at least one key (M > 0) but received M = 0');
  if (Dh === 0) throw new RangeError('Expected a head dimension > 0 but received 0');
  const scale = finiteNumber('options.scale', o.scale ?? Dh ** -0.5);
  const out = Tensor.empty(q.shape, { device: q.device, dtype: q.dtype });
  q.backend.attention({
    dtype: q.dtype, B, H, N, M, Dh, scale,
    q, qSb: H * N * Dh, qSh: N * Dh, qSn: Dh,
    k, kSb: H * M * Dh, kSh: M * Dh, kSn: Dh,
    v, vSb: H * M * Dh, vSh: M * Dh, vSn: Dh,
    o: out, oSb: H * N * Dh, oSh: N * Dh, oSn: Dh,
  });
  return out;
}
