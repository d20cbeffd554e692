/**
 * Plain float64 references for the ops, straight from the PyTorch definitions, used by the tests.
 * Slow on purpose: loops as written in the math, nothing clever.
 */
export type Arr = ArrayLike<number>;

export function linearRef(x: Arr, M: number, K: number, w: Arr, N: number, bias: Arr | null, act: string): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      out[m * N + n] = activationRef(s, act);
    }
  return out;
}

export function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-5 checks; use a series / continued fraction.
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a < 3) {
    let sum = a, term = a;
    for (let n = 1; n < 100; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return sign * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (a + f);
  return sign * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}

export function activationRef(v: number, act: string): number {
  switch (act) {
    case 'gelu_tanh': return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
    case 'gelu': return 0.5 * v * (1 + erf(v / Math.SQRT2));
    case 'silu': return v / (1 + Math.exp(-v));
    default: return v;
  }
}

export function layerNormModulateRef(x: Arr, B: number, N: number, D: number, shift: Arr, scale: Arr, eps: number): Float64Array {
  const out = new Float64Array(B * N * D);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      const o = (b * N + n) * D;
      let mean = 0;
      for (let d = 0; d < D; d++) mean += x[o + d];
      mean /= D;
      let v = 0;
      for (let d = 0; d < D; d++) v += (x[o + d] - mean) ** 2;
      v /= D;
      const r = 1 / Math.sqrt(v + eps);
      for (let d = 0; d < D; d++) out[o + d] = (x[o + d] - mean) * r * (1 + scale[b * D + d]) + shift[b * D + d];
    }
  return out;
}

export function attentionRef(q: Arr, k: Arr, v: Arr, B: number, H: number, N: number, M: number, Dh: number, scale: number): Float64Array {
  const out = new Float64Array(B * H * N * Dh);
  const s = new Float64Array(M);
  for (let bh = 0; bh < B * H; bh++)
    for (let i = 0; i < N; i++) {
      let mx = -Infinity;
      for (let j = 0; j < M; j++) {
        let d = 0;
        for (let e = 0; e < Dh; e++) d += q[(bh * N + i) * Dh + e] * k[(bh * M + j) * Dh + e];
        s[j] = d * scale;
        mx = Math.max(mx, s[j]);
      }
      let sum = 0;
      for (let j = 0; j < M; j++) sum += (s[j] = Math.exp(s[j] - mx));
      for (let e = 0; e < Dh; e++) {
        let acc = 0;
        for (let j = 0; j < M; j++) acc += s[j] * v[(bh * M + j) * Dh + e];
        out[(bh * N + i) * Dh + e] = acc / sum;
      }
    }
  return out;
}

export interface ConvRefArgs {
  x: Arr; B: number; Cin: number; T: number; H: number; W: number;
  w: Arr; Cout: number; kt: number; kh: number; kw: number; bias: Arr | null;
  stride: number[]; dilation: number[];
  padTFront: number; padTBack: number; padH: number; padW: number; replicateTime: boolean;
}

/** Explicit padding then a direct convolution, the way F.pad + F.conv3d define it. */
export function conv3dRef(a: ConvRefArgs): { out: Float64Array; shape: number[] } {
  const Tp = a.T + a.padTFront + a.padTBack, Hp = a.H + 2 * a.padH, Wp = a.W + 2 * a.padW;
  const xp = new Float64Array(a.B * a.Cin * Tp * Hp * Wp);
  for (let b = 0; b < a.B; b++)
    for (let c = 0; c < a.Cin; c++)
      for (let t = 0; t < Tp; t++) {
        let ts = t - a.padTFront;
        if (a.replicateTime) ts = Math.min(Math.max(ts, 0), a.T - 1);
        if (ts < 0 || ts >= a.T) continue;
        for (let h = 0; h < a.H; h++)
          for (let w = 0; w < a.W; w++)
            xp[(((b * a.Cin + c) * Tp + t) * Hp + h + a.padH) * Wp + w + a.padW] = a.x[(((b * a.Cin + c) * a.T + ts) * a.H + h) * a.W + w];
      }
  const [st, sh, sw] = a.stride, [dt, dh, dw] = a.dilation;
  const To = Math.floor((Tp - dt * (a.kt - 1) - 1) / st) + 1;
  const Ho = Math.floor((Hp - dh * (a.kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((Wp - dw * (a.kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(a.B * a.Cout * To * Ho * Wo);
  for (let b = 0; b < a.B; b++)
    for (let co = 0; co < a.Cout; co++)
      for (let to = 0; to < To; to++)
        for (let ho = 0; ho < Ho; ho++)
          for (let wo = 0; wo < Wo; wo++) {
            let s = a.bias ? a.bias[co] : 0;
            for (let c = 0; c < a.Cin; c++)
              for (let i = 0; i < a.kt; i++)
                for (let j = 0; j < a.kh; j++)
                  for (let l = 0; l < a.kw; l++)
                    s += a.w[(((co * a.Cin + c) * a.kt + i) * a.kh + j) * a.kw + l] *
                      xp[(((b * a.Cin + c) * Tp + to * st + i * dt) * Hp + ho * sh + j * dh) * Wp + wo * sw + l * dw];
            out[(((b * a.Cout + co) * To + to) * Ho + ho) * Wo + wo] = s;
          }
  return { out, shape: [a.B, a.Cout, To, Ho, Wo] };
}

export function timestepEmbeddingRef(t: Arr, dim: number, maxPeriod: number): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  for (let b = 0; b < t.length; b++)
    for (let k = 0; k < half; k++) {
      const arg = t[b] * Math.exp((-Math.log(maxPeriod) * k) / half);
      out[b * dim + k] = Math.cos(arg);
      out[b * dim + half + k] = Math.sin(arg);
    }
  return out;
}
