/**
 * Reader / writer for the huggingface safetensors format, in pure TypeScript.
 *
 * Layout: u64 little-endian N, then N bytes of UTF-8 JSON header
 *   {"__metadata__"?: {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}}
 * then the byte buffer. Offsets are relative to the start of the byte buffer and half-open.
 *
 * The reader validates like the reference Rust implementation (safetensors crate) and
 * additionally rejects duplicate tensor names. Every failure is a DitError naming the file.
 */
import { promises as fsp } from 'node:fs';
import { DitError } from './errors';
import { writeOutputFile } from './output_file';

export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** The tensor's bytes, row-major, little-endian. */
  data: Uint8Array;
}

export interface RawSafetensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** Same limit as the reference Rust reader. */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';

const DTYPE_SIZES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});

function isDType(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, d);
}

export function dtypeByteSize(d: SafetensorsDType): number {
  if (!isDType(d)) {
    throw new DitError('ERR_DIT_FORMAT', `unknown safetensors dtype ${describe(d)}`);
  }
  return DTYPE_SIZES[d];
}

// ---------------------------------------------------------------------------
// helpers

/** JSON-ish rendering of an untrusted value for error messages, bounded in length. */
function describe(v: unknown): string {
  const attempt = (render: () => string | undefined): string | undefined => {
    try {
      return render();
    } catch {
      return undefined;  // e.g. too deep to render
    }
  };
  const s = (v === undefined ? 'undefined' : attempt(() => JSON.stringify(v))) ?? attempt(() => String(v)) ??
    (Array.isArray(v) ? 'a deeply nested array' : `a value of type ${typeof v}`);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function fmtList(xs: readonly number[]): string {
  return `[${xs.join(', ')}]`;
}

function isNonNegSafeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** prod(shape) * elementSize as a BigInt (exact, cannot overflow). */
function byteSizeBig(shape: readonly number[], elementSize: number): bigint {
  let n = BigInt(elementSize);
  for (const d of shape) n *= BigInt(d);
  return n;
}

export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // defineProperty so that a key named "__proto__" becomes a normal own property.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Returns the keys of the top-level object of `text`, in order, including duplicates
 * (JSON.parse silently keeps only the last duplicate). Precondition: `text` is valid JSON
 * whose top-level value is an object.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  const n = text.length;
  let depth = 0;
  let expectKey = false;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) {
          break;
        } else {
          j += 1;
        }
      }
      if (depth === 1 && expectKey) {
        keys.push(escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j));
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth += 1;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth -= 1;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
    i += 1;
  }
  return keys;
}

// ---------------------------------------------------------------------------
// parsing

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates a safetensors file held in memory. The returned tensors' `data` are
 * subarray views into `bytes` (no copy). Note that they are not necessarily aligned to the
 * element size unless `bytes.byteOffset + 8 + N + begin` happens to be.
 */
/** A validated header: where each tensor's bytes are, relative to `dataStart` in the file. */
export interface SafetensorsLayout {
  dataStart: number;
  entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[];
  metadata: Record<string, string>;
}

/**
 * Validates the header of a file of `fileSize` bytes. `bytes` holds the file's first bytes: at
 * least the 8-byte prefix, and the whole header when it is that long (else the error says so).
 */
