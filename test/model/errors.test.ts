import test from 'ava';
import { DiT, readSafetensors, Tensor, resolveConfig } from '../../lib';
import { fixturePath } from '../helpers/fixtures';

const LABEL = fixturePath('dit_label_p222.safetensors');
const TEXT = fixturePath('dit_text_27tok.safetensors');

test('configs are checked field by field with clear messages', (t) => {
  t.throws(() => resolveConfig({ hidden_size: 100, num_heads: 3 }), { code: 'ERR_DIT_CONFIG', message: /hidden_size 100 is not divisible by num_heads 3/ });
  t.throws(() => resolveConfig({ input_size: [4, 5, 6] }), { code: 'ERR_DIT_CONFIG', message: /divisible by patch_size/ });
  t.throws(() => resolveConfig({ input_size: [4, 16, 32] }), { code: 'ERR_DIT_CONFIG', message: /gives a 8 x 16 token grid: it must be square/ });
  // the token grid is what must be square: H = W with ph != pw is not, H != W with H / ph = W / pw is
  t.throws(() => resolveConfig({ input_size: [1, 8, 8], patch_size: [1, 2, 4] }), { code: 'ERR_DIT_CONFIG', message: /4 x 2 token grid/ });
  t.deepEqual(resolveConfig({ input_size: [1, 8, 4], patch_size: [1, 2, 1] }).input_size, [1, 8, 4]);
  t.throws(() => resolveConfig({ mlp_ratio: Infinity }), { code: 'ERR_DIT_CONFIG', message: /mlp_ratio must be a positive finite number but is Infinity/ });
  t.throws(() => resolveConfig({ condition: 'label_x' }), { code: 'ERR_DIT_CONFIG', message: /condition must be 'text' or 'label_N'/ });
  t.throws(() => resolveConfig({ depht: 3 } as never), { code: 'ERR_DIT_CONFIG', message: /unknown field 'depht'/ });
  t.throws(() => resolveConfig({}, 'DiT-M/2'), { code: 'ERR_DIT_CONFIG', message: /unknown preset 'DiT-M\/2'; known presets: DiT-S\/2/ });
  const xl = resolveConfig({}, 'DiT-XL/2x2');
  t.deepEqual([xl.depth, xl.hidden_size, xl.num_heads, xl.patch_size], [28, 1152, 16, [2, 2, 2]]);
});

test('weights that do not fit the config are refused before any compute, naming the tensor', async (t) => {
  const w = await readSafetensors(LABEL);
  await t.throwsAsync(DiT.load({ weights: LABEL, config: { ...JSON.parse('{}'), input_size: [4, 6, 6], patch_size: [2, 2, 2], hidden_size: 32, depth: 2, num_heads: 2, condition: 'label_10', in_channels: 4, mlp_ratio: 3 } }), {
    code: 'ERR_DIT_WEIGHTS', message: /tensor "blocks.0.mlp.fc1.weight" has shape \[128, 32\] but the config expects \[96, 32\]/,
  });
  const missing = { ...w };
  delete missing['blocks.1.attn.proj.bias'];
  const cfg = { input_size: [4, 6, 6], patch_size: [2, 2, 2], hidden_size: 32, depth: 2, num_heads: 2, condition: 'label_10', in_channels: 4 };
  await t.throwsAsync(DiT.load({ weights: missing, config: cfg }), { code: 'ERR_DIT_WEIGHTS', message: /tensor "blocks.1.attn.proj.bias" is missing/ });
  await t.throwsAsync(DiT.load({ weights: w, config: { ...cfg, depth: 1 } }), { code: 'ERR_DIT_WEIGHTS', message: /tensor "blocks.1.attn.qkv.weight" has no place in this config/ });
  await t.throwsAsync(DiT.load({ weights: w, config: { ...cfg, condition: 'text' } }), { code: 'ERR_DIT_WEIGHTS', message: /"y_embedder.y_embedding" is missing/ });
  // a DataParallel checkpoint: every key under "module."
  const prefixed = Object.fromEntries(Object.entries(w).map(([k, v]) => [`module.${k}`, v]));
  await t.throwsAsync(DiT.load({ weights: prefixed, config: cfg }), { code: 'ERR_DIT_WEIGHTS', message: /is missing .*strip the prefix "module\." from the tensor names/ });
  // facebook DiT's pos_embed stands in for pos_embed_spatial, and a wrong one is named as the file has it
  const facebookPos: Record<string, Tensor> = { ...w, pos_embed: Tensor.zeros([1, 9, 16]) };
  delete facebookPos.pos_embed_spatial;
  await t.throwsAsync(DiT.load({ weights: facebookPos, config: cfg }), { code: 'ERR_DIT_WEIGHTS', message: /tensor "pos_embed" has shape \[1, 9, 16\] but the config expects \[1, 9, 32\]/ });
  const model = await DiT.load({ weights: w, config: cfg });
  t.is(model.config.depth, 2, 'the same record loads with the right config');
  model.dispose();
});

