// The whole DiT on the GPU against the PyTorch fixtures, CUDA errors, out of memory, memory flatness.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { backendInfo, DiT, readSafetensors, Tensor } from '../../lib';
import { FIXTURES, fixturePath } from '../helpers/fixtures';
import { gpuTest } from '../helpers/gpu';
import { relL2 } from '../helpers/tolerance';

const TOLERANCE = { f32: 1e-4, bf16: 2e-2, f16: 5e-3 } as const;

for (const file of FIXTURES) {
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    gpuTest(`cuda ${file} forward in ${dtype} matches PyTorch`, async (t) => {
      const data = await readSafetensors(fixturePath(file));
      const model = await DiT.load({ weights: fixturePath(file), device: 'cuda', dtype });
      const out = await model.forward({ x: data.x, t: data.t, y: data.y });
      t.is(out.device, 'cuda');
      const err = relL2(await out.toFloat32Array(), await data.out.toFloat32Array());
      t.true(err <= TOLERANCE[dtype], `relative L2 ${err.toExponential(2)} > ${TOLERANCE[dtype]}`);
      model.dispose();
    });
  }
}

gpuTest('cuda forwardWithCfg matches the fixture', async (t) => {
  const file = fixturePath('dit_tiny_cfg.safetensors');
  const data = await readSafetensors(file);
  const model = await DiT.load({ weights: file, device: 'cuda' });
  const out = await model.forwardWithCfg({ x: data.x, t: data.t, y: data.y, cfgScale: 4 });
  t.true(relL2(await out.toFloat32Array(), await data.cfg_out.toFloat32Array()) <= 1e-4);
});

