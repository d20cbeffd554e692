/**
 * Argument checks shared by the ops and the model: every message names the argument, what was
 * expected and what was received (TypeError for wrong kinds, RangeError for wrong sizes).
 */
import { DitError } from './errors';
import { isFloatDType, type DType } from './dtype';
import { describe } from './args';
import { Tensor } from './tensor';

export { noOptions, optionsArg } from './args';

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A live Tensor of the given rank (and float dtype unless `allowInt`). */
export function tensorArg(name: string, v: unknown, rank?: number, allowInt = false): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`Expected ${name} to be a Tensor but received ${describe(v)}`);
  if (v.disposed) throw new DitError('ERR_DIT_DISPOSED', `Expected ${name} to be a live Tensor but it was disposed`);
  if (rank !== undefined && v.shape.length !== rank) {
    throw new RangeError(`Expected ${name} to have ${rank} dimensions but received shape ${fmtShape(v.shape)}`);
  }
  if (!allowInt && !isFloatDType(v.dtype)) {
    throw new TypeError(`Expected ${name} to have a float dtype (f32, f16, bf16) but received ${v.dtype}`);
  }
  return v;
}

/** Same dtype and device as the reference tensor. */
export function sameKind(name: string, t: Tensor, ref: Tensor, refName: string): void {
  if (t.device !== ref.device) {
    throw new TypeError(`Expected ${name} on device ${ref.device} (like ${refName}) but received ${t.device}`);
  }
  if (t.dtype !== ref.dtype) {
    throw new TypeError(`Expected ${name} to have dtype ${ref.dtype} (like ${refName}) but received ${t.dtype}`);
  }
}

export function expectShape(name: string, t: Tensor, expected: readonly number[]): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new RangeError(`Expected ${name} to have shape ${fmtShape(expected)} but received ${fmtShape(t.shape)}`);
  }
}

export function positiveInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new TypeError(`Expected positive integer for ${name} but received ${describe(v)}`);
  return v as number;
}

export function nonNegativeInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new TypeError(`Expected non-negative integer for ${name} but received ${describe(v)}`);
  return v as number;
}

export function finiteNumber(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`Expected a finite number for ${name} but received ${describe(v)}`);
  return v;
}

/** An int or a triple of ints, as PyTorch's conv arguments. */
export function triple(name: string, v: unknown, check: (n: string, x: unknown) => number): [number, number, number] {
  if (typeof v === 'number') {
    const x = check(name, v);
    return [x, x, x];
  }
  if (!Array.isArray(v) || v.length !== 3) throw new TypeError(`Expected an integer or 3 integers for ${name} but received ${describe(v)}`);
  return [check(`${name}[0]`, v[0]), check(`${name}[1]`, v[1]), check(`${name}[2]`, v[2])];
}

export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new TypeError(`Expected ${name} to be one of ${allowed.map((a) => `'${a}'`).join(', ')} but received ${describe(v)}`);
  }
  return v as T;
}

export function floatDTypeArg(name: string, v: unknown): DType {
  if (!isFloatDType(v)) throw new TypeError(`Expected ${name} to be one of 'f32', 'f16', 'bf16' but received ${describe(v)}`);
  return v;
}
