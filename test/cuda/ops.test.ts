// Every CUDA op against the CPU op on the same (dtype-rounded) inputs, at shapes that are not tile
// multiples, in every dtype, with the one tolerance table.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ops, Tensor } from '../../lib';
import { gpuTest } from '../helpers/gpu';
import { Rng } from '../helpers/random';
import { FLOAT_TYPES } from '../helpers/tensors';
import { assertClose } from '../helpers/tolerance';

type Case = { name: string; inputs: [number[], number][]; run: (xs: Tensor[]) => Tensor };

const CASES: Case[] = [
  { name: 'linear tiny-M', inputs: [[[3, 75], 1], [[130, 75], 0.1], [[130], 1]], run: ([x, w, b]) => ops.linear(x, w, b, { activation: 'silu' }) },
  { name: 'linear tiny-M 16-byte', inputs: [[[2, 72], 1], [[131, 72], 0.1], [[131], 1]], run: ([x, w, b]) => ops.linear(x, w, b) },
  // several K steps of the GEMV's unrolled loads, the last partial; M 8 (its limit); N odd
  { name: 'linear tiny-M long K', inputs: [[[8, 1160], 1], [[133, 1160], 0.03], [[133], 1]], run: ([x, w, b]) => ops.linear(x, w, b) },
  { name: 'linear', inputs: [[[67, 75], 1], [[130, 75], 0.1], [[130], 1]], run: ([x, w, b]) => ops.linear(x, w, b, { activation: 'gelu_tanh' }) },
  { name: 'linear big', inputs: [[[300, 520], 1], [[257, 520], 0.05]], run: ([x, w]) => ops.linear(x, w) },
  // K a multiple of 8 but not of the 32-deep k-tile, M and N off the 128 x 128 block: the mma.sync
  // kernel's zero-filled edges, with the bias + GELU epilogue on its register accumulators
  { name: 'linear mma edges', inputs: [[[133, 72], 1], [[201, 72], 0.1], [[201], 1]], run: ([x, w, b]) => ops.linear(x, w, b, { activation: 'gelu_tanh' }) },
  // D = 72 and 1152: the register-resident 16-byte-vector kernel; D = 33: the generic one
  { name: 'layerNormModulate', inputs: [[[2, 37, 72], 3], [[2, 72], 1], [[2, 72], 1]], run: ([x, s, c]) => ops.layerNormModulate(x, s, c) },
  { name: 'layerNormModulate wide', inputs: [[[2, 9, 1152], 3], [[2, 1152], 1], [[2, 1152], 1]], run: ([x, s, c]) => ops.layerNormModulate(x, s, c) },
  { name: 'layerNormModulate odd D', inputs: [[[2, 5, 33], 3], [[2, 33], 1], [[2, 33], 1]], run: ([x, s, c]) => ops.layerNormModulate(x, s, c) },
  { name: 'gatedResidual', inputs: [[[2, 37, 33], 1], [[2, 33], 1], [[2, 37, 33], 1]], run: ([x, g, y]) => ops.gatedResidual(x, g, y) },
  // keys over several key tiles (online rescaling), head dims of DiT and odd ones: 16 to 128 take
  // the mma.sync kernel (40 and 72 with its m16n8k8 step), 8, 20 and 112 the WMMA fallback, over
  // 128 the SIMT kernel in every dtype
  ...[8, 16, 20, 32, 40, 48, 64, 72, 80, 96, 112, 128, 200, 256].map((dh) => ({
    name: `attention d${dh}`,
    inputs: [[[2, 3, 70, dh], 1], [[2, 3, 150, dh], 1], [[2, 3, 150, dh], 1]] as [number[], number][],
    run: ([q, k, v]: Tensor[]) => ops.attention(q, k, v),
  })),
  { name: 'attention large logits', inputs: [[[1, 2, 33, 72], 6], [[1, 2, 140, 72], 6], [[1, 2, 140, 72], 1]], run: ([q, k, v]) => ops.attention(q, k, v, { scale: 1 }) },
  // an input that starts one element into its storage: the GEMM's unaligned (element) load path
  { name: 'linear unaligned view', inputs: [[[67 * 40 + 1], 1], [[50, 40], 0.1]], run: ([x, w]) => ops.linear(x.view(1, [67, 40]), w) },
  { name: 'conv3d', inputs: [[[2, 3, 5, 7, 6], 1], [[4, 3, 3, 3, 2], 0.3], [[4], 1]], run: ([x, w, b]) => ops.conv3d(x, w, b, { stride: [1, 2, 1], padding: [1, 1, 0], dilation: [2, 1, 1] }) },
  // Cin a multiple of 8: the implicit GEMM (channels-last gather), with stride, dilation and both
  // time-padding conventions; the cases above (Cin 3, 4) take the im2col path
  { name: 'conv3d implicit gemm', inputs: [[[2, 16, 5, 9, 7], 1], [[20, 16, 3, 3, 2], 0.1], [[20], 1]], run: ([x, w, b]) => ops.conv3d(x, w, b, { stride: [1, 2, 1], padding: [1, 1, 0], dilation: [2, 1, 1] }) },
  { name: 'causalConv3d implicit gemm replicate', inputs: [[[1, 8, 6, 7, 9], 1], [[9, 8, 3, 3, 3], 0.1], [[9], 1]], run: ([x, w, b]) => ops.causalConv3d(x, w, b, { padding: [1, 1] }) },
  { name: 'causalConv3d implicit gemm zeros s2', inputs: [[[1, 24, 7, 6, 5], 1], [[130, 24, 3, 3, 3], 0.1]], run: ([x, w]) => ops.causalConv3d(x, w, null, { stride: [2, 1, 1], padding: [1, 1], padMode: 'zeros', timePad: 1 }) },
  { name: 'causalConv3d replicate', inputs: [[[1, 4, 5, 6, 7], 1], [[5, 4, 3, 3, 3], 0.3], [[5], 1]], run: ([x, w, b]) => ops.causalConv3d(x, w, b) },
  // what the TMA convolution takes (Cin a multiple of 64, output rows of 64; DIT_CUDA_CONV=tma)
  { name: 'causalConv3d rows of 64', inputs: [[[1, 64, 3, 3, 64], 1], [[72, 64, 3, 3, 3], 0.05], [[72], 1]], run: ([x, w, b]) => ops.causalConv3d(x, w, b, { padding: [1, 1] }) },
  { name: 'causalConv3d zeros s2', inputs: [[[1, 4, 5, 6, 7], 1], [[5, 4, 3, 3, 3], 0.3]], run: ([x, w]) => ops.causalConv3d(x, w, null, { stride: [2, 1, 1], padMode: 'zeros', timePad: 1 }) },
  { name: 'patchEmbed3d', inputs: [[[2, 3, 3, 5, 4], 1], [[7, 3, 2, 2, 2], 0.3], [[7], 1]], run: ([x, w, b]) => ops.patchEmbed3d(x, w, b) },
  { name: 'gelu', inputs: [[[1001], 3]], run: ([x]) => ops.gelu(x, { approximate: 'tanh' }) },
  { name: 'silu', inputs: [[[1001], 3]], run: ([x]) => ops.silu(x) },
  { name: 'unpatchify', inputs: [[[2, 12, 12], 1]], run: ([x]) => ops.unpatchify(x, { gridSize: [2, 3, 2], patchSize: [1, 2, 2], outChannels: 3 }) },
];