gpuTest('the CLI forward --device cuda --dtype bf16 reproduces the PyTorch fixture', async (t) => {
  const file = fixturePath('dit_hd72.safetensors');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dit-cuda-cli-')), 'out.safetensors');
  const bin = path.join(__dirname, '..', '..', 'bin', 'dit-native.js');
  const r = spawnSync(process.execPath, [bin, 'forward', '--weights', file, '--input', file, '--output', out, '--device', 'cuda', '--dtype', 'bf16'], {
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const got = (await readSafetensors(out)).out;
  t.is(got.dtype, 'f32');
  const err = relL2(await got.toFloat32Array(), await (await readSafetensors(file)).out.toFloat32Array());
  t.true(err <= TOLERANCE.bf16, `relative L2 ${err.toExponential(2)}`);
});

gpuTest('asking for more memory than the GPU has is ERR_DIT_OOM and the allocator stays usable', async (t) => {
  const total = backendInfo().cuda.devices[0].totalMemory;
  t.throws(() => Tensor.empty([Math.ceil((total * 2) / 4)], { device: 'cuda' }), { code: 'ERR_DIT_OOM' });
  const x = Tensor.from([1, 2, 3], [3], { device: 'cuda' });
  t.deepEqual(Array.from(await x.toFloat32Array()), [1, 2, 3]);
});

// A full garbage collection with the tensors' finalizers run (they may be deferred to a later turn).
async function collectAllGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

gpuTest('100 forwards on the GPU keep device memory flat', async (t) => {
  const model = await DiT.load({ config: { input_size: [2, 8, 8], hidden_size: 64, depth: 2, num_heads: 2, condition: 'label_10' }, device: 'cuda' });
  const x = Tensor.zeros([2, 4, 2, 8, 8], { device: 'cuda' });
  for (let i = 0; i < 10; i++) (await model.forward({ x, t: [1, 2], y: [3, 4] })).dispose();
  // Both readings after a full collection: otherwise an earlier test's garbage, collected during
  // the loop, moves its blocks from in use to cached and the cache seems to grow (once in CI on
  // the emulator, +1.7 MB).
  await collectAllGarbage();
  const before = backendInfo().memory.cuda;
  for (let i = 0; i < 100; i++) (await model.forward({ x, t: [1, 2], y: [3, 4] })).dispose();
  await collectAllGarbage();
  const after = backendInfo().memory.cuda;
  t.true(after.bytesInUse <= before.bytesInUse, `${before.bytesInUse} -> ${after.bytesInUse}`);
  t.true(after.bytesCached <= before.bytesCached + (1 << 20), `cache ${before.bytesCached} -> ${after.bytesCached}`);
});

const STREAM_CONFIG = { input_size: [2, 8, 8], hidden_size: 128, depth: 4, num_heads: 2, condition: 'label_10' };

gpuTest('two models run side by side on their own streams and match one at a time', async (t) => {
  const a = await DiT.load({ config: STREAM_CONFIG, seed: 1, device: 'cuda', dtype: 'bf16' });
  const b = await DiT.load({ config: STREAM_CONFIG, seed: 2, device: 'cuda', dtype: 'bf16' });
  const x = Tensor.from(Array.from({ length: 2 * 4 * 2 * 8 * 8 }, (_, i) => Math.sin(i)), [2, 4, 2, 8, 8], { device: 'cuda' });
  const read = async (p: Promise<Tensor>) => {
    const out = await p;
    const v = await out.toFloat32Array();
    out.dispose();
    return v;
  };
  const alone = [await read(a.forward({ x, t: [1, 2], y: [3, 4] })), await read(b.forward({ x, t: [1, 2], y: [3, 4] }))];
  t.notDeepEqual(alone[0], alone[1]);
  const together = await Promise.all([0, 1, 0, 1, 0, 1].map((i) => read((i ? b : a).forward({ x, t: [1, 2], y: [3, 4] }))));
  together.forEach((v, i) => t.deepEqual(v, alone[i % 2], `forward ${i} differs from its model's forward alone`));
  a.dispose();
  b.dispose();
  x.dispose();
});

gpuTest('a model disposed while its forward runs still delivers that forward, and its freed blocks are not handed out early', async (t) => {
  const x = Tensor.from(Array.from({ length: 2 * 4 * 2 * 8 * 8 }, (_, i) => Math.cos(i)), [2, 4, 2, 8, 8], { device: 'cuda' });
  const reference = await DiT.load({ config: STREAM_CONFIG, seed: 5, device: 'cuda' });
  const want = await (await reference.forward({ x, t: [7, 8], y: [1, 2] })).toFloat32Array();
  reference.dispose();
  const model = await DiT.load({ config: STREAM_CONFIG, seed: 5, device: 'cuda' });
  const pending = model.forward({ x, t: [7, 8], y: [1, 2] });
  await new Promise(setImmediate); // the forward is queued on the model's stream
  model.dispose(); // frees the weights it reads
  const junk = Array.from({ length: 20 }, () => Tensor.from(new Float32Array(64 * 1024).fill(Number.NaN), [64 * 1024], { device: 'cuda' }));
  const out = await pending;
  t.deepEqual(await out.toFloat32Array(), want);
  for (const j of junk) j.dispose();
  out.dispose();
  x.dispose();
});

gpuTest('a model larger than the GPU is refused before anything is allocated', async (t) => {
  const before = backendInfo().memory.cuda.bytesInUse;
  const config = { hidden_size: 32, depth: 1, num_heads: 2, input_size: [1, 2 ** 20, 2 ** 20], condition: 'label_4' };
  await t.throwsAsync(DiT.load({ config, device: 'cuda' }), { code: 'ERR_DIT_OOM', message: /more than this machine's .* GiB of GPU memory/ });
  t.is(backendInfo().memory.cuda.bytesInUse, before);
});

gpuTest('forward after dispose is ERR_DIT_DISPOSED on the GPU too, and DIT_CUDA_STREAMS=shared runs models on one stream', async (t) => {
  const model = await DiT.load({ config: STREAM_CONFIG, device: 'cuda' });
  model.dispose();
  await t.throwsAsync(model.forward({ x: Tensor.zeros([1, 4, 2, 8, 8], { device: 'cuda' }), t: [1], y: [1] }), { code: 'ERR_DIT_DISPOSED' });
  const script = `
    const { DiT, Tensor } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))});
    (async () => {
      const m = await DiT.load({ config: ${JSON.stringify(STREAM_CONFIG)}, device: 'cuda' });
      const out = await m.forward({ x: Tensor.zeros([1, 4, 2, 8, 8], { device: 'cuda' }), t: [1], y: [1] });
      console.log((await out.toFloat32Array()).length);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8', env: { ...process.env, DIT_CUDA_STREAMS: 'shared' } });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), String(8 * 2 * 8 * 8)); // learn_sigma (the default): 2 x 4 output channels
});

test('CUDA availability is reported with a reason', (t) => {
  const info = backendInfo();
  t.true(info.cuda.available || typeof info.cuda.reason === 'string');
  t.true(info.cuda.autoReason === null || info.defaultDevice === 'cpu');
  // 'auto' is the GPU whenever one answers (unless DIT_DEVICE says otherwise)
  if (info.cuda.available && process.env.DIT_DEVICE === undefined) {
    t.is(info.cuda.autoReason, null);
    t.is(info.defaultDevice, 'cuda');
  }
});