// Position tables are fixed sin-cos buffers: a checkpoint's tables made for another latent size
// are recomputed for the config's (the model then equals the one loaded without any table), and
// the caller may dispose its record as soon as load() has returned its promise.
test("a checkpoint runs at another latent size: its position tables of the other size are recomputed", async (t) => {
  const w = await readSafetensors(LABEL);
  const cfg = { input_size: [4, 8, 8], patch_size: [2, 2, 2], hidden_size: 32, depth: 2, num_heads: 2, condition: 'label_10', in_channels: 4 };
  t.deepEqual(w.pos_embed_spatial.shape, [1, 9, 32], 'the fixture is made at 6 x 6');
  const withTables = DiT.load({ weights: { ...w }, config: cfg });
  for (const z of Object.values(w)) z.dispose(); // the load holds its own views
  const a = await withTables;
  const w2 = await readSafetensors(LABEL);
  delete w2.pos_embed_spatial;
  delete w2.pos_embed_temporal;
  const b = await DiT.load({ weights: w2, config: cfg });
  const x = Tensor.from(Float32Array.from({ length: 2 * 4 * 4 * 8 * 8 }, (_, i) => Math.sin(i)), [2, 4, 4, 8, 8]);
  const input = { x, t: [3, 700], y: [1, 9] };
  t.deepEqual(await (await a.forward(input)).toFloat32Array(), await (await b.forward(input)).toFloat32Array());
  a.dispose();
  b.dispose();
});

test("a checkpoint's tensors are converted to the model dtype whatever their own: f16 into f32, integers", async (t) => {
  const fx = await readSafetensors(LABEL);
  const cfg = { input_size: [4, 6, 6], patch_size: [2, 2, 2], hidden_size: 32, depth: 2, num_heads: 2, condition: 'label_10', in_channels: 4 };
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dit-w-'));
  const weights = Object.fromEntries(Object.entries(fx).filter(([k]) => !['x', 't', 'y', 'out'].includes(k)));
  const reference = await DiT.load({ weights, config: cfg });
  const input = { x: fx.x, t: fx.t, y: fx.y };
  const want = await (await reference.forward(input)).toFloat32Array();
  // the same weights as f16 in a file, loaded as f32: within f16 rounding of the f32 result
  const half = path.join(tmp, 'half.safetensors');
  const { writeSafetensors } = await import('../../lib');
  await writeSafetensors(half, Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.to({ dtype: 'f16' })])));
  const fromHalf = await DiT.load({ weights: half, config: cfg });
  const got = await (await fromHalf.forward(input)).toFloat32Array();
  const { relL2 } = await import('../helpers/tolerance');
  t.true(relL2(got, want) < 1e-2, `f16 file as f32: ${relL2(got, want)}`);
  t.true(relL2(got, want) > 0, 'the f16 rounding is visible, so the values did go through f16');
  // an integer embedding table (integral values) gives exactly what the same values in f32 give
  const table = 'y_embedder.embedding_table.weight';
  const rounded = Tensor.from((await weights[table].toFloat32Array()).map((v) => Math.round(v * 4)), weights[table].shape);
  const asInt = path.join(tmp, 'int.safetensors');
  await writeSafetensors(asInt, { ...weights, [table]: rounded.to({ dtype: 'i32' }) });
  const intModel = await DiT.load({ weights: asInt, config: cfg });
  const floatModel = await DiT.load({ weights: { ...weights, [table]: rounded }, config: cfg });
  t.deepEqual(await (await intModel.forward(input)).toFloat32Array(), await (await floatModel.forward(input)).toFloat32Array());
  for (const m of [reference, fromHalf, intModel, floatModel]) m.dispose();
});