for (const dtype of FLOAT_TYPES) {
  for (const c of CASES) {
    gpuTest(`cuda ${c.name} ${dtype} matches the CPU`, async (t) => {
      const rng = new Rng(c.name.length * 31 + dtype.length);
      const cpuInputs = c.inputs.map(([shape, scale]) => Tensor.from(rng.normals(shape.reduce((a, b) => a * b, 1), scale), shape, { device: 'cpu', dtype }));
      const gpuInputs = cpuInputs.map((x) => x.to('cuda'));
      const expected = await c.run(cpuInputs).toFloat32Array();
      const got = c.run(gpuInputs);
      t.is(got.device, 'cuda');
      assertClose(t, await got.toFloat32Array(), expected, dtype, `cuda ${c.name}`);
    });
  }
}

// rows with a large common offset: both LayerNorm kernels take statistics of the shifted row (f32)
for (const D of [72, 1152, 33]) {
  gpuTest(`cuda layerNormModulate f32 keeps its precision on rows offset by 1000 (D ${D})`, async (t) => {
    const rng = new Rng(D);
    const x = rng.normals(2 * 9 * D, 1).map((v) => v + 1000);
    const cpu = [Tensor.from(x, [2, 9, D]), Tensor.from(rng.normals(2 * D, 1), [2, D]), Tensor.from(rng.normals(2 * D, 1), [2, D])];
    const expected = await ops.layerNormModulate(cpu[0], cpu[1], cpu[2]).toFloat32Array();
    const gpu = cpu.map((c) => c.to('cuda'));
    assertClose(t, await ops.layerNormModulate(gpu[0], gpu[1], gpu[2]).toFloat32Array(), expected, 'f32', 'offset rows');
  });
}

