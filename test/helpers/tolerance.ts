/** The one table of tolerances (relative L2 error against an f64 reference on dtype-rounded inputs). */
import type { ExecutionContext } from 'ava';
import type { DType } from '../../lib/dtype';

export const REL_L2_TOLERANCE: Record<'f32' | 'f16' | 'bf16', number> = {
  f32: 1e-5,
  f16: 2e-3,
  bf16: 1.6e-2,
};

export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i] - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function assertClose(t: ExecutionContext, actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: DType, what: string): void {
  const tol = REL_L2_TOLERANCE[dtype as 'f32'];
  const err = relL2(actual, expected);
  t.true(err <= tol, `${what} (${dtype}): relative L2 error ${err.toExponential(2)} > ${tol}`);
}
