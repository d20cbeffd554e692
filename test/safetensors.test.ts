// Tensor-level safetensors: round trips in every dtype, the fixtures, and malformed files.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ops, readSafetensors, readSafetensorsWithMetadata, Tensor, writeSafetensors } from '../lib';
import { SafetensorsReader } from '../lib/safetensors';

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

test('one reader reuses its read buffer: reads in any order and overlapping reads keep their own bytes', async (t) => {
  const file = path.join(dir, 'reuse.safetensors');
  const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => (i % 97) * k - 3);
  const tensors = {
    big: Tensor.from(ramp(3001, 0.5), [3001]),
    small: Tensor.from(ramp(7, -1.25), [7]),
    half: Tensor.from(ramp(1999, 0.25), [1999], { dtype: 'f16' }),
    odd: Tensor.from(ramp(5, 2), [5], { dtype: 'bf16' }),  // 10 bytes: the next tensor starts unaligned in the file
    longs: Tensor.from(new BigInt64Array([1n, -2n, 3n]), [3]),
    bigger: Tensor.from(ramp(5003, -0.75), [5003]),
  };
  await writeSafetensors(file, tensors);
  const want: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(tensors)) want[k] = Array.from(await v.toFloat32Array());
  const reader = await SafetensorsReader.open(file);
  try {
    for (const name of ['big', 'small', 'half', 'odd', 'longs', 'bigger', 'small']) {
      t.deepEqual(Array.from(await (await reader.read(name)).toFloat32Array()), want[name], name);
    }
    const names = Object.keys(tensors);
    const together = await Promise.all(names.map((name) => reader.read(name)));
    for (const [i, name] of names.entries()) t.deepEqual(Array.from(await together[i].toFloat32Array()), want[name], `overlapping ${name}`);
  } finally {
    await reader.close();
  }
});

test('an upload copies its array at the call, whether the CPU queue is busy or idle', async (t) => {
  const values = Float32Array.from({ length: 1000 }, (_, i) => i * 0.37 - 50);
  const want = Array.from(await Tensor.from(values.slice(), [1000], { dtype: 'bf16' }).toFloat32Array());
  for (const busy of [false, true]) {
    const a = Tensor.from(new Float32Array(512 * 512).fill(0.5), [512, 512]);
    await a.toFloat32Array();
    await new Promise((resolve) => setTimeout(resolve, 5));  // the fence item counted as finished: idle
    const pending = busy ? ops.linear(a, a) : null;  // queued work ahead of the upload: it is staged
    const src = values.slice();
    const x = Tensor.from(src, [1000], { dtype: 'bf16' });
    src.fill(-1);
    t.deepEqual(Array.from(await x.toFloat32Array()), want, busy ? 'busy queue' : 'idle queue');
    pending?.dispose();
    a.dispose();
  }
});

test('tensors may be disposed as soon as writeSafetensors returns its promise (reads enqueued at the call)', async (t) => {
  const file = path.join(dir, 'disposed.safetensors');
  const tensors = { a: Tensor.from([1, 2, 3], [3]), b: Tensor.from([4, 5], [2], { dtype: 'bf16' }), c: Tensor.from(new Int32Array([7]), [1]) };
  const written = writeSafetensors(file, tensors);
  for (const v of Object.values(tensors)) v.dispose();
  await written;
  const back = await readSafetensors(file);
  t.deepEqual(Array.from(await back.a.toFloat32Array()), [1, 2, 3]);
  t.deepEqual(Array.from(await back.b.toFloat32Array()), [4, 5]);
  t.deepEqual(Array.from(await back.c.toInt32Array()), [7]);
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
  // options: null and misspelt keys are errors, not a silent load to the CPU
  await t.throwsAsync(readSafetensors(good, null as never), { instanceOf: TypeError, message: /options of readSafetensors to be an object but received null/ });
  await t.throwsAsync(readSafetensors(good, { devcie: 'cuda' } as never), { instanceOf: TypeError, message: /Unknown option 'devcie' of readSafetensors/ });
  await t.throwsAsync(readSafetensors(good, { filter: 'w' } as never), { instanceOf: TypeError, message: /options.filter to be a function/ });
});