test("an Open-Sora config's type names the preset", (t) => {
  const s8 = resolveConfig({ type: 'DiT-S/8', input_size: [1, 16, 16] } as never);
  t.deepEqual([s8.hidden_size, s8.depth, s8.patch_size], [384, 12, [1, 8, 8]]);
  t.throws(() => resolveConfig({ type: 'STDiT-XL/2' } as never), { code: 'ERR_DIT_CONFIG', message: /unknown model type "STDiT-XL\/2"/ });
  for (const name of ['toString', 'constructor', '__proto__']) {
    t.throws(() => resolveConfig({ type: name } as never), { code: 'ERR_DIT_CONFIG', message: /unknown model type/ }, name);
    t.throws(() => resolveConfig({}, name), { code: 'ERR_DIT_CONFIG', message: /unknown preset/ }, name);
  }
  t.throws(() => resolveConfig({ type: 'DiT-S/8' } as never, 'DiT-XL/2'), { code: 'ERR_DIT_CONFIG', message: /preset 'DiT-XL\/2' and the config's type 'DiT-S\/8' disagree/ });
});

test('a missing or malformed weights file is a DitError naming the file', async (t) => {
  await t.throwsAsync(DiT.load({ weights: '/nonexistent/w.safetensors', preset: 'DiT-S/2' }), { code: 'ERR_DIT_FILE', message: /\/nonexistent\/w.safetensors/ });
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dit-')), 'bad.safetensors');
  fs.writeFileSync(bad, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123, 125]));
  await t.throwsAsync(DiT.load({ weights: bad, preset: 'DiT-S/2' }), { code: 'ERR_DIT_FORMAT', message: /bad.safetensors.*header length 200 extends past the end/ });
});

