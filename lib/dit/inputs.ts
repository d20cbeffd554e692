/**
 * A forward's inputs checked and brought to the model (SPEC §2): x to the model's device and
 * dtype, t to f32 on the device, labels to host ids, caption embeddings to the model's dtype.
 * Every refusal names the argument, what was expected and what came; nothing is enqueued for a
 * bad input.
 */
import type { Device } from '../backend';
import { isFloatDType, type DType, type FloatDType } from '../dtype';
import { describe, Tensor } from '../tensor';
import { fmtShape } from '../validate';
import type { DerivedConfig, DiTConfig } from './config';

/** What the checks need of a model. */
export interface InputTarget {
  readonly config: DiTConfig;
  readonly derived: DerivedConfig;
  readonly device: Device;
  readonly dtype: FloatDType;
}

/** t on the model's device in `dtype`: a view when it already is (no copy), else a converted copy; the caller disposes it */
function onDevice(model: InputTarget, t: Tensor, dtype: DType): Tensor {
  return t.device === model.device && t.dtype === dtype ? t.reshape(t.shape) : t.to({ device: model.device, dtype });
}

/** Arrays of timesteps or labels hold numbers (or bigints, from a BigInt64Array): '10' is refused, not converted. */
function numericElements(name: string, values: ArrayLike<unknown>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(`Expected ${name}[${i}] to be a number but received ${describe(v)}`);
  }
}

/** x on the model's device and dtype (a new tensor the caller disposes) */
export function prepareX(model: InputTarget, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`Expected x to be a Tensor but received ${describe(x)}`);
  x.assertAlive('x');
  if (!isFloatDType(x.dtype)) throw new TypeError(`Expected x to be a float tensor (f32, f16 or bf16) but received dtype '${x.dtype}'`);
  const [T, H, W] = model.config.input_size;
  const C = model.config.in_channels;
  if (x.shape.length !== 5 || x.shape[1] !== C || x.shape[2] !== T || x.shape[3] !== H || x.shape[4] !== W || x.shape[0] < 1) {
    throw new RangeError(`Expected x to have shape [B, ${C}, ${T}, ${H}, ${W}] (B >= 1; in_channels, input_size) but received ${fmtShape(x.shape)}`);
  }
  return onDevice(model, x, model.dtype);
}

/** t as f32 [B] on the model's device (a new tensor the caller disposes); a Tensor's values are checked by checkFiniteTimesteps */
export function prepareT(model: InputTarget, t: unknown, B: number): Tensor {
  let values: ArrayLike<number> | undefined;
  if (t instanceof Tensor) {
    t.assertAlive('t');
    if (t.shape.length !== 1 || t.shape[0] !== B) throw new RangeError(`Expected t to have shape [${B}] but received ${fmtShape(t.shape)}`);
    return onDevice(model, t, 'f32');
  }
  if (Array.isArray(t) || ArrayBuffer.isView(t)) values = t as ArrayLike<number>;
  if (!values) throw new TypeError(`Expected t to be a Tensor or an array of ${B} numbers but received ${describe(t)}`);
  if (values.length !== B) throw new RangeError(`Expected t to hold ${B} timesteps (one per sample) but received ${values.length}`);
  numericElements('t', values);
  const data = Float32Array.from(values as ArrayLike<number | bigint>, Number); // BigInt64Array too, as the labels
  if (data.some((v) => !Number.isFinite(v))) throw new TypeError('Expected t to hold finite numbers');
  return Tensor.from(data, [B], { device: model.device });
}

/**
 * A timestep Tensor is read back to check it (arrays are checked as they are copied), after the
 * forward is queued and done: checking first would add a wait before the work is enqueued.
 */
export async function checkFiniteTimesteps(t: Tensor, out: Tensor): Promise<void> {
  const values = await t.toFloat32Array();
  if (values.some((v) => !Number.isFinite(v))) {
    out.dispose();
    throw new TypeError('Expected t to hold finite numbers');
  }
}

/** Class labels (`name`: y or yNull) as host ids, each checked against the label table's rows. */
export async function labelIds(model: InputTarget, y: unknown, B: number, name: string): Promise<Int32Array> {
  let labels: ArrayLike<number>;
  if (y instanceof Tensor) {
    y.assertAlive(name);
    if (y.shape.length !== 1 || y.shape[0] !== B) throw new RangeError(`Expected ${name} to have shape [${B}] (class labels) but received ${fmtShape(y.shape)}`);
    labels = await y.toFloat32Array();
  } else if (Array.isArray(y) || ArrayBuffer.isView(y)) {
    numericElements(name, y as ArrayLike<unknown>);
    labels = Array.from(y as ArrayLike<number | bigint>, Number);
    if (labels.length !== B) throw new RangeError(`Expected ${name} to hold ${B} labels (one per sample) but received ${labels.length}`);
  } else {
    throw new TypeError(`Expected ${name} to be a Tensor or an array of ${B} class labels but received ${describe(y)}`);
  }
  // the range is checked on the values as given, before Int32Array would wrap 2^32 + 1 to 1
  const { labelRows: rows, numClasses } = model.derived;
  for (const v of Array.from(labels)) {
    if (!Number.isInteger(v)) throw new TypeError(`Expected ${name} to hold integer class labels but received ${v}`);
    if (v < 0 || v >= rows) {
      throw new RangeError(`Expected ${name} labels in [0, ${rows - 1}] (${numClasses} classes${rows > numClasses! ? ` + the null class ${numClasses}` : ''}) but received ${v}`);
    }
  }
  return Int32Array.from(labels);
}

/** A pooled caption embedding (`name`: y or yNull) on the model's device and dtype (a new tensor the caller disposes). */
export function prepareCaption(model: InputTarget, y: unknown, B: number, name: string): Tensor {
  const Cc = model.config.caption_channels;
  if (!(y instanceof Tensor)) throw new TypeError(`Expected ${name} to be a Tensor [${B}, 1, 1, ${Cc}] (pooled caption embedding) but received ${describe(y)}`);
  y.assertAlive(name);
  if (!isFloatDType(y.dtype)) throw new TypeError(`Expected ${name} to be a float tensor (f32, f16 or bf16: a caption embedding) but received dtype '${y.dtype}'`);
  const ok = y.shape[0] === B && y.shape[y.shape.length - 1] === Cc && y.numel === B * Cc && (y.shape.length >= 2 && y.shape.length <= 4);  // [B, C], [B, 1, C] or [B, 1, 1, C]
  if (!ok) throw new RangeError(`Expected ${name} to have shape [${B}, 1, 1, ${Cc}] but received ${fmtShape(y.shape)}`);
  return onDevice(model, y, model.dtype);
}
