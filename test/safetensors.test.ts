// Tensor-level safetensors: round trips in every dtype, the fixtures, and malformed files.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, readSafetensorsWithMetadata, Tensor, writeSafetensors } from '../lib';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dit-st-'));

test('every dtype round-trips through a file, metadata included', async (t) => {
  const file = path.join(dir, 'all.safetensors');
  const tensors = {
    a: Tensor.from([1.5, -2, 3.25], [3]),
    h: Tensor.from([0.5, 1, -3], [1, 3], { dtype: 'f16' }),
    b: Tensor.from([0.5, 1, -3, 7], [2, 2], { dtype: 'bf16' }),
    i: Tensor.from(new Int32Array([1, -2]), [2]),
    l: Tensor.from(new BigInt64Array([5n, -6n]), [2, 1]),
    e: Tensor.from(new Float32Array(0), [0, 4]),
  };
  await writeSafetensors(file, tensors, { note: 'hi' });
  const { tensors: back, metadata } = await readSafetensorsWithMetadata(file);
  t.deepEqual(metadata, { note: 'hi' });
  for (const [k, v] of Object.entries(tensors)) {
    t.is(back[k].dtype, v.dtype, k);
    t.deepEqual(back[k].shape, v.shape, k);
    t.deepEqual(Array.from(await back[k].toFloat32Array()), Array.from(await v.toFloat32Array()), k);
  }
  const asBf16 = await readSafetensors(file, { dtype: 'bf16' });
  t.is(asBf16.a.dtype, 'bf16');
  t.is(asBf16.i.dtype, 'i32', 'integers keep their dtype');
});

test('malformed and missing files are DitErrors naming the file, and nothing is written on failure', async (t) => {
  const bad = path.join(dir, 'truncated.safetensors');
  const good = path.join(dir, 'good.safetensors');
  await writeSafetensors(good, { w: Tensor.from([1, 2, 3, 4], [4]) });
  const bytes = fs.readFileSync(good);
  fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 4));
  await t.throwsAsync(readSafetensors(bad), { code: 'ERR_DIT_FORMAT', message: /truncated.safetensors.*byte buffer/ });
  await t.throwsAsync(readSafetensors(path.join(dir, 'none.safetensors')), { code: 'ERR_DIT_FILE', message: /none.safetensors/ });
  const target = path.join(dir, 'no-such-dir', 'out.safetensors');
  await t.throwsAsync(writeSafetensors(target, { w: Tensor.from([1], [1]) }), { code: 'ERR_DIT_FILE' });
  t.false(fs.existsSync(target));
  const disposed = Tensor.from([1], [1]);
  disposed.dispose();
  await t.throwsAsync(writeSafetensors(path.join(dir, 'x.safetensors'), { w: disposed }), { code: 'ERR_DIT_DISPOSED' });
});
