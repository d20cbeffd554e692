// The whole DiT against PyTorch (scripts/torch_dit.py, computed in float64): every fixture config.
import test from 'ava';
import { DiT, readSafetensors } from '../../lib';
import { FIXTURES, fixturePath } from '../helpers/fixtures';
import { relL2 } from '../helpers/tolerance';

// f32 must be exact to 1e-5 (issue 2); the reduced dtypes are checked so their paths stay sane.
const TOLERANCE = { f32: 1e-5, f16: 5e-3, bf16: 3e-2 } as const;

test('there are at least six fixture configs', (t) => {
  t.true(FIXTURES.length >= 6, FIXTURES.join(', '));
});

for (const file of FIXTURES) {
  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    test(`${file} forward in ${dtype} matches PyTorch`, async (t) => {
      const data = await readSafetensors(fixturePath(file));
      const model = await DiT.load({ weights: fixturePath(file), device: 'cpu', dtype });
      const out = await model.forward({ x: data.x, t: data.t, y: data.y });
      t.deepEqual(out.shape, data.out.shape);
      t.is(out.dtype, 'f32');
      const err = relL2(await out.toFloat32Array(), await data.out.toFloat32Array());
      t.true(err <= TOLERANCE[dtype], `relative L2 ${err.toExponential(2)} > ${TOLERANCE[dtype]}`);
      model.dispose();
      for (const z of Object.values(data)) z.dispose();
    });
  }
}

test('forwardWithCfg matches Open-Sora (eps channels) and facebook DiT (first 3 channels) guidance', async (t) => {
  const file = fixturePath('dit_tiny_cfg.safetensors');
  const data = await readSafetensors(file);
  const model = await DiT.load({ weights: file });
  for (const [guidance, key] of [['eps', 'cfg_out'], ['first3', 'cfg_out_first3']] as const) {
    const out = await model.forwardWithCfg({ x: data.x, t: data.t, y: data.y, cfgScale: 4, guidance });
    t.deepEqual(out.shape, data[key].shape);
    const err = relL2(await out.toFloat32Array(), await data[key].toFloat32Array());
    t.true(err <= 1e-5, `${guidance}: relative L2 ${err.toExponential(2)}`);
  }
  // guidance 1 is the conditional output itself
  const plain = await (await model.forward({ x: data.x, t: data.t, y: data.y })).toFloat32Array();
  const one = await (await model.forwardWithCfg({ x: data.x, t: data.t, y: data.y, cfgScale: 1 })).toFloat32Array();
  t.true(relL2(one, plain) <= 1e-6);
});

test('a text model guides against y_embedding by default', async (t) => {
  const file = fixturePath('dit_text_27tok.safetensors');
  const data = await readSafetensors(file);
  const model = await DiT.load({ weights: file });
  const yNull = data['y_embedder.y_embedding'];
  const B = data.x.shape[0];
  const Cc = yNull.shape[1];
  const nullRows = new Float32Array(B * Cc);
  const row = await yNull.toFloat32Array();
  for (let b = 0; b < B; b++) nullRows.set(row, b * Cc);
  const { Tensor } = await import('../../lib');
  const explicit = await model.forwardWithCfg({ x: data.x, t: data.t, y: data.y, cfgScale: 3, yNull: Tensor.from(nullRows, [B, 1, 1, Cc]) });
  const implicit = await model.forwardWithCfg({ x: data.x, t: data.t, y: data.y, cfgScale: 3 });
  t.deepEqual(Array.from(await implicit.toFloat32Array()), Array.from(await explicit.toFloat32Array()));
});

test('a facebook DiT state_dict (4-D patch weight, pos_embed) loads unchanged', async (t) => {
  const file = fixturePath('dit_image_t1.safetensors');
  const { readSafetensorsWithMetadata } = await import('../../lib');
  const { tensors, metadata } = await readSafetensorsWithMetadata(file);
  const fb: Record<string, (typeof tensors)[string]> = {};
  for (const [k, v] of Object.entries(tensors)) {
    if (['x', 't', 'y', 'out', 'pos_embed_temporal'].includes(k)) continue;
    if (k === 'pos_embed_spatial') fb.pos_embed = v;
    else if (k === 'x_embedder.proj.weight') fb[k] = v.reshape([v.shape[0], v.shape[1], v.shape[3], v.shape[4]]);
    else fb[k] = v;
  }
  t.is(fb['x_embedder.proj.weight'].shape.length, 4);
  const model = await DiT.load({ weights: fb, config: JSON.parse(metadata.config) });
  const out = await model.forward({ x: tensors.x, t: tensors.t, y: tensors.y });
  t.true(relL2(await out.toFloat32Array(), await tensors.out.toFloat32Array()) <= 1e-5);
});