test('writeSafetensors takes a record or a Map of tensors; an array is refused, not written as "0", "1"', async (t) => {
  const fromMap = path.join(dir, 'map.safetensors');
  await writeSafetensors(fromMap, new Map([['a', Tensor.from([1, 2], [2])], ['b', Tensor.from([3], [1])]]));
  const back = await readSafetensors(fromMap);
  t.deepEqual(Object.keys(back), ['a', 'b']);
  t.deepEqual(Array.from(await back.b.toFloat32Array()), [3]);
  const fromArray = path.join(dir, 'array.safetensors');
  await t.throwsAsync(writeSafetensors(fromArray, [Tensor.from([1], [1])] as never), { instanceOf: TypeError, message: /record \(or Map\) of name -> Tensor but received array of length 1/ });
  t.false(fs.existsSync(fromArray));
});

/** IEEE binary16 bits -> number (the reference for the native conversions). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return exp === 0 ? sign * man * 2 ** -24 : sign * (1 + man / 1024) * 2 ** (exp - 15);
}

test('files convert on load: f16 and bf16 bits to any float dtype, integers into model weights', async (t) => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const file = path.join(dir, 'halves.safetensors');
  await writeSafetensors(file, { h: Tensor.from(all, [65536], { dtype: 'f16' }), b: Tensor.from(all, [65536], { dtype: 'bf16' }) });
  const asF32 = await readSafetensors(file, { dtype: 'f32' });
  const h = await asF32.h.toFloat32Array();
  const b = await asF32.b.toFloat32Array();
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  let wrong = 0;
  for (let i = 0; i < 65536; i++) {
    const want = halfToNumber(i);
    if (!(Object.is(h[i], want) || (Number.isNaN(want) && Number.isNaN(h[i])))) wrong++;
    bits[0] = i << 16;
    if (!(Object.is(b[i], asFloat[0]) || (Number.isNaN(asFloat[0]) && Number.isNaN(b[i])))) wrong++;
  }
  t.is(wrong, 0, 'every f16 and bf16 value widens exactly');
  // the other half-precision type: values, not bits
  const small = path.join(dir, 'small.safetensors');
  await writeSafetensors(small, { h: Tensor.from([1, 2, 3, -0.5], [4], { dtype: 'f16' }), b: Tensor.from([1, 2, 3, -0.5], [4], { dtype: 'bf16' }) });
  const swapped = await readSafetensors(small, { dtype: 'bf16' });
  t.deepEqual(Array.from(await swapped.h.toFloat32Array()), [1, 2, 3, -0.5]);
  t.deepEqual(Array.from(await (await readSafetensors(small, { dtype: 'f16' })).b.toFloat32Array()), [1, 2, 3, -0.5]);
  await t.throwsAsync(readSafetensors(small, { device: 'GPU' as never }), { instanceOf: TypeError, message: /received 'GPU'/ });
});

test('a tensor named __proto__ round-trips; a too deeply nested header is a format error', async (t) => {
  const file = path.join(dir, 'proto.safetensors');
  const rec: Record<string, Tensor> = {};
  Object.defineProperty(rec, '__proto__', { value: Tensor.from([1, 2], [2]), enumerable: true });
  await writeSafetensors(file, rec);
  const back = await readSafetensors(file);
  t.deepEqual(Object.keys(back), ['__proto__']);
  t.true(Object.prototype.hasOwnProperty.call(back, '__proto__'));
  t.is(Object.getPrototypeOf(back), Object.prototype);
  const header = Buffer.from(`{"a":{"dtype":"F32","shape":${'['.repeat(20000)}${']'.repeat(20000)},"data_offsets":[0,0]}}`);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const deep = path.join(dir, 'deep.safetensors');
  fs.writeFileSync(deep, Buffer.concat([prefix, header]));
  await t.throwsAsync(readSafetensors(deep), { code: 'ERR_DIT_FORMAT', message: /"shape" must be an array of non-negative integers \(got a deeply nested array\)/ });
});
