import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DitError } from '../lib/errors';
import {
  dtypeByteSize,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
  type RawTensor,
  type SafetensorsDType,
} from '../lib/safetensors_format';

const ALL_DTYPES: SafetensorsDType[] = [
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3',
  'I16', 'U16', 'F16', 'BF16',
  'I32', 'U32', 'F32',
  'F64', 'I64', 'U64',
];

const FILE = 'w.safetensors';

function bytesOf(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + 3) & 0xff;
  return b;
}

function tensor(dtype: SafetensorsDType, shape: number[], seed = 1): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1) * dtypeByteSize(dtype);
  return { dtype, shape, data: bytesOf(n, seed) };
}

/** Builds a file from a raw header (string or bytes), an explicit byte buffer, and optional length override. */
function rawFile(header: string | Uint8Array, dataLen = 0, headerLen?: bigint): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.byteLength + dataLen);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

function hdr(obj: Record<string, unknown>): string {
  return JSON.stringify(obj);
}

function mkTmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'dit-st-test-'));
}

// ---------------------------------------------------------------------------

test('dtypeByteSize', (t) => {
  const expected: Record<SafetensorsDType, number> = {
    BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
    F16: 2, BF16: 2, I16: 2, U16: 2,
    F32: 4, I32: 4, U32: 4,
    F64: 8, I64: 8, U64: 8,
  };
  for (const d of ALL_DTYPES) t.is(dtypeByteSize(d), expected[d], d);
  t.throws(() => dtypeByteSize('F128' as SafetensorsDType), { instanceOf: DitError });
});

test('round-trip of every dtype, rank-0, zero-size tensors and metadata', (t) => {
  const tensors = new Map<string, RawTensor>();
  let seed = 0;
  for (const d of ALL_DTYPES) {
    tensors.set(`${d}.matrix`, tensor(d, [3, 5], seed++));
    tensors.set(`${d}.scalar`, tensor(d, [], seed++));
    tensors.set(`${d}.empty`, tensor(d, [4, 0, 2], seed++));
    tensors.set(`${d}.vec`, tensor(d, [7], seed++));
  }
  // Integer-like and unusual names must keep their insertion order and survive.
  tensors.set('10', tensor('F32', [2], 99));
  tensors.set('__proto__', tensor('U8', [1], 98));
  tensors.set('naïve ✓ "quoted" \\ \n', tensor('I8', [2, 2], 97));
  const metadata = { format: 'pt', note: 'héllo "world"\n', '1': 'one' };

  const bytes = serializeSafetensors(tensors, metadata);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  t.is(n % 8, 0, 'header length is a multiple of 8');
  t.is((8 + n) % 8, 0, 'byte buffer starts 8-byte aligned');
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  t.regex(headerText, /^\{.*\} *$/s, 'header padded with spaces');

  const parsed = parseSafetensors(bytes, FILE);
  t.deepEqual(parsed.metadata, metadata);
  t.deepEqual([...parsed.tensors.keys()], [...tensors.keys()], 'insertion order preserved');
  for (const [name, want] of tensors) {
    const got = parsed.tensors.get(name)!;
    t.is(got.dtype, want.dtype, name);
    t.deepEqual(got.shape, want.shape, name);
    t.deepEqual(Array.from(got.data), Array.from(want.data), name);
    // zero-copy views into the input buffer
    t.is(got.data.buffer, bytes.buffer, name);
  }
  // Re-serializing the parsed result is byte-identical.
  t.deepEqual(serializeSafetensors(parsed.tensors, parsed.metadata), bytes);
});

test('serialize: record input, empty file, no metadata', (t) => {
  const empty = serializeSafetensors({});
  t.is(empty.byteLength, 16);
  t.is(new TextDecoder().decode(empty.subarray(8)), '{}      ');
  const p = parseSafetensors(empty, FILE);
  t.is(p.tensors.size, 0);
  t.deepEqual(p.metadata, {});

  const rec = serializeSafetensors({ a: tensor('F16', [2, 3]), b: tensor('U64', []) });
  const q = parseSafetensors(rec, FILE);
  t.deepEqual([...q.tensors.keys()], ['a', 'b']);
  t.deepEqual(q.tensors.get('b')!.shape, []);
  t.is(q.tensors.get('b')!.data.byteLength, 8);

  // "__metadata__": null is accepted as "no metadata" (like the Rust reader)
  t.deepEqual(parseSafetensors(rawFile('{"__metadata__":null}'), FILE).metadata, {});
});

