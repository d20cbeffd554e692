// The bench suite on CUDA: GPU timers (events behind a busy-wait kernel), the device copy for the
// bandwidth peak, rotated inputs. --small keeps it quick (the CPU's shapes), so it also runs on the
// CUDA emulator.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpuTest } from '../helpers/gpu';

gpuTest('bench --device cuda --small runs the kernel suite on the GPU and writes its JSON, with the kernel switches', (t) => {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dit-cuda-bench-')), 'bench.json');
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'lib', 'cli.js'), 'bench', '--device', 'cuda', '--suite', 'kernels',
    '--small', '--no-torch', '--iters', '1', '--json', json], { encoding: 'utf8', env: { ...process.env, DIT_CUDA_CONV: 'mma' } });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /measured peaks: GEMM [0-9.]+ TFLOP\/s \(1024\^3, ours\), copy [0-9.]+ GB\/s/);
  const doc = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(doc.small, true);
  // the kernel switches set are part of the record
  t.regex(r.stdout.split('\n')[0], / DIT_CUDA_CONV=mma/);
  t.is(doc.kernels.DIT_CUDA_CONV, 'mma');
  t.is(doc.rows.length, 10);
  for (const row of doc.rows) {
    t.is(row.device, 'cuda', row.name);
    t.is(row.dtype, 'bf16', row.name);
    t.true(row.medianMs > 0, row.name);
  }
  t.true(doc.peaks.gflops > 0 && doc.peaks.gbps > 0);
});
