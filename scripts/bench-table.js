#!/usr/bin/env node
// A bench JSON (dit-native bench --json FILE) as the Markdown tables BENCHMARKS.md keeps: the
// cases beside PyTorch, the peaks, the kernel switches, and the forward op by op when the run had
// --breakdown. For the GPU session's notes (gpu-check.sh writes $OUT/bench-cuda.json).
//   node scripts/bench-table.js bench-cuda.json
'use strict';
const fs = require('node:fs');

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/bench-table.js BENCH.json');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const gpu = doc.rows.some((r) => r.device === 'cuda');
const flop = (gflops) => (gflops == null ? '-' : gpu ? (gflops / 1000).toFixed(1) : gflops.toFixed(1));
const ms = (v, digits = 3) => (v == null ? '-' : v.toFixed(digits));
const kernels = Object.entries(doc.kernels || {}).map(([k, v]) => `${k}=${v}`).join(' ') || 'the defaults';
console.log(`${doc.date}, ${doc.device}, ${doc.rows[0] ? doc.rows[0].dtype : ''}, ${doc.statistic} of ${doc.iters}, kernels: ${kernels}; PyTorch ${doc.torch || 'not run'}`);
console.log(`peaks: GEMM ${flop(doc.peaks.gflops)} ${gpu ? 'TFLOP/s' : 'GFLOP/s'} (ours ${flop(doc.peaks.oursGflops)}${doc.peaks.torchGflops ? `, PyTorch's ${flop(doc.peaks.torchGflops)}` : ''}), copy ${doc.peaks.gbps.toFixed(0)} GB/s\n`);
console.log(`| case | shape | ours ms | ${gpu ? 'TFLOP/s' : 'GFLOP/s'} or GB/s | % peak | torch ms | torch/ours |`);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of doc.rows) {
  const rate = r.gflops != null ? flop(r.gflops) : r.gbps != null ? `${r.gbps.toFixed(0)} GB/s` : '-';
  const peak = r.peakFraction == null ? '-' : `${(100 * r.peakFraction).toFixed(0)}%`;
  const ratio = r.torchRatio == null ? '-' : `${r.torchRatio.toFixed(2)}x`;
  console.log(`| ${r.name} | ${r.shape} | ${ms(r.medianMs)} | ${rate} | ${peak} | ${ms(r.torchMs)} | ${ratio} |`);
}
if (doc.breakdown) {
  const b = doc.breakdown;
  console.log(`\nThe forward op by op (one forward, GPU events around each op): ${b.forwardMs.toFixed(2)} ms\n`);
  console.log('| op | shape | calls | ms | ms/call | share | TFLOP/s |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const r of b.rows) {
    const rate = r.flops == null ? '-' : (r.flops / r.totalMs / 1e9).toFixed(1);
    console.log(`| ${r.op} | ${r.shape} | ${r.calls} | ${ms(r.totalMs)} | ${ms(r.totalMs / r.calls, 4)} | ${((100 * r.totalMs) / b.forwardMs).toFixed(1)}% | ${rate} |`);
  }
}
