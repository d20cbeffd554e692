import test from 'ava';
import { ops, Tensor } from '../../lib';
import { Rng } from '../helpers/random';
import { activationRef, timestepEmbeddingRef } from '../helpers/reference';
import { FLOAT_TYPES, randomTensor } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

for (const dtype of FLOAT_TYPES) {
  test(`gelu and silu ${dtype} match their definitions (incl. tails)`, async (t) => {
    const rng = new Rng(31);
    const x = await randomTensor(rng, [3, 1001], dtype, 4);
    for (const [name, y, act] of [
      ['gelu tanh', ops.gelu(x.t, { approximate: 'tanh' }), 'gelu_tanh'],
      ['gelu erf', ops.gelu(x.t), 'gelu'],
      ['silu', ops.silu(x.t), 'silu'],
    ] as const) {
      const expected = Array.from(x.values, (v) => activationRef(v, act));
      assertClose(t, await y.toFloat32Array(), expected, dtype, name);
    }
  });
}

test('timestepEmbedding is [cos | sin] with max_period 10000, fractional and large t', async (t) => {
  const times = [0, 1, 17.5, 999, 500.25];
  const e = ops.timestepEmbedding(Tensor.from(times, [5]), 256);
  t.deepEqual(e.shape, [5, 256]);
  assertClose(t, await e.toFloat32Array(), timestepEmbeddingRef(times, 256, 10000), 'f32', 'timestep embedding');
  const odd = await ops.timestepEmbedding(Tensor.from([3], [1]), 7, { maxPeriod: 100 }).toFloat32Array();
  t.is(odd[6], 0, 'odd dims end with a zero column');
  assertClose(t, odd.slice(0, 6), timestepEmbeddingRef([3], 6, 100), 'f32', 'odd dim');
  const fromArray = await ops.timestepEmbedding([0, 1, 17.5, 999, 500.25], 256).toFloat32Array();
  assertClose(t, fromArray, timestepEmbeddingRef(times, 256, 10000), 'f32', 'timesteps as an array');
  t.throws(() => ops.timestepEmbedding('7' as never, 8), { instanceOf: TypeError, message: /Expected t to be a Tensor or an array of numbers/ });
  const fromInt = await ops.timestepEmbedding(Tensor.from(new Int32Array([5, 7]), [2]), 8).toFloat32Array();
  assertClose(t, fromInt, timestepEmbeddingRef([5, 7], 8, 10000), 'f32', 'int timesteps');
});

test('unpatchify inverts the token layout (channel fastest within a token)', async (t) => {
  const [B, tt, h, w, pt, ph, pw, C] = [2, 2, 3, 2, 1, 2, 2, 3];
  const N = tt * h * w, F = pt * ph * pw * C;
  const data = new Float32Array(B * N * F).map((_, i) => i);
  const y = ops.unpatchify(Tensor.from(data, [B, N, F]), { gridSize: [tt, h, w], patchSize: [pt, ph, pw], outChannels: C });
  t.deepEqual(y.shape, [B, C, tt * pt, h * ph, w * pw]);
  const out = await y.toFloat32Array();
  const [To, Ho, Wo] = [tt * pt, h * ph, w * pw];
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let ti = 0; ti < tt; ti++) for (let hi = 0; hi < h; hi++) for (let wi = 0; wi < w; wi++)
        for (let r = 0; r < pt; r++) for (let p = 0; p < ph; p++) for (let q = 0; q < pw; q++) {
          const want = data[(b * N + (ti * h + hi) * w + wi) * F + ((r * ph + p) * pw + q) * C + c];
          const got = out[(((b * C + c) * To + ti * pt + r) * Ho + hi * ph + p) * Wo + wi * pw + q];
          if (got !== want) return t.fail(`mismatch at b=${b} c=${c} t=${ti} h=${hi} w=${wi}`);
        }
  t.pass();
  t.throws(() => ops.unpatchify(Tensor.from(data, [B, N, F]), { gridSize: [2, 2, 2], patchSize: [pt, ph, pw], outChannels: C }), {
    instanceOf: RangeError, message: /Expected x to have shape \[2, 8, 12\]/,
  });
});

