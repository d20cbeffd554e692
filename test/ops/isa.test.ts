// Every instruction-set build of the CPU kernels is correct, not only the one this machine picks.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

for (const isa of ['avx2', 'sse2']) {
  test(`the ${isa} kernels match the references`, (t) => {
    const out = execFileSync(process.execPath, ['--import=tsx', path.join(__dirname, '..', 'helpers', 'isa_check.ts')], {
      env: { ...process.env, DIT_CPU_ISA: isa },
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    t.is(r.isa, isa);
    for (const k of ['model', 'linear', 'attention']) t.true(r[k] <= 1e-5, `${k}: ${r[k]}`);
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
