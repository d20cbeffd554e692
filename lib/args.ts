/**
 * Describing a received value and checking an options object: what every argument check needs,
 * with no imports, so that Tensor (which validate.ts itself needs) can use them too.
 */

export function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name} of length ${(v as Float32Array).length}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  if (typeof v === 'string') return `'${v}'`;
  return `${typeof v} ${String(v)}`;
}

/**
 * An op's options object: absent, or an object whose keys are all known (a misspelt or unsupported
 * option, such as conv3d's groups, is an error rather than silently ignored). Returns it or {}.
 */
export function optionsArg<T extends object>(op: string, v: T | undefined, known: readonly (keyof T & string)[], hint = ''): T {
  if (v === undefined) return {} as T;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`Expected options of ${op} to be an object but received ${describe(v)}`);
  for (const key of Object.keys(v)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new TypeError(`Unknown option '${key}' of ${op} (known: ${known.join(', ')})${hint}`);
    }
  }
  return v;
}

/** Ops that take no options refuse a trailing argument instead of ignoring it (a stride passed to patchEmbed3d). */
export function noOptions(op: string, extra: readonly unknown[]): void {
  const given = extra.findIndex((v) => v !== undefined);
  if (given >= 0) throw new TypeError(`${op} takes no options but received ${describe(extra[given])} as an extra argument`);
}