test('tensors convert between dtypes and reject bad data', async (t) => {
  const rng = new Rng(32);
  const x = await randomTensor(rng, [4, 5], 'f32');
  for (const dtype of FLOAT_TYPES) {
    const y = x.t.to({ dtype });
    t.is(y.dtype, dtype);
    assertClose(t, await y.toFloat32Array(), x.values, dtype, `cast to ${dtype}`);
  }
  const big = Tensor.from([3000000000, -5], [2], { dtype: 'i64' });
  t.deepEqual(Array.from(await big.toFloat32Array()), [3000000000, -5]);
  t.throws(() => Tensor.from([1.5], [1], { dtype: 'i32' }), { instanceOf: RangeError, message: /Expected integers that fit i32/ });
  t.throws(() => Tensor.from([2 ** 31], [1], { dtype: 'i32' }), { instanceOf: RangeError, message: /fit i32 in data but received 2147483648/ });
  t.deepEqual(Array.from(await Tensor.from([2 ** 31 - 1, -(2 ** 31)], [2], { dtype: 'i32' }).toInt32Array()), [2 ** 31 - 1, -(2 ** 31)]);
  t.throws(() => Tensor.from(new Uint8Array(2) as never, [2]), { instanceOf: TypeError, message: /received Uint8Array of length 2/ });
  t.throws(() => Tensor.from([1], [1], { device: 'gpu' as never }), { instanceOf: TypeError, message: /device to be one of 'auto', 'cpu', 'cuda' but received 'gpu'/ });
  t.throws(() => Tensor.empty([2 ** 20, 2 ** 20, 2 ** 20]), { instanceOf: RangeError, message: /at most 2\^52 bytes but shape \[1048576, 1048576, 1048576\] of f32/ });
  // doubles to integers exactly (not through f32), and checked like numbers
  t.deepEqual(Array.from(await Tensor.from(new Float64Array([16777217, 2 ** 31 - 1]), [2], { dtype: 'i32' }).toInt32Array()), [16777217, 2 ** 31 - 1]);
  t.throws(() => Tensor.from(new Float64Array([0.5]), [1], { dtype: 'i64' }), { instanceOf: RangeError, message: /fit i64 in data but received 0.5/ });
  t.throws(() => Tensor.from(new Float32Array([Number.NaN]), [1], { dtype: 'i32' }), { instanceOf: RangeError, message: /fit i32 in data but received NaN/ });
  t.deepEqual(Array.from(await Tensor.from(new Float32Array([-3, 16777216]), [2], { dtype: 'i64' }).toFloat32Array()), [-3, 16777216]);
  t.deepEqual(Array.from(await Tensor.from(new Float32Array([2 ** 60, -(2 ** 63)]), [2], { dtype: 'i64' }).toFloat32Array()), [2 ** 60, -(2 ** 63)]);
  t.throws(() => Tensor.from(new Float32Array([2 ** 63]), [1], { dtype: 'i64' }), { instanceOf: RangeError, message: /fit i64/ });
  t.throws(() => x.t.to(undefined as never), { instanceOf: TypeError, message: /Tensor.to but received undefined/ });
  // i64 to f32 rounds once (2^60 + 2^36 + 1 is above the midpoint of 2^60 and 2^60 + 2^37; via double it was 2^60)
  const i64 = Tensor.from(new BigInt64Array([2n ** 60n + 2n ** 36n + 1n]), [1]);
  t.deepEqual(Array.from(await i64.to({ dtype: 'f32' }).toFloat32Array()), [2 ** 60 + 2 ** 37]);
  t.deepEqual(Array.from(await Tensor.from(new BigInt64Array([2n ** 60n + 2n ** 36n + 1n]), [1], { dtype: 'f32' }).toFloat32Array()), [2 ** 60 + 2 ** 37]);
  const ints = Tensor.from(new BigInt64Array([1n, -2n, 3000000000n]), [3]);
  t.is(ints.dtype, 'i64');
  t.deepEqual(Array.from(await ints.toFloat32Array()), [1, -2, 3000000000]);
  t.throws(() => Tensor.from(new Float32Array(5), [2, 3]), { instanceOf: RangeError, message: /Expected 6 elements for shape \[2, 3\] but received 5/ });
  t.throws(() => Tensor.from(new Float32Array(2), [2, -1]), { instanceOf: TypeError, message: /non-negative integers for shape/ });
  t.throws(() => Tensor.from(new Uint16Array(2), [2]), { instanceOf: TypeError, message: /f16 or bf16/ });
  t.throws(() => Tensor.from(new Float32Array(2), [2], { dtype: 'f64' as never }), { instanceOf: TypeError, message: /Expected dtype to be one of/ });
  const d = Tensor.from([1, 2], [2]);
  d.dispose();
  d.dispose(); // idempotent
  await t.throwsAsync(() => d.toFloat32Array(), { code: 'ERR_DIT_DISPOSED' });
  t.throws(() => x.t.reshape([3, 7]), { instanceOf: RangeError, message: /20 elements/ });
  const r = x.t.reshape([20]);
  x.t.dispose();
  t.deepEqual(Array.from(await r.toFloat32Array()), Array.from(x.values), 'a reshape keeps the storage alive');
  // options are an object or absent (null is an error naming the call); unknown keys are errors
  t.throws(() => Tensor.from([1], [1], null as never), { instanceOf: TypeError, message: /options of Tensor.from to be an object but received null/ });
  t.throws(() => Tensor.empty([1], { dtyp: 'f16' } as never), { instanceOf: TypeError, message: /Unknown option 'dtyp' of Tensor.empty/ });
  t.throws(() => Tensor.zeros([1], null as never), { instanceOf: TypeError, message: /Tensor.zeros/ });
  t.throws(() => r.to(null as never), { instanceOf: TypeError, message: /options of Tensor.to to be an object but received null/ });
  // data on a SharedArrayBuffer (shared with a worker) is copied, not refused by N-API
  const shared = new Float32Array(new SharedArrayBuffer(8));
  shared.set([1.5, -2]);
  t.deepEqual(Array.from(await Tensor.from(shared, [2]).toFloat32Array()), [1.5, -2]);
  // ops without options refuse a trailing argument rather than ignore it
  t.throws(() => ops.silu(r, { inplace: true } as never), { instanceOf: TypeError, message: /silu takes no options but received Object/ });
  t.throws(() => ops.gatedResidual(r, r, r, {} as never), { instanceOf: TypeError, message: /gatedResidual takes no options/ });
  const empty = Tensor.from(new Float32Array(0), [0, 3]);
  t.deepEqual(Array.from(await empty.toFloat32Array()), []);
});
