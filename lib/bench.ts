/**
 * `dit-native bench`: per case the median time over many runs after warm-up, the achieved rate
 * (GFLOP/s or GB/s), its fraction of this device's peaks measured in the same run (a large GEMM,
 * ours or PyTorch's whichever is faster, for FLOP/s; a large copy for bandwidth) and, where PyTorch
 * is importable, the same work through PyTorch in the same run (bench/torch_bench.py) with the
 * ratio torch / ours (> 1: we are faster).
 * With --rounds R the two sides alternate R times (ours, PyTorch, ours, ...) and each keeps its best
 * median: on a shared host a neighbour's burst then slows one round of one side, not the ratio.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getBackend, resolveDevice, type Device } from './backend';
import { forwardBreakdown, type Breakdown } from './breakdown';
import { dtypeSize, type FloatDType } from './dtype';
import { DiT } from './dit/model';
import { DitError } from './errors';
import { backendInfo } from './info';
import * as ops from './ops';
import { writeOutputFile } from './output_file';
import { Tensor } from './tensor';
import type { DiTConfigInput } from './dit/config';

export interface BenchOptions {
  suite: 'kernels' | 'model' | 'all';
  device: Device | 'auto';
  jsonPath?: string;
  iters?: number;
  torch: boolean;
  /** default: f32 on the CPU, bf16 on CUDA */
  dtype?: FloatDType;
  /** ours and PyTorch alternate this many times, each keeping its best median (default: 3 on the CPU with PyTorch, else 1) */
  rounds?: number;
  /** the CPU's smaller shapes on any device (on CUDA the default is DiT-XL/2 at 4096 tokens): a quick run */
  small?: boolean;
  /** CUDA, with the model: one more forward timed op by op (lib/breakdown.ts) */
  breakdown?: boolean;
}

interface Case {
  name: string;
  kind: string;
  shape: string;
  flops: number;
  bytes: number;
  /** sizes passed to the PyTorch side */
  torch: Record<string, unknown>;
  setup(on: Target): Promise<{ run(): Promise<void> | void; dispose(): void }>;
}

export interface BenchRow {
  name: string; shape: string; dtype: string; device: Device;
  medianMs: number; gflops: number | null; gbps: number | null; peakFraction: number | null;
  torchMs: number | null; torchRatio: number | null; torchError?: string;
}

const randn = (n: number, scale = 1) => {
  let s = 12345;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * 1.7 * scale;
  }
  return out;
};
/** where a case's tensors live and in which dtype */
interface Target { device: Device; dtype: FloatDType }
const rand = (shape: number[], on: Target, scale = 1) => Tensor.from(randn(shape.reduce((a, b) => a * b, 1), scale), shape, on);

function linearCase(name: string, M: number, N: number, K: number, activation: 'none' | 'gelu_tanh' = 'none'): Case {
  return {
    name, kind: 'linear', shape: `M${M} N${N} K${K}${activation === 'none' ? '' : ` +${activation}`}`,
    flops: 2 * M * N * K, bytes: 4 * (M * K + N * K + M * N), torch: { M, N, K, activation },
    async setup(on) {
      const x = rand([M, K], on), w = rand([N, K], on, K ** -0.5), b = rand([N], on);
      return { run: () => ops.linear(x, w, b, { activation }).dispose(), dispose: () => [x, w, b].forEach((t) => t.dispose()) };
    },
  };
}

/** The DiT of issue 2's CPU target: hidden 384, depth 12, 6 heads, latent 4x16x16, patch (1,2,2), batch 2. */
export const CPU_MODEL_CONFIG: DiTConfigInput = {
  input_size: [4, 16, 16], in_channels: 4, patch_size: [1, 2, 2], hidden_size: 384, depth: 12, num_heads: 6,
  mlp_ratio: 4, learn_sigma: true, condition: 'label_1000', no_temporal_pos_emb: false,
};
/** Issue 4's GPU target: DiT-XL/2 at latent 16x32x32 (4096 tokens), batch 2. */
export const GPU_MODEL_CONFIG: DiTConfigInput = { input_size: [16, 32, 32], hidden_size: 1152, depth: 28, num_heads: 16, condition: 'label_1000' };

