import test from 'ava';
import { ops, Tensor } from '../../lib';
import { Rng } from '../helpers/random';
import { conv3dRef } from '../helpers/reference';
import { FLOAT_TYPES, randomTensor } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

interface Case {
  x: number[]; w: number[]; stride: [number, number, number]; dilation: [number, number, number]; padding: [number, number, number];
}
const CASES: Case[] = [
  { x: [1, 1, 1, 1, 1], w: [1, 1, 1, 1, 1], stride: [1, 1, 1], dilation: [1, 1, 1], padding: [0, 0, 0] },
  { x: [2, 3, 5, 7, 6], w: [4, 3, 3, 3, 3], stride: [1, 1, 1], dilation: [1, 1, 1], padding: [1, 1, 1] },
  { x: [1, 2, 9, 11, 10], w: [5, 2, 3, 3, 2], stride: [2, 2, 1], dilation: [1, 2, 1], padding: [0, 2, 1] },
  { x: [1, 4, 4, 5, 5], w: [3, 4, 2, 1, 3], stride: [1, 3, 2], dilation: [2, 1, 1], padding: [1, 0, 1] },
  // more output positions than one im2col chunk (1024)
  { x: [2, 2, 3, 24, 23], w: [3, 2, 3, 3, 3], stride: [1, 1, 1], dilation: [1, 1, 1], padding: [1, 1, 1] },
];

for (const dtype of FLOAT_TYPES) {
  test(`conv3d ${dtype} matches F.conv3d (stride, dilation, padding)`, async (t) => {
    const rng = new Rng(21);
    for (const c of CASES) {
      const x = await randomTensor(rng, c.x, dtype);
      const w = await randomTensor(rng, c.w, dtype, 0.3);
      const b = await randomTensor(rng, [c.w[0]], dtype);
      const y = ops.conv3d(x.t, w.t, b.t, { stride: c.stride, dilation: c.dilation, padding: c.padding });
      const ref = conv3dRef({
        x: x.values, B: c.x[0], Cin: c.x[1], T: c.x[2], H: c.x[3], W: c.x[4],
        w: w.values, Cout: c.w[0], kt: c.w[2], kh: c.w[3], kw: c.w[4], bias: b.values,
        stride: c.stride, dilation: c.dilation, padTFront: c.padding[0], padTBack: c.padding[0], padH: c.padding[1], padW: c.padding[2], replicateTime: false,
      });
      t.deepEqual(y.shape, ref.shape);
      assertClose(t, await y.toFloat32Array(), ref.out, dtype, `conv3d ${JSON.stringify(c)}`);
    }
  });

  test(`causalConv3d ${dtype}: EasyAnimate replicate and Open-Sora zeros padding`, async (t) => {
    const rng = new Rng(22);
    const x = await randomTensor(rng, [2, 3, 5, 6, 7], dtype);
    const w = await randomTensor(rng, [4, 3, 3, 3, 3], dtype, 0.3);
    const b = await randomTensor(rng, [4], dtype);
    const base = { x: x.values, B: 2, Cin: 3, T: 5, H: 6, W: 7, w: w.values, Cout: 4, kt: 3, kh: 3, kw: 3, bias: b.values, padTBack: 0, padH: 1, padW: 1 };
    // EasyAnimate: replicate the first frame (kt - 1) * d_t times, no stride correction
    for (const [st, dt] of [[1, 1], [2, 1], [1, 2]]) {
      const y = ops.causalConv3d(x.t, w.t, b.t, { stride: [st, 1, 1], dilation: [dt, 1, 1], padMode: 'replicate' });
      const ref = conv3dRef({ ...base, stride: [st, 1, 1], dilation: [dt, 1, 1], padTFront: 2 * dt, replicateTime: true });
      t.deepEqual(y.shape, ref.shape);
      assertClose(t, await y.toFloat32Array(), ref.out, dtype, `causal replicate st=${st} dt=${dt}`);
    }
    // Open-Sora 1.2: zeros, time_pad = (kt - 1) * d + 1 - stride
    const y = ops.causalConv3d(x.t, w.t, b.t, { stride: [2, 1, 1], padMode: 'zeros', timePad: 2 + 1 - 2 });
    const ref = conv3dRef({ ...base, stride: [2, 1, 1], dilation: [1, 1, 1], padTFront: 1, replicateTime: false });
    t.deepEqual(y.shape, [2, 4, 2, 6, 7]);
    assertClose(t, await y.toFloat32Array(), ref.out, dtype, 'causal zeros stride 2');
  });
}

test('causalConv3d output at frame t depends only on frames <= t', async (t) => {
  const rng = new Rng(23);
  const data = rng.normals(1 * 2 * 6 * 4 * 4);
  const w = Tensor.from(rng.normals(3 * 2 * 3 * 3 * 3), [3, 2, 3, 3, 3]);
  const y1 = await ops.causalConv3d(Tensor.from(data, [1, 2, 6, 4, 4]), w).toFloat32Array();
  const changed = data.slice();
  for (let c = 0; c < 2; c++) for (let i = 0; i < 16; i++) changed[(c * 6 + 5) * 16 + i] += 1; // last frame only
  const y2 = await ops.causalConv3d(Tensor.from(changed, [1, 2, 6, 4, 4]), w).toFloat32Array();
  const frame = 3 * 16; // per-channel frame stride in the output is 16, 3 channels x 6 frames
  let firstDiff = -1;
  for (let c = 0; c < 3 && firstDiff < 0; c++)
    for (let f = 0; f < 6; f++) {
      const o = (c * 6 + f) * 16;
      if (y1.slice(o, o + 16).some((v, i) => v !== y2[o + i])) { firstDiff = f; break; }
    }
  t.is(firstDiff, 5, `only the last output frame may change (frame stride ${frame})`);
});