gpuTest('cuda conv3d with no input channels gives the bias (K = 0)', async (t) => {
  for (const dtype of FLOAT_TYPES) {
    const on = { device: 'cuda' as const, dtype };
    const y = ops.conv3d(Tensor.from(new Float32Array(0), [1, 0, 3, 4, 4], on), Tensor.from(new Float32Array(0), [2, 0, 3, 3, 3], on),
      Tensor.from([1, 2], [2], on), { padding: 1 });
    const v = await y.toFloat32Array();
    t.deepEqual([v[0], v[47], v[48], v[95]], [1, 1, 2, 2], dtype);
  }
});

gpuTest('cuda timestepEmbedding and casts match the CPU', async (t) => {
  const times = [0, 1, 17.5, 999];
  const cpu = await ops.timestepEmbedding(Tensor.from(times, [4]), 256).toFloat32Array();
  const gpu = await ops.timestepEmbedding(Tensor.from(times, [4], { device: 'cuda' }), 256).toFloat32Array();
  assertClose(t, gpu, cpu, 'f32', 'timestep embedding');
  const x = Tensor.from(new Float32Array([1.5, -2.25, 3e-3, 65504]), [4], { device: 'cuda' });
  for (const dtype of FLOAT_TYPES) {
    t.deepEqual(Array.from(await x.to({ dtype }).toFloat32Array()), Array.from(await x.to('cpu').to({ dtype }).toFloat32Array()), dtype);
  }
  // 2^60 + 2^36 + 1 rounds once to 2^60 + 2^37; through double first it would round to 2^60
  const ints = Tensor.from(new BigInt64Array([5n, -7n, 2n ** 60n + 2n ** 36n + 1n]), [3], { device: 'cuda' });
  t.deepEqual(Array.from(await ints.to({ dtype: 'f32' }).toFloat32Array()), [5, -7, 2 ** 60 + 2 ** 37]);
});

gpuTest('cuda attention refuses a head dim over 256 by name (the CPU takes any)', (t) => {
  const x = Tensor.zeros([1, 1, 2, 264], { device: 'cuda' });
  t.throws(() => ops.attention(x, x, x), { message: /head dim 264 is not supported on CUDA; supported: 1 to 256/ });
});

// a mistyped kernel switch is an error naming the accepted values, not a silent fallback (the
// switches are read once per process, hence a child process)
gpuTest('cuda refuses an unknown kernel switch by name', (t) => {
  const script = `
    const { ops, Tensor } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))});
    const x = Tensor.zeros([130, 64], { device: 'cuda', dtype: 'bf16' });
    try { ops.linear(x, Tensor.zeros([70, 64], { device: 'cuda', dtype: 'bf16' })); console.log('no error'); }
    catch (e) { console.log(e.code + ' ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8', env: { ...process.env, DIT_CUDA_GEMM: 'tmaa' } });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^ERR_DIT_NATIVE linear: DIT_CUDA_GEMM=tmaa is not a kernel this op has; use one of: auto, mma, wmma, wgmma, tma/);
});
