import { Tensor } from '../../lib';
import type { DType } from '../../lib/dtype';
import { Rng } from './random';

/** A random tensor in `dtype` plus its values as f32 after rounding to that dtype (the reference's inputs). */
export async function randomTensor(rng: Rng, shape: number[], dtype: DType, scale = 1): Promise<{ t: Tensor; values: Float32Array }> {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = Tensor.from(rng.normals(n, scale), shape, { dtype });
  return { t, values: await t.toFloat32Array() };
}

export const FLOAT_TYPES = ['f32', 'f16', 'bf16'] as const;