for (const dtype of FLOAT_TYPES) {
  test(`patchEmbed3d ${dtype} pads to the patch and flattens T-major`, async (t) => {
    const rng = new Rng(24);
    // T, H, W not multiples of the patch: PatchEmbed3D zero-pads at the end
    const [B, C, T, H, W, D, pt, ph, pw] = [2, 3, 3, 5, 4, 7, 2, 2, 2];
    const x = await randomTensor(rng, [B, C, T, H, W], dtype);
    const w = await randomTensor(rng, [D, C, pt, ph, pw], dtype, 0.3);
    const b = await randomTensor(rng, [D], dtype);
    const y = ops.patchEmbed3d(x.t, w.t, b.t);
    // PatchEmbed3D pads at the end: T = 3 -> 4 through padTBack, H = 5 -> 6 by copying into a taller input
    const x6 = new Float32Array(B * C * T * 6 * W);
    for (let i = 0; i < B * C * T; i++) for (let h = 0; h < H; h++) for (let q = 0; q < W; q++) x6[(i * 6 + h) * W + q] = x.values[(i * H + h) * W + q];
    const ref6 = conv3dRef({
      x: x6, B, Cin: C, T, H: 6, W, w: w.values, Cout: D, kt: pt, kh: ph, kw: pw, bias: b.values,
      stride: [pt, ph, pw], dilation: [1, 1, 1], padTFront: 0, padTBack: 1, padH: 0, padW: 0, replicateTime: false,
    });
    t.is(ref6.shape[2], 2);
    const [, , to, ho, wo] = ref6.shape;
    const N = to * ho * wo;
    t.deepEqual(y.shape, [B, N, D]);
    const tokens = new Float64Array(B * N * D);
    for (let bb = 0; bb < B; bb++) for (let d = 0; d < D; d++) for (let n = 0; n < N; n++) tokens[(bb * N + n) * D + d] = ref6.out[(bb * D + d) * N + n];
    assertClose(t, await y.toFloat32Array(), tokens, dtype, 'patchEmbed3d');
  });
}

test('conv ops reject bad geometry with clear messages', async (t) => {
  const rng = new Rng(25);
  const x = await randomTensor(rng, [1, 2, 2, 2, 2], 'f32');
  const w = await randomTensor(rng, [3, 2, 3, 3, 3], 'f32');
  t.throws(() => ops.conv3d(x.t, w.t), { instanceOf: RangeError, message: /at least the dilated kernel/ });
  t.throws(() => ops.conv3d(x.t, w.t, null, { stride: 0 }), { instanceOf: TypeError, message: /Expected positive integer for options.stride but received number 0/ });
  const w4 = await randomTensor(rng, [3, 4, 1, 1, 1], 'f32');
  t.throws(() => ops.conv3d(x.t, w4.t), { instanceOf: RangeError, message: /Expected weight to have shape \[Cout, 2, kt, kh, kw\]/ });
  t.throws(() => ops.causalConv3d(x.t, w.t, null, { padMode: 'reflect' as never }), { instanceOf: TypeError, message: /options.padMode/ });
  // an option PyTorch has and dit-native does not is an error, never silently ignored
  t.throws(() => ops.conv3d(x.t, w.t, null, { padding: 1, groups: 2 }), { instanceOf: RangeError, message: /options.groups to be 1 \(grouped convolutions are not supported\) but received 2/ });
  t.throws(() => ops.causalConv3d(x.t, w.t, null, { groups: 2 }), { instanceOf: RangeError, message: /options.groups to be 1/ });
  t.deepEqual(ops.conv3d(x.t, w.t, null, { padding: 1, groups: 1 }).shape, [1, 3, 2, 2, 2]);
  t.throws(() => ops.conv3d(x.t, w.t, null, { padding: 1, group: 1 } as never), { instanceOf: TypeError, message: /Unknown option 'group' of conv3d \(known: stride, padding, dilation, groups\)/ });
  t.throws(() => ops.conv3d(x.t, w.t, null, { padding: 'same', stride: 2 }), { instanceOf: RangeError, message: /stride 1 with padding 'same'/ });
  t.throws(() => ops.patchEmbed3d(x.t, w.t, null, { stride: 2 } as never), { instanceOf: TypeError, message: /patchEmbed3d \(the patch is the weight's kernel\) takes no options/ });
  const w2 = await randomTensor(rng, [3, 2, 2, 1, 1], 'f32');
  t.throws(() => ops.conv3d(x.t, w2.t, null, { padding: 'same' }), { instanceOf: RangeError, message: /even dilation \* \(kernel - 1\).*\[1, 0, 0\]/ });
});

test("conv3d padding 'same' and 'valid' are PyTorch's", async (t) => {
  const rng = new Rng(26);
  const x = await randomTensor(rng, [1, 2, 4, 5, 6], 'f32');
  const w = await randomTensor(rng, [3, 2, 3, 1, 3], 'f32');
  const same = ops.conv3d(x.t, w.t, null, { padding: 'same', dilation: [1, 2, 2] });
  t.deepEqual(same.shape, [1, 3, 4, 5, 6]);
  const explicit = ops.conv3d(x.t, w.t, null, { padding: [1, 0, 2], dilation: [1, 2, 2] });
  t.deepEqual(Array.from(await same.toFloat32Array()), Array.from(await explicit.toFloat32Array()));
  t.deepEqual(ops.conv3d(x.t, w.t, null, { padding: 'valid' }).shape, [1, 3, 2, 5, 4]);
});