test('serialize validates its input', (t) => {
  const bad: Array<[() => unknown, RegExp]> = [
    [() => serializeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(7) } }), /"a" data is 7 bytes but shape \[2\] x F32 needs 8 bytes/],
    [() => serializeSafetensors({ '': tensor('U8', [1]) }), /non-empty/],
    [() => serializeSafetensors({ __metadata__: tensor('U8', [1]) }), /reserved/],
    [() => serializeSafetensors({ a: { dtype: 'X' as SafetensorsDType, shape: [1], data: new Uint8Array(1) } }), /unknown dtype "X"/],
    [() => serializeSafetensors({ a: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }), /shape must be/],
    [() => serializeSafetensors({ a: { dtype: 'U8', shape: [1.5], data: new Uint8Array(0) } }), /shape must be/],
    [() => serializeSafetensors({ a: { dtype: 'U8', shape: [1], data: [1] as unknown as Uint8Array } }), /Uint8Array/],
    [() => serializeSafetensors({}, { k: 5 as unknown as string }), /metadata value for key "k" must be a string/],
    [() => serializeSafetensors({ 'x\ud800y': tensor('U8', [1]) }), /unpaired UTF-16 surrogate/],
    [() => serializeSafetensors({ '\udc00': tensor('U8', [1]) }), /unpaired UTF-16 surrogate/],
    [() => serializeSafetensors({}, { k: 'v\ud83d' }), /metadata "k" holds an unpaired UTF-16 surrogate/],
  ];
  // a surrogate pair is fine
  t.notThrows(() => serializeSafetensors({ 'w\ud83d\ude00': tensor('U8', [1]) }, { 'k\ud83d\ude00': 'v' }));
  for (const [fn, re] of bad) {
    const e = t.throws(fn, { instanceOf: DitError });
    t.is(e?.code, 'ERR_DIT_FORMAT');
    t.regex(e?.message ?? '', re);
  }
});

// ---------------------------------------------------------------------------
// malformed files

const F32x2 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

