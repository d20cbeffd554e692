// Run in a child process with DIT_CPU_ISA set (the kernels are picked once per process):
// prints the ISA in use and the relative errors of a fixture forward, GEMMs (f32, bf16), an
// attention and convolutions (f32, bf16: the gather builds f32 panels or bf16 pairs).
import { backendInfo, DiT, ops, readSafetensors } from '../../lib';
import { fixturePath } from './fixtures';
import { Rng } from './random';
import { attentionRef, conv3dRef, linearRef } from './reference';
import { randomTensor } from './tensors';
import { relL2 } from './tolerance';

(async () => {
  const file = fixturePath('dit_hd72.safetensors');
  const data = await readSafetensors(file);
  const model = await DiT.load({ weights: file });
  const out = await model.forward({ x: data.x, t: data.t, y: data.y });
  const rng = new Rng(77);
  const x = await randomTensor(rng, [29, 45], 'f32');
  const w = await randomTensor(rng, [37, 45], 'f32');
  const y = ops.linear(x.t, w.t, null, { activation: 'gelu_tanh' });
  // bf16 (AVX512-BF16 has its own GEMM), odd K so the last bf16 pair is half padding
  const xh = await randomTensor(rng, [33, 47], 'bf16');
  const wh = await randomTensor(rng, [41, 47], 'bf16');
  const yh = ops.linear(xh.t, wh.t, null, { activation: 'silu' });
  const q = await randomTensor(rng, [1, 2, 70, 72], 'f32');
  const k = await randomTensor(rng, [1, 2, 67, 72], 'f32');
  const o = ops.attention(q.t, k.t, k.t);
  // stride 1 (the gather's runs of rows; a 17-wide row breaks panels mid-run), odd K = 3 * 27
  const conv = async (dtype: 'f32' | 'bf16') => {
    const cx = await randomTensor(rng, [1, 3, 4, 9, 17], dtype);
    const cw = await randomTensor(rng, [5, 3, 3, 3, 3], dtype, 0.3);
    const cy = ops.conv3d(cx.t, cw.t, null, { padding: [1, 1, 1] });
    const ref = conv3dRef({
      x: cx.values, B: 1, Cin: 3, T: 4, H: 9, W: 17, w: cw.values, Cout: 5, kt: 3, kh: 3, kw: 3, bias: null,
      stride: [1, 1, 1], dilation: [1, 1, 1], padTFront: 1, padTBack: 1, padH: 1, padW: 1, replicateTime: false,
    });
    return relL2(await cy.toFloat32Array(), ref.out);
  };
  console.log(JSON.stringify({
    isa: backendInfo().cpu.isa,
    model: relL2(await out.toFloat32Array(), await data.out.toFloat32Array()),
    linear: relL2(await y.toFloat32Array(), linearRef(x.values, 29, 45, w.values, 37, null, 'gelu_tanh')),
    linearBf16: relL2(await yh.toFloat32Array(), linearRef(xh.values, 33, 47, wh.values, 41, null, 'silu')),
    attention: relL2(await o.toFloat32Array(), attentionRef(q.values, k.values, k.values, 1, 2, 70, 67, 72, 72 ** -0.5)),
    conv: await conv('f32'),
    convBf16: await conv('bf16'),
  }));
})();
