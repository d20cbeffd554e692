/**
 * Fixed sin-cos position tables of MAE / DiT, in float64 then rounded to f32 as the reference does.
 * 1-D: [sin(p w_k) | cos(p w_k)], w_k = 10000^(-k / (d/2)). 2-D: the first D/2 channels encode
 * the column (w) index, the last D/2 the row index.
 */
function sincos1d(dim: number, positions: number[]): Float64Array[] {
  const half = dim / 2;
  return positions.map((p) => {
    const row = new Float64Array(dim);
    for (let k = 0; k < half; k++) {
      const a = p / 10000 ** (k / half);
      row[k] = Math.sin(a);
      row[half + k] = Math.cos(a);
    }
    return row;
  });
}

/** [grid * grid, D] for a square grid; token n = row * grid + col. */
export function spatialPosEmbed(D: number, grid: number): Float32Array {
  const out = new Float32Array(grid * grid * D);
  const idx = Array.from({ length: grid }, (_, i) => i);
  const e = sincos1d(D / 2, idx);
  for (let r = 0; r < grid; r++)
    for (let c = 0; c < grid; c++) {
      const o = (r * grid + c) * D;
      out.set(e[c], o);
      out.set(e[r], o + D / 2);
    }
  return out;
}

/** [length, D] */
export function temporalPosEmbed(D: number, length: number): Float32Array {
  const out = new Float32Array(length * D);
  sincos1d(D, Array.from({ length }, (_, i) => i)).forEach((row, i) => out.set(row, i * D));
  return out;
}
