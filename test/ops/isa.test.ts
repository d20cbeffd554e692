// Every instruction-set build of the CPU kernels is correct, not only the one this machine picks.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

// avx512 forced is the AVX-512 build without the bf16 GEMM, on a processor that has AVX512-BF16
for (const isa of ['avx512', 'avx2', 'sse2']) {
  test(`the ${isa} kernels match the references`, (t) => {
    const out = execFileSync(process.execPath, ['--import=tsx', path.join(__dirname, '..', 'helpers', 'isa_check.ts')], {
      env: { ...process.env, DIT_CPU_ISA: isa },
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (isa === 'avx512' && r.isa !== 'avx512') return t.pass(`this processor has no AVX-512 (${r.isa} ran)`);
    t.is(r.isa, isa);
    for (const k of ['model', 'linear', 'attention', 'conv']) t.true(r[k] <= 1e-5, `${k}: ${r[k]}`);
    t.true(r.linearBf16 <= 1e-2, `linear bf16: ${r.linearBf16}`);
    t.true(r.convBf16 <= 1e-2, `conv bf16: ${r.convBf16}`);
  });
}

// The CPU conv gathers from a padded copy of the input when taps overlap and directly (with
// bounds tests) otherwise, and makes the copy and its result a slab of output frames at a time
// when the whole would pass its bound: the conv tests once more with the direct gather forced,
// and once with a bound of 1000 words (the causal tests' 5 frames then run in padded slabs of 2
// frames in f32 and of 4 in bf16 channel pairs, time padding included; the larger cases gather
// directly, their results a frame at a time).
for (const [name, env] of [
  ['the direct gather (no padded input copy)', { DIT_CPU_CONV_GATHER: 'direct' }],
  ['padded copies of a few frames at a time', { DIT_CPU_CONV_SLAB_WORDS: '1000' }],
] as const) {
  test(`the conv tests pass with ${name}`, (t) => {
    const root = path.join(__dirname, '..', '..');
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), 'test/ops/conv.test.ts'], {
      cwd: root,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    t.pass();
  });
}
