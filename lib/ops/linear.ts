import { type Activation } from '../backend';
import { Tensor } from '../tensor';
import { expectShape, oneOf, optionsArg, sameKind, tensorArg } from '../validate';

export interface LinearOptions {
  activation?: 'gelu_tanh' | 'silu' | 'gelu' | 'none';
}

/** y = act(x W^T + b); x [..., K], weight [N, K] (PyTorch layout), bias [N] -> [..., N]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: LinearOptions): Tensor {
  const o = optionsArg('linear', options, ['activation']);
  tensorArg('x', x);
  if (x.shape.length < 1) throw new RangeError('Expected x to have at least 1 dimension but received a scalar');
  tensorArg('weight', weight, 2);
  sameKind('weight', weight, x, 'x');
  const K = x.shape[x.shape.length - 1];
  const N = weight.shape[0];
  if (weight.shape[1] !== K) {
    throw new RangeError(`Expected weight to have shape [N, ${K}] (K from x's last dimension) but received [${weight.shape.join(', ')}]`);
  }
  if (bias !== undefined && bias !== null) {
    tensorArg('bias', bias, 1);
    sameKind('bias', bias, x, 'x');
    expectShape('bias', bias, [N]);
  }
  const activation = oneOf<Activation>('options.activation', o.activation ?? 'none', ['none', 'gelu_tanh', 'silu', 'gelu']);
  const M = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const out = Tensor.empty([...x.shape.slice(0, -1), N], { device: x.device, dtype: x.dtype });
  x.backend.linear({ dtype: x.dtype, M, N, K, a: x, lda: K, w: weight, ldw: K, c: out, ldc: N, bias: bias ?? null, activation });
  return out;
}