const MALFORMED: Array<[string, Uint8Array, RegExp]> = [
  ['empty file', new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte/],
  ['7-byte file', new Uint8Array(7), /file is 7 bytes, shorter than the 8-byte/],
  ['header too large', rawFile('{}', 0, 100_000_001n), /header length 100000001 exceeds the maximum of 100000000/],
  ['header length u64 max', rawFile('{}', 0, 0xffff_ffff_ffff_ffffn), /header length 18446744073709551615 exceeds/],
  ['header past end of file', rawFile('{}', 0, 1000n), /header length 1000 extends past the end of the file \(file is 10 bytes\)/],
  ['invalid utf-8', rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), /header is not valid UTF-8/],
  ['utf-8 BOM', rawFile(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), /header must start with '\{'/],
  ['leading space', rawFile(' {}'), /header must start with '\{'/],
  ['array header', rawFile('[]'), /header must start with '\{'/],
  ['empty header', rawFile(''), /header must start with '\{'/],
  ['invalid json', rawFile('{"a": '), /header is not valid JSON/],
  ['trailing garbage', rawFile('{} x'), /header is not valid JSON/],
  ['metadata array', rawFile(hdr({ __metadata__: ['a'] })), /"__metadata__" must be an object mapping strings to strings/],
  ['metadata string', rawFile(hdr({ __metadata__: 'x' })), /"__metadata__" must be an object/],
  ['metadata non-string value', rawFile(hdr({ __metadata__: { a: 'b', n: 1 } })), /"__metadata__" value for key "n" must be a string \(got 1\)/],
  ['entry not object', rawFile(hdr({ w: 5 })), /tensor "w" entry must be an object \(got 5\)/],
  ['entry is array', rawFile(hdr({ w: [] })), /tensor "w" entry must be an object/],
  ['missing dtype', rawFile(hdr({ w: { shape: [2], data_offsets: [0, 8] } }), 8), /tensor "w" is missing "dtype"/],
  ['missing shape', rawFile(hdr({ w: { dtype: 'F32', data_offsets: [0, 8] } }), 8), /tensor "w" is missing "shape"/],
  ['missing data_offsets', rawFile(hdr({ w: { dtype: 'F32', shape: [2] } }), 8), /tensor "w" is missing "data_offsets"/],
  ['dtype not string', rawFile(hdr({ w: { ...F32x2, dtype: 4 } }), 8), /tensor "w" "dtype" must be a string \(got 4\)/],
  ['unknown dtype', rawFile(hdr({ w: { ...F32x2, dtype: 'F128' } }), 8), /tensor "w" has unknown dtype "F128"/],
  ['lowercase dtype', rawFile(hdr({ w: { ...F32x2, dtype: 'f32' } }), 8), /unknown dtype "f32"/],
  ['shape not array', rawFile(hdr({ w: { ...F32x2, shape: '2' } }), 8), /tensor "w" "shape" must be an array of non-negative integers \(got "2"\)/],
  ['negative dim', rawFile(hdr({ w: { ...F32x2, shape: [-2] } }), 8), /"shape" must be an array of non-negative integers \(got \[-2\]\)/],
  ['fractional dim', rawFile(hdr({ w: { ...F32x2, shape: [1.5] } }), 8), /"shape" must be/],
  ['unsafe dim', rawFile('{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,8]}}', 8), /"shape" must be/],
  ['string dim', rawFile(hdr({ w: { ...F32x2, shape: ['2'] } }), 8), /"shape" must be/],
  ['offsets not array', rawFile(hdr({ w: { ...F32x2, data_offsets: 8 } }), 8), /tensor "w" "data_offsets" must be \[begin, end\] with non-negative integers \(got 8\)/],
  ['offsets length 1', rawFile(hdr({ w: { ...F32x2, data_offsets: [8] } }), 8), /"data_offsets" must be \[begin, end\]/],
  ['offsets length 3', rawFile(hdr({ w: { ...F32x2, data_offsets: [0, 4, 8] } }), 8), /"data_offsets" must be \[begin, end\]/],
  ['negative offset', rawFile(hdr({ w: { ...F32x2, data_offsets: [-8, 0] } }), 8), /"data_offsets" must be \[begin, end\]/],
  ['string offset', rawFile(hdr({ w: { ...F32x2, data_offsets: ['0', 8] } }), 8), /"data_offsets" must be \[begin, end\]/],
  ['begin > end', rawFile(hdr({ w: { ...F32x2, data_offsets: [8, 0] } }), 8), /tensor "w" data_offsets \[8, 0\] have begin > end/],
  [
    'size mismatch',
    rawFile(hdr({ 'blocks.0.attn.qkv.weight': { dtype: 'F32', shape: [3, 5], data_offsets: [0, 100] } }), 100),
    /tensor "blocks\.0\.attn\.qkv\.weight" data_offsets \[0, 100\] do not match shape \[3, 5\] x F32 \(60 bytes\)/,
  ],
  [
    'size overflow',
    rawFile(hdr({ w: { dtype: 'F64', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }), 8),
    /tensor "w" byte size of shape \[1099511627776, 1099511627776\] x F64 overflows/,
  ],
  ['duplicate tensor', rawFile(`{"w":${JSON.stringify(F32x2)},"w":${JSON.stringify(F32x2)}}`, 8), /duplicate entry "w" in header/],
  ['duplicate via escape', rawFile(`{"w":${JSON.stringify(F32x2)},"\\u0077":${JSON.stringify(F32x2)}}`, 8), /duplicate entry "w"/],
  ['duplicate metadata', rawFile(`{"__metadata__":{},"w":${JSON.stringify(F32x2)},"__metadata__":{"a":"b"}}`, 8), /duplicate entry "__metadata__"/],
  [
    'not starting at 0',
    rawFile(hdr({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), 12),
    /tensor "w" data_offsets \[4, 12\] leave a gap: the first tensor must begin at 0/,
  ],
  [
    'gap',
    rawFile(hdr({ a: F32x2, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }), 16),
    /tensor "b" data_offsets \[12, 16\] leave a gap: previous tensor "a" ends at 8/,
  ],
  [
    'overlap',
    rawFile(hdr({ a: F32x2, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), 12),
    /tensor "b" data_offsets \[4, 12\] overlap: previous tensor "a" ends at 8/,
  ],
  [
    'same begin overlap',
    rawFile(hdr({ a: F32x2, b: F32x2 }), 8),
    /tensor "[ab]" data_offsets \[0, 8\] overlap/,
  ],
  ['trailing bytes', rawFile(hdr({ w: F32x2 }), 9), /tensor data ends at byte 8 but the byte buffer is 9 bytes/],
  ['truncated data', rawFile(hdr({ w: F32x2 }), 7), /tensor data ends at byte 8 but the byte buffer is 7 bytes/],
  ['data but no tensors', rawFile('{}', 3), /tensor data ends at byte 0 but the byte buffer is 3 bytes/],
];

for (const [title, bytes, re] of MALFORMED) {
  test(`malformed: ${title}`, (t) => {
    const e = t.throws(() => parseSafetensors(bytes, FILE), { instanceOf: DitError });
    t.is(e?.code, 'ERR_DIT_FORMAT');
    t.regex(e?.message ?? '', /^invalid safetensors file "w\.safetensors": /);
    t.regex(e?.message ?? '', re);
  });
}

test('valid hand-built edge cases parse', (t) => {
  // zero-size tensors sharing an offset, out-of-order offsets, extra unknown fields, trailing header spaces
  const h =
    '{"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},' +
    '"z1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},' +
    '"z2":{"dtype":"F32","shape":[3,0],"data_offsets":[4,4]},' +
    '"a":{"dtype":"U8","shape":[],"data_offsets":[4,5],"extra":1}}   ';
  const f = rawFile(h, 5);
  f.set([1, 2, 3, 4, 5], f.byteLength - 5);
  const p = parseSafetensors(f, FILE);
  t.deepEqual([...p.tensors.keys()], ['b', 'z1', 'z2', 'a']);
  t.deepEqual(Array.from(p.tensors.get('b')!.data), [1, 2, 3, 4]);
  t.deepEqual(Array.from(p.tensors.get('a')!.data), [5]);
  t.is(p.tensors.get('z2')!.data.byteLength, 0);

  // works on a Uint8Array with a non-zero byteOffset
  const big = new Uint8Array(f.byteLength + 3);
  big.set(f, 3);
  const q = parseSafetensors(big.subarray(3), FILE);
  t.deepEqual(Array.from(q.tensors.get('a')!.data), [5]);
});

test('fuzz: corrupted files either parse or throw DitError', (t) => {
  const base = serializeSafetensors(
    {
      'blocks.0.w': tensor('F32', [2, 3]),
      'blocks.0.b': tensor('BF16', [3]),
      s: tensor('I64', []),
      e: tensor('U8', [0]),
    },
    { format: 'pt', k: 'v' },
  );
  let seed = 0x12345678;
  const rand = (): number => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 200; i++) {
    let bytes: Uint8Array;
    const pos = Math.floor(rand() * base.byteLength);
    if (i % 3 === 0) {
      bytes = base.slice(0, pos);
    } else {
      bytes = base.slice();
      bytes[pos] ^= 1 + Math.floor(rand() * 255);
      if (i % 3 === 2) bytes[Math.floor(rand() * base.byteLength)] = Math.floor(rand() * 256);
    }
    try {
      parseSafetensors(bytes, FILE);
      ok++;
    } catch (e) {
      if (!(e instanceof DitError)) {
        t.fail(`iteration ${i}: non-DitError ${String(e)}`);
        return;
      }
      t.is(e.code, 'ERR_DIT_FORMAT');
      t.true(e.message.startsWith('invalid safetensors file "w.safetensors": '));
      failed++;
    }
  }
  t.is(ok + failed, 200);
  t.true(failed > 0);
});

// ---------------------------------------------------------------------------
// files

test.serial('write/read file round-trip, no temp files left', async (t) => {
  const dir = mkTmpDir();
  try {
    const p = path.join(dir, 'model.safetensors');
    await writeSafetensorsFile(p, { x: tensor('F16', [4, 4]) }, { a: 'b' });
    const r = await readSafetensorsFile(p);
    t.deepEqual(r.metadata, { a: 'b' });
    t.deepEqual(Array.from(r.tensors.get('x')!.data), Array.from(bytesOf(32, 1)));
    t.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('readSafetensorsFile: missing file -> ERR_DIT_FILE naming the path', async (t) => {
  const p = path.join(os.tmpdir(), `dit-st-missing-${process.pid}.safetensors`);
  const e = await t.throwsAsync(readSafetensorsFile(p), { instanceOf: DitError });
  t.is(e?.code, 'ERR_DIT_FILE');
  t.true(e?.message.includes(`"${p}"`));
  t.regex(e?.message ?? '', /ENOENT/);
});

test.serial('readSafetensorsFile: malformed file -> ERR_DIT_FORMAT naming the path', async (t) => {
  const dir = mkTmpDir();
  try {
    const p = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(p, rawFile('{"a":1}'));
    const e = await t.throwsAsync(readSafetensorsFile(p), { instanceOf: DitError });
    t.is(e?.code, 'ERR_DIT_FORMAT');
    t.true(e?.message.startsWith(`invalid safetensors file "${p}": `));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('atomic write: non-existent directory fails and leaves nothing', async (t) => {
  const dir = mkTmpDir();
  try {
    const p = path.join(dir, 'nope', 'x.safetensors');
    const e = await t.throwsAsync(writeSafetensorsFile(p, { x: tensor('U8', [3]) }), { instanceOf: DitError });
    t.is(e?.code, 'ERR_DIT_FILE');
    t.true(e?.message.includes(`"${p}"`));
    t.false(fs.existsSync(path.join(dir, 'nope')));
    t.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('atomic write: existing file is replaced only at the end (rename)', async (t) => {
  const dir = mkTmpDir();
  const realRename = fs.promises.rename;
  try {
    const p = path.join(dir, 'x.safetensors');
    const old = serializeSafetensors({ old: tensor('U8', [2]) });
    fs.writeFileSync(p, old);
    const next = { fresh: tensor('F32', [64, 64]) };
    let renameCalls = 0;
    fs.promises.rename = async (from: fs.PathLike, to: fs.PathLike): Promise<void> => {
      if (to === p) {
        renameCalls++;
        // Just before the final rename: the destination is still the old file and
        // the complete new file sits in a temp file in the same directory.
        t.deepEqual(new Uint8Array(fs.readFileSync(p)), old);
        t.true(path.basename(String(from)).startsWith(`x.safetensors.tmp-${process.pid}-`));
        t.is(path.dirname(String(from)), dir);
        t.deepEqual(new Uint8Array(fs.readFileSync(from)), serializeSafetensors(next));
      }
      return realRename(from, to);
    };
    await writeSafetensorsFile(p, next);
    t.is(renameCalls, 1);
    t.deepEqual([...(await readSafetensorsFile(p)).tensors.keys()], ['fresh']);
    t.deepEqual(fs.readdirSync(dir), ['x.safetensors']);
  } finally {
    fs.promises.rename = realRename;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('atomic write: failure at rename removes the temp file and keeps the target', async (t) => {
  const dir = mkTmpDir();
  try {
    // The target is a non-empty directory, so the final rename fails after the temp file was written.
    const p = path.join(dir, 'x.safetensors');
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'keep'), 'k');
    const e = await t.throwsAsync(writeSafetensorsFile(p, { x: tensor('U8', [3]) }), { instanceOf: DitError });
    t.is(e?.code, 'ERR_DIT_FILE');
    t.deepEqual(fs.readdirSync(dir), ['x.safetensors']);
    t.deepEqual(fs.readdirSync(p), ['keep']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('atomic write: invalid tensors fail before touching the file system', async (t) => {
  const dir = mkTmpDir();
  try {
    const p = path.join(dir, 'x.safetensors');
    fs.writeFileSync(p, 'old');
    const e = await t.throwsAsync(
      writeSafetensorsFile(p, { x: { dtype: 'F32', shape: [2], data: new Uint8Array(3) } }),
      { instanceOf: DitError },
    );
    t.is(e?.code, 'ERR_DIT_FORMAT');
    t.is(fs.readFileSync(p, 'utf8'), 'old');
    t.deepEqual(fs.readdirSync(dir), ['x.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