function modelFlops(c: Required<Pick<DiTConfigInput, 'hidden_size' | 'depth'>> & { tokens: number; batch: number; mlp: number }): number {
  const M = c.tokens * c.batch, D = c.hidden_size;
  const perBlock = 2 * M * (4 * D * D + 2 * D * c.mlp) + 4 * c.batch * c.tokens * c.tokens * D;
  return c.depth * perBlock;
}

function modelCase(config: DiTConfigInput, batch: number): Case {
  const [T, H, W] = config.input_size as number[];
  const tokens = (T * H * W) / 4;
  const D = config.hidden_size!;
  return {
    name: 'dit_forward', kind: 'model', shape: `D${D} depth${config.depth} latent ${T}x${H}x${W} B${batch}`,
    flops: modelFlops({ hidden_size: D, depth: config.depth!, tokens, batch, mlp: 4 * D }), bytes: 0, torch: { config, batch },
    async setup(on) {
      const model = await DiT.load({ config, device: on.device, dtype: on.dtype, seed: 0 });
      const x = rand([batch, 4, T, H, W], on);
      const t = Array.from({ length: batch }, (_, i) => 100 + 400 * i);
      const y = Array.from({ length: batch }, (_, i) => i);
      return { run: async () => (await model.forward({ x, t, y })).dispose(), dispose: () => { model.dispose(); x.dispose(); } };
    },
  };
}