test('forward inputs are validated with the expected and received values', async (t) => {
  const w = await readSafetensors(LABEL);
  const model = await DiT.load({ weights: LABEL });
  const x = w.x;
  await t.throwsAsync(model.forward({ x: Tensor.zeros([2, 4, 4, 6, 8]), t: [1, 2], y: [0, 1] }), { instanceOf: RangeError, message: /Expected x to have shape \[B, 4, 4, 6, 6\].*received \[2, 4, 4, 6, 8\]/ });
  await t.throwsAsync(model.forward({ x, t: [1], y: [0, 1] }), { instanceOf: RangeError, message: /Expected t to hold 2 timesteps/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: [0, 11] }), { instanceOf: RangeError, message: /labels in \[0, 10\].*received 11/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: [0, 1.5] }), { instanceOf: TypeError, message: /integer class labels/ });
  // labels past 2^32 are out of range, not wrapped (by Int32Array) onto a small class
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: [0, 2 ** 32 + 1] }), { instanceOf: RangeError, message: /labels in \[0, 10\].*received 4294967297/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: new BigInt64Array([0n, 2n ** 32n + 3n]) }), { instanceOf: RangeError, message: /received 4294967299/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: Tensor.from(new BigInt64Array([0n, 2n ** 32n + 1n]), [2]) }), { instanceOf: RangeError, message: /labels in \[0, 10\]/ });
  await t.throwsAsync(model.forwardWithCfg({ x, t: [1, 2], y: [0, 1], yNull: [10, 2 ** 32 + 10], cfgScale: 2 }), { instanceOf: RangeError, message: /yNull labels in \[0, 10\]/ });
  await t.throwsAsync(model.forward({ x: Tensor.zeros([0, 4, 4, 6, 6]), t: [], y: [] }), { instanceOf: RangeError, message: /B >= 1/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: 'cat' as never }), { instanceOf: TypeError, message: /Expected y to be a Tensor or an array of 2 class labels/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2] } as never), { instanceOf: TypeError, message: /class labels but received undefined$/ });
  // integer arrays of any kind, BigInt64Array included, for t as for y
  const viaBigInt = await model.forward({ x, t: new BigInt64Array([1n, 2n]), y: new BigInt64Array([0n, 1n]) });
  const viaNumbers = await model.forward({ x, t: [1, 2], y: [0, 1] });
  t.deepEqual(await viaBigInt.toFloat32Array(), await viaNumbers.toFloat32Array());
  await t.throwsAsync(model.forwardWithCfg({ x, t: [1, 2], y: [0, 1], cfgScale: Number.NaN }), { instanceOf: TypeError, message: /cfgScale/ });
  // an integer latent and strings for numbers are refused, not converted
  await t.throwsAsync(model.forward({ x: Tensor.zeros([2, 4, 4, 6, 6], { dtype: 'i32' }), t: [1, 2], y: [0, 1] }), { instanceOf: TypeError, message: /Expected x to be a float tensor \(f32, f16 or bf16\) but received dtype 'i32'/ });
  await t.throwsAsync(model.forward({ x, t: ['1', '2'] as never, y: [0, 1] }), { instanceOf: TypeError, message: /Expected t\[0\] to be a number but received '1'/ });
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: [0, '1'] as never }), { instanceOf: TypeError, message: /Expected y\[1\] to be a number but received '1'/ });
  await t.throwsAsync(model.forwardWithCfg({ x, t: [1, 2], y: [0, 1], yNull: [null, 10] as never, cfgScale: 2 }), { instanceOf: TypeError, message: /Expected yNull\[0\] to be a number/ });
  const text = await DiT.load({ weights: TEXT });
  const tw = await readSafetensors(TEXT);
  await t.throwsAsync(text.forward({ x: tw.x, t: tw.t, y: Tensor.zeros([3, 1, 1, 5]) }), { instanceOf: RangeError, message: /Expected y to have shape \[3, 1, 1, 24\]/ });
  // the pooled caption as [B, 1, 1, C] (Open-Sora), [B, 1, C] or [B, C]: the same forward
  const y4 = tw.y;
  const outs = [];
  for (const y of [y4, y4.reshape([3, 1, 24]), y4.reshape([3, 24])]) outs.push(await (await text.forward({ x: tw.x, t: tw.t, y })).toFloat32Array());
  t.deepEqual(outs[1], outs[0]);
  t.deepEqual(outs[2], outs[0]);
  await t.throwsAsync(text.forward({ x: tw.x, t: tw.t, y: y4.reshape([3, 1, 1, 1, 24]) }), { instanceOf: RangeError, message: /Expected y to have shape \[3, 1, 1, 24\] but received \[3, 1, 1, 1, 24\]/ });
  await t.throwsAsync(text.forward({ x: tw.x, t: tw.t, y: Tensor.zeros([3, 1, 1, 24], { dtype: 'i32' }) }), { instanceOf: TypeError, message: /Expected y to be a float tensor .*received dtype 'i32'/ });
  model.dispose();
  await t.throwsAsync(model.forward({ x, t: [1, 2], y: [0, 1] }), { code: 'ERR_DIT_DISPOSED' });
  await t.throwsAsync(DiT.load({ preset: 'DiT-S/2', dtype: 'f64' as never }), { instanceOf: TypeError, message: /Expected dtype to be one of/ });
});

