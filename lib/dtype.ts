/** Element types, their sizes, and the numeric codes the native side uses (native/common/dtype.h). */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i64';
export type FloatDType = 'f32' | 'f16' | 'bf16';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'i64'];
export const FLOAT_DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];

const CODES: Record<DType, number> = { f32: 0, f16: 1, bf16: 2, i32: 3, i64: 4 };
const SIZES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, i64: 8 };

export function dtypeCode(d: DType): number {
  return CODES[d];
}

export function dtypeSize(d: DType): number {
  return SIZES[d];
}

export function isDType(d: unknown): d is DType {
  return typeof d === 'string' && (DTYPES as readonly string[]).includes(d);
}

export function isFloatDType(d: unknown): d is FloatDType {
  return typeof d === 'string' && (FLOAT_DTYPES as readonly string[]).includes(d);
}