/** big: DiT-XL/2 at 4096 tokens, batch 2 (CUDA's default); else the shapes of the CPU model target */
function kernelCases(big: boolean): Case[] {
  const D = big ? 1152 : 384, M = big ? 8192 : 512, H = big ? 16 : 6, N = big ? 4096 : 256, depth = big ? 28 : 12;
  const lnBytes = 2 * M * D * 4;
  const cases: Case[] = [
    linearCase('linear_qkv', M, 3 * D, D),
    linearCase('linear_proj', M, D, D),
    linearCase('linear_fc1_gelu', M, 4 * D, D, 'gelu_tanh'),
    linearCase('linear_fc2', M, D, 4 * D),
    linearCase('linear_adaln_all_blocks', 2, (6 * depth + 2) * D, D),
    {
      name: 'layer_norm_modulate', kind: 'layer_norm_modulate', shape: `B2 N${N} D${D}`, flops: 0, bytes: lnBytes, torch: { B: 2, N, D },
      async setup(on) {
        const x = rand([2, N, D], on), s = rand([2, D], on), c = rand([2, D], on);
        return { run: () => ops.layerNormModulate(x, s, c).dispose(), dispose: () => [x, s, c].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'attention', kind: 'attention', shape: `B2 H${H} N${N} Dh${D / H}`, flops: 4 * 2 * H * N * N * (D / H), bytes: 0,
      torch: { B: 2, H, N, Dh: D / H },
      async setup(on) {
        const q = rand([2, H, N, D / H], on), k = rand([2, H, N, D / H], on), v = rand([2, H, N, D / H], on);
        return { run: () => ops.attention(q, k, v).dispose(), dispose: () => [q, k, v].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'patch_embed3d', kind: 'patch_embed3d', shape: `x[2,4,${big ? '16,32,32' : '4,16,16'}] -> D${D}`,
      flops: 2 * M * D * 16, bytes: 4 * (M * 16 + M * D), torch: { B: 2, C: 4, T: big ? 16 : 4, H: big ? 32 : 16, W: big ? 32 : 16, D, patch: [1, 2, 2] },
      async setup(on) {
        const x = rand([2, 4, big ? 16 : 4, big ? 32 : 16, big ? 32 : 16], on), w = rand([D, 4, 1, 2, 2], on), b = rand([D], on);
        return { run: () => ops.patchEmbed3d(x, w, b).dispose(), dispose: () => [x, w, b].forEach((t) => t.dispose()) };
      },
    },
  ];
  // a VAE's 128 channels (issue 4's case on CUDA; on the CPU over 3x64x64, ~10.9 GFLOP)
  const [C, T, S] = big ? [128, 9, 128] : [128, 3, 64];
  cases.push({
    name: 'causal_conv3d', kind: 'causal_conv3d', shape: `${C}->${C} k3 ${T}x${S}x${S} replicate`, flops: 2 * C * C * 27 * T * S * S, bytes: 0,
    torch: { B: 1, Cin: C, Cout: C, T, H: S, W: S, k: 3 },
    async setup(on) {
      const x = rand([1, C, T, S, S], on), w = rand([C, C, 3, 3, 3], on, (27 * C) ** -0.5), b = rand([C], on);
      return { run: () => ops.causalConv3d(x, w, b).dispose(), dispose: () => [x, w, b].forEach((t) => t.dispose()) };
    },
  });
  cases.push({
    name: 'gelu_tanh', kind: 'gelu', shape: `${M}x${4 * D}`, flops: 0, bytes: 2 * 4 * M * 4 * D, torch: { n: M * 4 * D },
    async setup(on) {
      const x = rand([M, 4 * D], on);
      return { run: () => ops.gelu(x, { approximate: 'tanh' }).dispose(), dispose: () => x.dispose() };
    },
  });
  return cases;
}

/**
 * Milliseconds per run of `reps` runs of fn. On the CPU: host time up to a fence (its round trip,
 * about 0.1 ms, spread over the repetitions). On CUDA: GPU time between two events, with the whole
 * sample queued behind a busy wait of `hideUs` first, so what is timed is the GPU's work, not the
 * host's launch rate.
 */
async function sampleMs(device: Device, fn: () => Promise<void> | void, reps: number, hideUs: number): Promise<number> {
  const be = getBackend(device);
  const timer = be.gpuTimer;
  if (timer && hideUs > 0) timer.busyWait(Math.min(1e6, hideUs));
  const start = timer?.record();
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < reps; r++) await fn();
  const end = timer?.record();
  await be.sync();
  if (timer) return timer.elapsedMs(start!, end!) / reps;
  return Number(process.hrtime.bigint() - t0) / 1e6 / reps;
}

/** Median milliseconds of one run; short ops are repeated within a sample (see sampleMs). */
async function time(fn: () => Promise<void> | void, device: Device, iters: number): Promise<number> {
  // the host's time per run (launches included) sizes the repetitions and the busy wait
  let hostMs = await sampleMs(device, fn, 1, 0);
  const reps = Math.min(100, Math.max(1, Math.ceil(5 / hostMs)));
  hostMs = await sampleMs(device, fn, reps, 0);
  const sample = () => sampleMs(device, fn, reps, 1000 * 1.5 * hostMs * reps + 200);
  await sample();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) times.push(await sample());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Peak references measured now (best of several): our GEMM on an n x n square, a large copy. */
async function measurePeaks(on: Target, big: boolean, n: number): Promise<{ gflops: number; gbps: number; oursGflops: number; torchGflops?: number }> {
  const device = on.device;
  const be = getBackend(device);
  const best = async (fn: () => void, reps: number) => {
    let min = Infinity;
    for (let i = 0; i < 7; i++) min = Math.min(min, await sampleMs(device, fn, reps, 20_000));
    return min;
  };
  const a = rand([n, n], on), b = rand([n, n], on);
  const gemmMs = await best(() => ops.linear(a, b).dispose(), big ? 10 : 1);
  const count = 16 << 20;
  const src = Tensor.empty([count], on), dst = Tensor.empty([count], on);
  // CUDA: a device-to-device copy (cudaMemcpyAsync); CPU: the threaded same-dtype cast (a plain
  // single-threaded memmove would understate the machine)
  const copyMs = await best(
    () => (device === 'cuda' ? be.copy(dst, src) : be.cast({ srcDtype: on.dtype, dstDtype: on.dtype, count, src, dst })),
    device === 'cuda' ? 20 : 2,
  );
  [a, b, src, dst].forEach((t) => t.dispose());
  const gflops = (2 * n * n * n) / gemmMs / 1e6;
  return { gflops, oursGflops: gflops, gbps: (2 * dtypeSize(on.dtype) * count) / copyMs / 1e6 };
}

/** The CUDA kernel switches set in the environment (kernel_choice.h), for the record. */
function kernelSwitches(): Record<string, string> {
  const set: Record<string, string> = {};
  for (const name of ['DIT_CUDA_GEMM', 'DIT_CUDA_ATTENTION', 'DIT_CUDA_CONV', 'DIT_CUDA_GEMM_TILE']) {
    const value = process.env[name];
    if (value) set[name] = value;
  }
  return set;
}

/**
 * Input sets a case rotates through, on both sides of the comparison: several on the GPU, so its
 * 50 MB L2 does not flatter the kernels (the model's weights alone exceed it).
 */
function inputCopies(c: Case, device: Device): number {
  return device === 'cuda' && c.kind !== 'model' ? 4 : 1;
}

/** Samples of a case, the same for both sides: the whole model takes half as many (at least 3). */
function caseIters(c: Case, iters: number): number {
  return c.kind === 'model' ? Math.max(3, Math.ceil(iters / 2)) : iters;
}

function findPython(): string | null {
  if (process.env.DIT_BENCH_TORCH === '0') return null;  // ours only (e.g. comparing kernel variants)
  for (const py of [process.env.DIT_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/** PyTorch's own large product (cuBLAS on a GPU), timed with the cases: the FLOP peak is the larger of it and ours. */
const TORCH_PEAK_CASE = 'peak_gemm';

function torchTimes(py: string, cases: Case[], on: Target, iters: number, peakN: number): { results: Record<string, { median_ms?: number; error?: string }>; version: string } | null {
  const script = path.join(__dirname, '..', '..', 'bench', 'torch_bench.py');
  const scriptPath = fs.existsSync(script) ? script : path.join(__dirname, '..', 'bench', 'torch_bench.py');
  if (!fs.existsSync(scriptPath)) return null;
  const input = [
    ...cases.map((c) => ({
      name: c.name, kind: c.kind, device: on.device, dtype: on.dtype, iters: caseIters(c, iters),
      copies: inputCopies(c, on.device), ...c.torch,
    })),
    { name: TORCH_PEAK_CASE, kind: 'linear', device: on.device, dtype: on.dtype, iters: 7, copies: 1, M: peakN, N: peakN, K: peakN },
  ];
  const r = spawnSync(py, [scriptPath], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 24, timeout: 30 * 60_000 });
  if (r.status !== 0) {
    process.stderr.write(`bench: PyTorch comparison failed: ${(r.stderr || '').trim().split('\n').pop()}\n`);
    return null;
  }
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const attention = parsed.model_attention ? `, the model's attention through ${parsed.model_attention}` : '';
  return { results: parsed.results, version: `${parsed.torch} (${parsed.threads} threads${attention})` };
}

/**
 * Our median milliseconds for one case (its input copies set up, timed, disposed); `then` runs
 * on the first set with the median before the sets are disposed (the model's breakdown: DiT-XL's
 * random weights take seconds to make again).
 */
async function timeCase(c: Case, on: Target, iters: number, then?: (run: () => Promise<void>, ms: number) => Promise<void>): Promise<number> {
  const sets: { run(): Promise<void> | void; dispose(): void }[] = [];
  try {
    for (let i = 0; i < inputCopies(c, on.device); i++) sets.push(await c.setup(on));
    let next = 0;
    const run = () => sets[next++ % sets.length].run();
    const ms = await time(run, on.device, caseIters(c, iters));
    if (then) await then(async () => { await sets[0].run(); }, ms);
    return ms;
  } finally {
    for (const set of sets) set.dispose();
  }
}

const fmt = (v: number | null, digits = 2) => (v === null ? '-' : v.toFixed(digits));

/** Left-aligned first columns, right-aligned numbers: the bench's tables. */
function printTable(header: string[], table: string[][], leftColumns: number): void {
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  process.stdout.write(`${line(header)}\n${table.map(line).join('\n')}\n`);
}

/** One more forward of a timed model (its median `ms`), op by op (CUDA; the CLI checks). */
async function modelBreakdown(on: Target, forward: () => Promise<void>, ms: number): Promise<Breakdown> {
  // the host queues the whole forward (two events an op) behind a busy wait of twice the forward
  return forwardBreakdown(getBackend(on.device), forward, Math.min(1e6, 1000 * (2 * ms + 20)));
}

function printBreakdown(name: string, b: Breakdown, forwardMs: number | null): void {
  process.stdout.write(`\n${name} op by op (GPU events around each op of one forward): ${b.forwardMs.toFixed(3)} ms in ` +
    `${b.rows.reduce((k, r) => k + r.calls, 0)} ops; the forward alone (above): ${fmt(forwardMs, 3)} ms\n`);
  printTable(['op', 'shape', 'calls', 'ms', 'ms/call', '%', 'TFLOP/s'], b.rows.map((r) => [
    r.op, r.shape, String(r.calls), fmt(r.totalMs, 3), fmt(r.totalMs / r.calls, 4), `${((100 * r.totalMs) / b.forwardMs).toFixed(1)}%`,
    r.flops === null ? '-' : fmt(r.flops / r.totalMs / 1e9, 1),
  ]), 2);
}

export async function runBench(o: BenchOptions): Promise<number> {
  const device = resolveDevice(o.device);
  getBackend(device);
  // the headline work: f32 on the CPU, bf16 on the GPU (issue 4)
  const on: Target = { device, dtype: o.dtype ?? (device === 'cuda' ? 'bf16' : 'f32') };
  const iters = o.iters ?? (device === 'cuda' ? 50 : 10);
  const cases: Case[] = [];
  const big = device === 'cuda' && !o.small;
  if (o.suite !== 'model') cases.push(...kernelCases(big));
  if (o.suite !== 'kernels') cases.push(modelCase(big ? GPU_MODEL_CONFIG : CPU_MODEL_CONFIG, 2));
  const info = backendInfo();
  const where = device === 'cuda' ? info.cuda.devices[0]?.name ?? 'cuda' : `cpu ${info.cpu.isa} x${info.cpu.threads}`;
  // the kernel switches set (kernel_choice.h; unset: the defaults), so a record says what it timed
  const kernels = device === 'cuda' ? kernelSwitches() : {};
  const named = Object.entries(kernels).map(([k, v]) => `${k}=${v}`).join(' ');
  process.stdout.write(`dit-native bench: ${o.suite} on ${where}, ${on.dtype}, median of ${iters} samples after warm-up${named ? `, ${named}` : ''}\n`);
  const peakN = big ? 8192 : 1024;  // the square product behind the FLOP peak, ours and PyTorch's
  const peaks = await measurePeaks(on, big, peakN);
  // FLOP rates in TFLOP/s on the GPU, GFLOP/s on the CPU (the JSON keeps GFLOP/s)
  const [flopUnit, flopScale] = device === 'cuda' ? ['TFLOP/s', 1e-3] : ['GFLOP/s', 1];
  process.stdout.write(`measured peaks: GEMM ${(peaks.gflops * flopScale).toFixed(1)} ${flopUnit} (${peakN}^3, ours), copy ${peaks.gbps.toFixed(1)} GB/s\n`);
  // the CPU host may be shared (bursts of 20-40% seen on the development machine); the GPU's
  // timings are steady and its minutes scarce
  const rounds = o.rounds ?? (device === 'cuda' || !o.torch ? 1 : 3);
  let py = o.torch ? findPython() : null;  // looked up once; a failed PyTorch side is not retried
  const oursMs = new Map<string, number>();
  const torchBest: Record<string, { median_ms?: number; error?: string }> = {};
  let torchVersion: string | null = null;
  let breakdown: Breakdown | undefined, breakdownError: string | undefined;
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const then = o.breakdown && c.kind === 'model' && round === 0
        ? async (forward: () => Promise<void>, ms: number) => {
          // a failed breakdown is reported, not fatal: the bench's own record comes first
          try {
            breakdown = await modelBreakdown(on, forward, ms);
          } catch (e) {
            breakdownError = (e as Error).message;
          }
        }
        : undefined;
      const ms = await timeCase(c, on, iters, then);
      oursMs.set(c.name, Math.min(ms, oursMs.get(c.name) ?? Infinity));
    }
    const torch = py ? torchTimes(py, cases, on, iters, peakN) : null;
    if (!torch) {
      py = null;
      continue;
    }
    torchVersion = torch.version;
    for (const [name, t] of Object.entries(torch.results)) {
      const best = torchBest[name];
      if (!best || (t.median_ms !== undefined && (best.median_ms === undefined || t.median_ms < best.median_ms))) torchBest[name] = t;
    }
  }
  // the FLOP peak: the larger of our product and PyTorch's (so a fraction is never of a slow GEMM)
  const torchPeakMs = torchBest[TORCH_PEAK_CASE]?.median_ms;
  if (torchPeakMs !== undefined) {
    peaks.torchGflops = (2 * peakN ** 3) / torchPeakMs / 1e6;
    peaks.gflops = Math.max(peaks.gflops, peaks.torchGflops);
    process.stdout.write(`PyTorch's product: ${(peaks.torchGflops * flopScale).toFixed(1)} ${flopUnit} (${peakN}^3); % peak is of the larger\n`);
  }
  delete torchBest[TORCH_PEAK_CASE];
  const rows: BenchRow[] = cases.map((c) => {
    const ms = oursMs.get(c.name)!;
    const gflops = c.flops ? c.flops / ms / 1e6 : null;
    const gbps = !c.flops && c.bytes ? (c.bytes * dtypeSize(on.dtype)) / 4 / ms / 1e6 : null; // bytes are counted for f32
    const t = torchBest[c.name];
    return {
      name: c.name, shape: c.shape, dtype: on.dtype, device, medianMs: ms, gflops, gbps,
      peakFraction: gflops !== null ? gflops / peaks.gflops : gbps !== null ? gbps / peaks.gbps : null,
      torchMs: t?.median_ms ?? null, torchRatio: t?.median_ms !== undefined ? t.median_ms / ms : null,
      torchError: t?.median_ms === undefined ? t?.error : undefined,  // only when no round ran it
    };
  });
  const header = ['case', 'shape', 'ms', flopUnit, 'GB/s', '% peak', 'torch ms', 'torch/ours'];
  const table = rows.map((r) => [
    r.name, r.shape, fmt(r.medianMs, 3), fmt(r.gflops === null ? null : r.gflops * flopScale, 1), fmt(r.gbps, 1), r.peakFraction === null ? '-' : `${(100 * r.peakFraction).toFixed(0)}%`,
    fmt(r.torchMs, 3), r.torchRatio === null ? (r.torchError ? 'error' : '-') : `${r.torchRatio.toFixed(2)}x`,
  ]);
  printTable(header, table, 2);
  for (const r of rows) if (r.torchError) process.stdout.write(`${r.name}: PyTorch failed: ${r.torchError}\n`);
  for (const [name, r] of Object.entries(torchBest)) {
    const [base, variant] = name.split(':');
    const ours = rows.find((row) => row.name === base);
    if (!variant || !ours) continue;
    process.stdout.write(r.median_ms !== undefined
      ? `${base} through ${variant}: ${r.median_ms.toFixed(3)} ms (torch/ours ${(r.median_ms / ours.medianMs).toFixed(2)}x)\n`
      : `${base} through ${variant}: ${r.error}\n`);
  }
  process.stdout.write(
    torchVersion ? `PyTorch ${torchVersion} timed in the same run${rounds > 1 ? `, alternating with ours ${rounds} times (best median of each side)` : ''} (torch/ours > 1: dit-native is faster)\n`
      : o.torch ? 'PyTorch not importable: no comparison\n' : 'PyTorch not run (--no-torch)\n',
  );
  const model = cases.find((c) => c.kind === 'model');
  if (breakdown && model) printBreakdown(model.name, breakdown, oursMs.get(model.name) ?? null);
  if (breakdownError) process.stdout.write(`the op-by-op breakdown failed: ${breakdownError}\n`);
  if (o.jsonPath) {
    const doc = {
      date: new Date().toISOString(), device: where, kernels, suite: o.suite, small: !big, iters, rounds,
      statistic: rounds > 1 ? `the best of ${rounds} rounds' medians, each side` : 'the median', peaks, torch: torchVersion, rows, breakdown: breakdown ?? (breakdownError ? { error: breakdownError } : undefined),
    };
    try {
      await writeOutputFile(o.jsonPath, `${JSON.stringify(doc, null, 2)}\n`);
    } catch (e) {
      throw new DitError('ERR_DIT_FILE', `cannot write "${o.jsonPath}": ${(e as Error).message}`, { cause: e });
    }
  }
  return 0;
}
