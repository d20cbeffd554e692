import test from 'ava';
import { ops } from '../../lib';
import { Rng } from '../helpers/random';
import { layerNormModulateRef } from '../helpers/reference';
import { FLOAT_TYPES, randomTensor } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

for (const dtype of FLOAT_TYPES) {
  test(`layerNormModulate ${dtype} matches LN(x) * (1 + scale) + shift`, async (t) => {
    const rng = new Rng(11);
    for (const [B, N, D] of [[1, 1, 1], [2, 7, 33], [3, 65, 72], [1, 3, 1152]]) {
      const x = await randomTensor(rng, [B, N, D], dtype, 3);
      const shift = await randomTensor(rng, [B, D], dtype);
      const scale = await randomTensor(rng, [B, D], dtype);
      // an offset mean checks the variance is computed around the mean (no E[x^2] - E[x]^2 cancellation)
      const y = ops.layerNormModulate(x.t, shift.t, scale.t);
      const expected = layerNormModulateRef(x.values, B, N, D, shift.values, scale.values, 1e-6);
      assertClose(t, await y.toFloat32Array(), expected, dtype, `layerNormModulate ${[B, N, D]}`);
    }
  });

  test(`gatedResidual ${dtype} matches x + gate * y`, async (t) => {
    const rng = new Rng(12);
    const [B, N, D] = [3, 5, 17];
    const x = await randomTensor(rng, [B, N, D], dtype);
    const g = await randomTensor(rng, [B, D], dtype);
    const y = await randomTensor(rng, [B, N, D], dtype);
    const out = ops.gatedResidual(x.t, g.t, y.t);
    const expected = new Float64Array(B * N * D);
    for (let i = 0; i < expected.length; i++) {
      const b = Math.floor(i / (N * D));
      expected[i] = x.values[i] + g.values[b * D + (i % D)] * y.values[i];
    }
    assertClose(t, await out.toFloat32Array(), expected, dtype, 'gatedResidual');
  });
}

test('layerNormModulate with a large common offset keeps its precision', async (t) => {
  const rng = new Rng(13);
  const D = 64;
  const data = rng.normals(D).map((v) => v + 1000);
  const { Tensor } = await import('../../lib');
  const x = Tensor.from(data, [1, 1, D]);
  const zeros = Tensor.zeros([1, D]);
  const y = ops.layerNormModulate(x, zeros, zeros);
  const expected = layerNormModulateRef(data, 1, 1, D, new Float32Array(D), new Float32Array(D), 1e-6);
  assertClose(t, await y.toFloat32Array(), expected, 'f32', 'layerNormModulate offset');
});

test('layerNormModulate with a spread whose squares overflow f32 still normalises (f32, bf16)', async (t) => {
  // one value of 1e30 among values of about 1: the sum of squares (1e60) overflowed to Inf, rstd
  // became 0 and the row came out as plain shift
  const rng = new Rng(14);
  const D = 37;
  const data = rng.normals(2 * D);
  data[5] = 1e30;
  const { Tensor } = await import('../../lib');
  for (const dtype of ['f32', 'bf16'] as const) {
    const x = Tensor.from(data, [1, 2, D], { dtype });
    const values = await x.toFloat32Array();
    const zeros = Tensor.zeros([1, D], { dtype });
    const y = ops.layerNormModulate(x, zeros, zeros);
    const expected = layerNormModulateRef(values, 1, 2, D, new Float32Array(D), new Float32Array(D), 1e-6);
    assertClose(t, await y.toFloat32Array(), expected, dtype, `layerNormModulate 1e30 ${dtype}`);
  }
});

test('layerNormModulate and gatedResidual reject wrong shapes', async (t) => {
  const rng = new Rng(14);
  const x = await randomTensor(rng, [2, 3, 4], 'f32');
  const s = await randomTensor(rng, [2, 5], 'f32');
  t.throws(() => ops.layerNormModulate(x.t, s.t, s.t), { instanceOf: RangeError, message: /Expected shift to have shape \[2, 4\] but received \[2, 5\]/ });
  t.throws(() => ops.layerNormModulate(s.t, s.t, s.t), { instanceOf: RangeError, message: /Expected x to have 3 dimensions/ });
  const g = await randomTensor(rng, [2, 4], 'f32');
  t.throws(() => ops.gatedResidual(x.t, g.t, s.t), { instanceOf: RangeError, message: /Expected y to have 3 dimensions/ });
});
