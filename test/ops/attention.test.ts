import test from 'ava';
import { ops } from '../../lib';
import { Rng } from '../helpers/random';
import { attentionRef } from '../helpers/reference';
import { FLOAT_TYPES, randomTensor } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

// [B, H, N, M, Dh]: one key; N, M off the 64-row tiles and the 4-row groups; head dims of DiT
// (72 = 1152 / 16, 64) and odd ones; cross-attention (N != M).
const SHAPES: [number, number, number, number, number][] = [
  [1, 1, 1, 1, 8], [1, 2, 5, 3, 16], [2, 3, 67, 45, 72], [1, 2, 130, 130, 64], [1, 1, 66, 200, 33], [2, 1, 9, 129, 96],
];

for (const dtype of FLOAT_TYPES) {
  test(`attention ${dtype} matches softmax(q k^T / sqrt(d)) v`, async (t) => {
    const rng = new Rng(99);
    for (const [B, H, N, M, Dh] of SHAPES) {
      const q = await randomTensor(rng, [B, H, N, Dh], dtype);
      const k = await randomTensor(rng, [B, H, M, Dh], dtype);
      const v = await randomTensor(rng, [B, H, M, Dh], dtype);
      const o = ops.attention(q.t, k.t, v.t);
      t.deepEqual(o.shape, [B, H, N, Dh]);
      const expected = attentionRef(q.values, k.values, v.values, B, H, N, M, Dh, Dh ** -0.5);
      assertClose(t, await o.toFloat32Array(), expected, dtype, `attention ${[B, H, N, M, Dh]}`);
      for (const z of [q.t, k.t, v.t, o]) z.dispose();
    }
  });
}

test('attention with large logits stays finite (online softmax rescaling)', async (t) => {
  const rng = new Rng(5);
  const q = await randomTensor(rng, [1, 1, 70, 16], 'f32', 8);
  const k = await randomTensor(rng, [1, 1, 150, 16], 'f32', 8);
  const v = await randomTensor(rng, [1, 1, 150, 16], 'f32');
  const o = ops.attention(q.t, k.t, v.t, { scale: 1 });
  const expected = attentionRef(q.values, k.values, v.values, 1, 1, 70, 150, 16, 1);
  assertClose(t, await o.toFloat32Array(), expected, 'f32', 'attention large logits');
});

test('bf16 attention with scaled scores past 2^31 stays finite (both softmax passes see the same scaled score)', async (t) => {
  // q, k of +-1e5: scores ~1e10; an FMA-contracted exp argument put the top score's exponent
  // beyond +-127 (NaN rows on full 64-key blocks, the AVX512-BF16 path)
  const { Tensor } = await import('../../lib');
  const rng = new Rng(6);
  for (const M of [64, 128]) {
    const q = Tensor.from(rng.normals(16 * 64).map((x) => x * 1e5), [1, 1, 16, 64], { dtype: 'bf16' });
    const k = Tensor.from(rng.normals(M * 64).map((x) => x * 1e5), [1, 1, M, 64], { dtype: 'bf16' });
    const v = Tensor.from(rng.normals(M * 64), [1, 1, M, 64], { dtype: 'bf16' });
    const o = await ops.attention(q, k, v).toFloat32Array();
    t.is(o.filter((x) => !Number.isFinite(x)).length, 0, `M ${M}`);
  }
});

// Scores 1000 apart: every probability but the top one underflows to an exact 0 (the softmax's
// exp2 flushes far below its range, and a row's max moving up in a later key block rescales what
// came before by exactly 0), so the output is the top key's value row, exactly. The top key sits
// in the first, a middle and the last of 3 key blocks; a NaN in one query row gives that row NaN
// and leaves the others alone.
for (const dtype of ['f32', 'bf16'] as const) {
  test(`${dtype} attention: far-apart scores select the top key exactly, NaN stays in its row`, async (t) => {
    const { Tensor } = await import('../../lib');
    const M = 150, Dh = 16;
    for (const top of [0, 70, M - 1]) {
      const q = new Float32Array(3 * Dh);
      q[0] = 1;
      q[Dh] = 1;
      q[2 * Dh] = NaN;
      const k = new Float32Array(M * Dh), v = new Float32Array(M * Dh);
      for (let j = 0; j < M; j++) {
        k[j * Dh] = j === top ? 1000 : -1000 * (1 + (j % 5));  // scores rise and fall across blocks
        for (let d = 0; d < Dh; d++) v[j * Dh + d] = j - d;  // small integers: exact in bf16
      }
      const o = await ops.attention(
        Tensor.from(q, [1, 1, 3, Dh], { dtype }), Tensor.from(k, [1, 1, M, Dh], { dtype }), Tensor.from(v, [1, 1, M, Dh], { dtype }),
        { scale: 1 },
      ).toFloat32Array();
      t.deepEqual(Array.from(o.subarray(0, 2 * Dh)), [...Array.from(v.subarray(top * Dh, (top + 1) * Dh)), ...Array.from(v.subarray(top * Dh, (top + 1) * Dh))], `top ${top}`);
      t.true(o.subarray(2 * Dh).every((x) => Number.isNaN(x)), `NaN row, top ${top}`);
    }
  });
}

test('attention rejects mismatched shapes', async (t) => {
  const rng = new Rng(6);
  const q = await randomTensor(rng, [1, 2, 3, 8], 'f32');
  const k = await randomTensor(rng, [1, 2, 4, 9], 'f32');
  const v = await randomTensor(rng, [1, 2, 5, 8], 'f32');
  t.throws(() => ops.attention(q.t, k.t, k.t), { instanceOf: RangeError, message: /Expected k to have shape \[1, 2, M, 8\] but received \[1, 2, 4, 9\]/ });
  t.throws(() => ops.attention(q.t, v.t, q.t), { instanceOf: RangeError, message: /Expected v to have shape \[1, 2, 5, 8\]/ });
  t.throws(() => ops.attention(q.t, q.t, q.t, { scale: Number.NaN }), { instanceOf: TypeError, message: /options.scale/ });
  t.throws(() => ops.attention(q.t, q.t, q.t, { scael: 1 } as never), { instanceOf: TypeError, message: /Unknown option 'scael' of attention \(known: scale\)/ });
});