export function parseSafetensorsLayout(bytes: Uint8Array, fileSize: number, path: string): SafetensorsLayout {
  const fail = (problem: string): never => {
    throw new DitError('ERR_DIT_FORMAT', `invalid safetensors file "${path}": ${problem}`);
  };

  if (!(bytes instanceof Uint8Array)) {
    throw new DitError('ERR_DIT_FORMAT', `invalid safetensors file "${path}": expected a Uint8Array`);
  }
  if (fileSize < 8) {
    fail(`file is ${fileSize} bytes, shorter than the 8-byte header length prefix`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nBig = view.getBigUint64(0, true);
  if (nBig > BigInt(MAX_HEADER_SIZE)) {
    fail(`header length ${nBig} exceeds the maximum of ${MAX_HEADER_SIZE} bytes`);
  }
  const n = Number(nBig);
  if (8 + n > fileSize) {
    fail(`header length ${n} extends past the end of the file (file is ${fileSize} bytes)`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    fail(`header must start with '{' (got ${describe(text.slice(0, 16))})`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(header)) {
    return fail('header is not a JSON object');
  }

  // Duplicate detection on the raw text; this also gives the keys in file order
  // (Object.keys would move integer-like names first).
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) fail(`duplicate entry ${describe(k)} in header`);
    seen.add(k);
  }

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const name of keys) {
    const value = header[name];
    if (name === METADATA_KEY) {
      // null means "no metadata", as for the Rust reader (Option<HashMap<String, String>>).
      if (value === null) continue;
      if (!isPlainObject(value)) {
        fail(`"${METADATA_KEY}" must be an object mapping strings to strings (got ${describe(value)})`);
      }
      const meta = value as Record<string, unknown>;
      for (const mk of Object.keys(meta)) {
        const mv = meta[mk];
        if (typeof mv !== 'string') {
          fail(`"${METADATA_KEY}" value for key ${describe(mk)} must be a string (got ${describe(mv)})`);
        }
        setOwn(metadata, mk, mv as string);
      }
      continue;
    }
    const t = `tensor ${describe(name)}`;
    if (!isPlainObject(value)) {
      return fail(`${t} entry must be an object (got ${describe(value)})`);
    }
    if (!('dtype' in value)) fail(`${t} is missing "dtype"`);
    if (!('shape' in value)) fail(`${t} is missing "shape"`);
    if (!('data_offsets' in value)) fail(`${t} is missing "data_offsets"`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') {
      fail(`${t} "dtype" must be a string (got ${describe(dtype)})`);
    }
    if (!isDType(dtype)) {
      return fail(`${t} has unknown dtype ${describe(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegSafeInt)) {
      return fail(`${t} "shape" must be an array of non-negative integers (got ${describe(shape)})`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegSafeInt)) {
      return fail(`${t} "data_offsets" must be [begin, end] with non-negative integers (got ${describe(offsets)})`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) {
      fail(`${t} data_offsets ${fmtList(offsets)} have begin > end`);
    }
    const nbytes = byteSizeBig(shape, DTYPE_SIZES[dtype]);
    if (nbytes > BigInt(Number.MAX_SAFE_INTEGER)) {
      fail(`${t} byte size of shape ${fmtList(shape)} x ${dtype} overflows (${nbytes} bytes)`);
    }
    if (BigInt(end - begin) !== nbytes) {
      fail(`${t} data_offsets ${fmtList(offsets)} do not match shape ${fmtList(shape)} x ${dtype} (${nbytes} bytes)`);
    }
    entries.push({ name, dtype, shape: shape.slice(), begin, end });
  }

  // Contiguity: sorted by (begin, end), tensors must tile [0, bufferSize) exactly.
  const bufferSize = fileSize - 8 - n;
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin !== pos) {
      const where = prev
        ? `previous tensor ${describe(prev.name)} ends at ${pos}`
        : 'the first tensor must begin at 0';
      fail(
        `tensor ${describe(e.name)} data_offsets ${fmtList([e.begin, e.end])} ` +
          `${e.begin > pos ? 'leave a gap' : 'overlap'}: ${where}`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== bufferSize) {
    fail(
      `tensor data ends at byte ${pos} but the byte buffer is ${bufferSize} bytes ` +
        `(file size ${fileSize} - 8 - header length ${n})`,
    );
  }

  return { dataStart: 8 + n, entries, metadata };
}

/** Parses a whole file held in memory; tensor data are views into `bytes` (no copy). */
export function parseSafetensors(bytes: Uint8Array, path: string): RawSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new DitError('ERR_DIT_FORMAT', `invalid safetensors file "${path}": expected a Uint8Array`);
  }
  const layout = parseSafetensorsLayout(bytes, bytes.byteLength, path);
  const tensors = new Map<string, RawTensor>();
  for (const e of layout.entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: bytes.subarray(layout.dataStart + e.begin, layout.dataStart + e.end),
    });
  }
  return { tensors, metadata: layout.metadata };
}

/** Reads the whole file, then parses it. I/O failures are DitError ERR_DIT_FILE. */
export async function readSafetensorsFile(path: string): Promise<RawSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new DitError(
      'ERR_DIT_FILE',
      `cannot read safetensors file "${path}": ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  return parseSafetensors(bytes, path);
}

// ---------------------------------------------------------------------------
// serialization

// A UTF-16 surrogate without its pair has no UTF-8 form: JSON.stringify writes it as an escape
// that the reference (Rust) reader rejects, so the whole file would be unreadable there.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function entriesOf(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
): Array<[string, RawTensor]> {
  if (tensors instanceof Map) return Array.from(tensors.entries());
  if (!isPlainObject(tensors)) {
    throw new DitError('ERR_DIT_FORMAT', 'cannot serialize safetensors: tensors must be a Map or an object');
  }
  return Object.entries(tensors);
}

/**
 * Serializes tensors (in insertion order, laid out contiguously) and optional metadata.
 * The header is padded with spaces so that the byte buffer starts at a multiple of 8.
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const fail = (problem: string): never => {
    throw new DitError('ERR_DIT_FORMAT', `cannot serialize safetensors: ${problem}`);
  };
  const list = entriesOf(tensors);

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) fail(`metadata must be an object mapping strings to strings`);
    const metaParts: string[] = [];
    for (const k of Object.keys(metadata)) {
      const v = metadata[k];
      if (typeof v !== 'string') fail(`metadata value for key ${describe(k)} must be a string (got ${describe(v)})`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) fail(`metadata ${describe(k)} holds an unpaired UTF-16 surrogate (not valid UTF-8)`);
      metaParts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    if (metaParts.length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:{${metaParts.join(',')}}`);
  }

  const seen = new Set<string>();
  let offset = 0;
  for (const [name, t] of list) {
    if (typeof name !== 'string' || name.length === 0) fail(`tensor names must be non-empty strings (got ${describe(name)})`);
    if (name === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved and cannot be a tensor name`);
    if (LONE_SURROGATE.test(name)) fail(`tensor name ${describe(name)} holds an unpaired UTF-16 surrogate (not valid UTF-8)`);
    if (seen.has(name)) fail(`duplicate tensor name ${describe(name)}`);
    seen.add(name);
    const tn = `tensor ${describe(name)}`;
    if (!isPlainObject(t)) return fail(`${tn} must be an object {dtype, shape, data}`);
    if (!isDType(t.dtype)) fail(`${tn} has unknown dtype ${describe(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegSafeInt)) {
      fail(`${tn} shape must be an array of non-negative integers (got ${describe(t.shape)})`);
    }
    if (!(t.data instanceof Uint8Array)) fail(`${tn} data must be a Uint8Array`);
    const nbytes = byteSizeBig(t.shape, DTYPE_SIZES[t.dtype]);
    if (BigInt(t.data.byteLength) !== nbytes) {
      fail(
        `${tn} data is ${t.data.byteLength} bytes but shape ${fmtList(t.shape)} x ${t.dtype} needs ${nbytes} bytes`,
      );
    }
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }

  let headerBytes = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded > MAX_HEADER_SIZE) fail(`header would be ${padded} bytes, more than ${MAX_HEADER_SIZE}`);
  if (padded !== headerBytes.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(headerBytes, 0);
    headerBytes = p;
  }

  const total = 8 + padded + offset;
  let out: Uint8Array;
  try {
    out = new Uint8Array(total);
  } catch (e) {
    throw new DitError('ERR_DIT_OOM', `cannot serialize safetensors: cannot allocate ${total} bytes`, { cause: e });
  }
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(0, BigInt(padded), true);
  out.set(headerBytes, 8);
  let pos = 8 + padded;
  for (const [, t] of list) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file so that it appears only complete (output_file.ts: a temporary file
 * renamed over `path`, or in place for a device); on failure `path` is left untouched.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata);
  try {
    await writeOutputFile(path, bytes);
  } catch (e) {
    throw new DitError(
      'ERR_DIT_FILE',
      `cannot write safetensors file "${path}": ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}
