import test from 'ava';
import { ops, Tensor } from '../../lib';
import { Rng } from '../helpers/random';
import { linearRef } from '../helpers/reference';
import { FLOAT_TYPES, randomTensor } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

// (M, N, K): tiny-M gemv path (M <= 4), odd sizes around the micro-tile (14 x 32 on AVX-512,
// 6 x 16 on AVX2), blocks larger than one task (112 x 256), several stripes of packed A, K = 1,
// and long K walked in chunks (more than 384 packed elements: f32 values or bf16 pairs), odd too.
const SHAPES: [number, number, number][] = [
  [1, 7, 5], [3, 33, 17], [5, 1, 9], [13, 31, 1], [37, 65, 129], [100, 50, 3], [131, 260, 70],
  [2, 9, 1100], [25, 20, 1100], // K past the GEMV's 512-element chunks
  [29, 45, 1001], // an odd K in several chunks of the GEMM
  [17, 40, 30], [16, 9, 30], // last micro-tile of 3 and 2 rows (the 4- and 2-row kernels)
  [1601, 35, 6], // M past one stripe of packed A (16 blocks of 96 rows on AVX-512, of 48 on AVX2)
];

for (const dtype of FLOAT_TYPES) {
  for (const activation of ['none', 'gelu_tanh', 'silu'] as const) {
    test(`linear ${dtype} ${activation} matches the reference on odd shapes`, async (t) => {
      const rng = new Rng(1234 + activation.length);
      for (const [M, N, K] of SHAPES) {
        const x = await randomTensor(rng, [M, K], dtype);
        const w = await randomTensor(rng, [N, K], dtype, 1 / Math.sqrt(K));
        const withBias = (M + N) % 2 === 0;
        const b = withBias ? await randomTensor(rng, [N], dtype) : null;
        const y = ops.linear(x.t, w.t, b?.t ?? null, { activation });
        t.deepEqual(y.shape, [M, N]);
        const expected = linearRef(x.values, M, K, w.values, N, b?.values ?? null, activation);
        assertClose(t, await y.toFloat32Array(), expected, dtype, `linear M=${M} N=${N} K=${K}`);
        for (const z of [x.t, w.t, b?.t, y]) z?.dispose();
      }
    });
  }
}

test('linear keeps leading dimensions', async (t) => {
  const rng = new Rng(7);
  const x = await randomTensor(rng, [2, 3, 4, 5], 'f32');
  const w = await randomTensor(rng, [6, 5], 'f32');
  const y = ops.linear(x.t, w.t);
  t.deepEqual(y.shape, [2, 3, 4, 6]);
  assertClose(t, await y.toFloat32Array(), linearRef(x.values, 24, 5, w.values, 6, null, 'none'), 'f32', 'linear 4-D');
});

test('linear with K = 0 gives act(bias) on the GEMV and the GEMM paths, in every dtype', async (t) => {
  for (const dtype of FLOAT_TYPES) {
    for (const M of [2, 9]) {
      const x = Tensor.empty([M, 0], { dtype });
      const w = Tensor.empty([5, 0], { dtype });
      const b = Tensor.from([0.5, -1, 2, 0, 3], [5], { dtype });
      const y = ops.linear(x, w, b, { activation: 'silu' });
      const silu = (v: number) => v / (1 + Math.exp(-v));
      const want = Array.from({ length: M * 5 }, (_, i) => silu([0.5, -1, 2, 0, 3][i % 5]));
      assertClose(t, await y.toFloat32Array(), want, dtype, `K = 0, M = ${M}, ${dtype}`);
    }
  }
});

test('linear rejects mismatched shapes, dtypes and activations with clear messages', async (t) => {
  const rng = new Rng(8);
  const x = await randomTensor(rng, [4, 5], 'f32');
  const w = await randomTensor(rng, [6, 7], 'f32');
  t.throws(() => ops.linear(x.t, w.t), { instanceOf: RangeError, message: /Expected weight to have shape \[N, 5\].*received \[6, 7\]/ });
  const w16 = await randomTensor(rng, [6, 5], 'f16');
  t.throws(() => ops.linear(x.t, w16.t), { instanceOf: TypeError, message: /Expected weight to have dtype f32.*received f16/ });
  const w2 = await randomTensor(rng, [6, 5], 'f32');
  const bias = await randomTensor(rng, [5], 'f32');
  t.throws(() => ops.linear(x.t, w2.t, bias.t), { instanceOf: RangeError, message: /Expected bias to have shape \[6\] but received \[5\]/ });
  t.throws(() => ops.linear(x.t, w2.t, null, { activation: 'relu' as never }), { instanceOf: TypeError, message: /options.activation/ });
  t.throws(() => ops.linear({} as never, w2.t), { instanceOf: TypeError, message: /Expected x to be a Tensor but received Object/ });
  w2.t.dispose();
  t.throws(() => ops.linear(x.t, w2.t), { code: 'ERR_DIT_DISPOSED', message: /weight/ });
});