test('misspelt options, a NaN timestep tensor and absurd configs are refused, not ignored or crashed on', async (t) => {
  const tiny = { hidden_size: 32, depth: 1, num_heads: 2, input_size: [1, 4, 4], condition: 'label_4' };
  // a typo would have loaded random weights, an f32 model, or an unguided forward without a word
  await t.throwsAsync(DiT.load({ config: tiny, wieghts: LABEL } as never), { instanceOf: TypeError, message: /Unknown option 'wieghts' of DiT.load/ });
  await t.throwsAsync(DiT.load({ config: null as never }), { instanceOf: TypeError, message: /Expected config to be an object/ });
  await t.throwsAsync(DiT.load({ config: tiny, seed: -1 }), { instanceOf: TypeError, message: /seed to be an integer in \[0, 2\^32 - 1\]/ });
  await t.throwsAsync(DiT.load({ config: { ...tiny, depth: 1e8 } }), { code: 'ERR_DIT_CONFIG', message: /depth 100000000 is more than 4096/ });
  await t.throwsAsync(DiT.load({ config: { ...tiny, hidden_size: 2 ** 28, num_heads: 1 } }), { instanceOf: RangeError, message: /at most 2\^52 bytes/ });
  await t.throwsAsync(DiT.load({ config: { ...tiny, input_size: [1, 2 ** 20, 2 ** 20] } }), { code: 'ERR_DIT_OOM', message: /more than this machine's/ });
  // Open-Sora's dtype argument picks the dtype when the options do not
  const bf = await DiT.load({ config: { ...tiny, dtype: 'torch.bfloat16', enable_sequence_parallelism: false } });
  t.is(bf.dtype, 'bf16');
  bf.dispose();
  await t.throwsAsync(DiT.load({ config: { ...tiny, dtype: 'int8' } }), { code: 'ERR_DIT_CONFIG', message: /dtype "int8"/ });
  const model = await DiT.load({ config: tiny });
  const x = Tensor.zeros([1, 4, 1, 4, 4]);
  await t.throwsAsync(model.forward({ x, t: [1], y: [1], cfgScale: 2 } as never), { instanceOf: TypeError, message: /Unknown option 'cfgScale' of forward.*forwardWithCfg/ });
  await t.throwsAsync(model.forwardWithCfg({ x, t: [1], y: [1], cfgScale: 2, yNul: [1] } as never), { instanceOf: TypeError, message: /Unknown option 'yNul' of forwardWithCfg/ });
  await t.throwsAsync(model.forward({ x, t: Tensor.from([Number.NaN], [1]), y: [1] }), { instanceOf: TypeError, message: /Expected t to hold finite numbers/ });
  model.dispose();
  // the check runs after the work is queued: a text model disposed right after the call still answers
  const text = await DiT.load({ config: { ...tiny, condition: 'text', caption_channels: 8 } });
  const pending = text.forward({ x, t: Tensor.from([3], [1]), y: Tensor.zeros([1, 1, 1, 8]) });
  text.dispose();
  t.deepEqual((await pending).shape, [1, 8, 1, 4, 4]);
});

test('device cuda without a usable GPU is a clear ERR_DIT_CUDA_UNAVAILABLE', async (t) => {
  const { backendInfo } = await import('../../lib');
  if (backendInfo().cuda.available) return t.pass('a GPU is present');
  await t.throwsAsync(DiT.load({ preset: 'DiT-S/2', device: 'cuda' }), { code: 'ERR_DIT_CUDA_UNAVAILABLE', message: /CUDA is not available: / });
  t.throws(() => Tensor.zeros([2], { device: 'cuda' }), { code: 'ERR_DIT_CUDA_UNAVAILABLE' });
  t.is(backendInfo().defaultDevice, 'cpu');
});

test('when the addon cannot load, one error says what was tried and how to fix it', (t) => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const path = require('node:path') as typeof import('node:path');
  const script = `try { require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))}).backendInfo(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8', env: { ...process.env, DIT_NATIVE_BINARY: '/nonexistent/dit_native.node' } });
  const err = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.is(err.code, 'ERR_DIT_BINDING');
  t.regex(err.message, /Could not load the dit-native native addon for linux-x64/);
  t.regex(err.message, /Tried:\n  - DIT_NATIVE_BINARY=\/nonexistent\/dit_native.node: /);
  t.regex(err.message, /Possible fixes:/);
});
