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

// The CPU conv gathers from a padded f32 copy of the input when taps overlap and directly (with
// bounds tests) otherwise; the conv tests once more with the direct gather forced.
test('the conv tests pass with the direct gather (no padded input copy)', (t) => {
  const root = path.join(__dirname, '..', '..');
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), 'test/ops/conv.test.ts'], {
    cwd: root,
    env: { ...process.env, DIT_CPU_CONV_GATHER: 'direct' },
    encoding: 'utf8',
  });
  t.pass();
});
