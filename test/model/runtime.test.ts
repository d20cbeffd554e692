import test from 'ava';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { backendInfo, DiT, ops, Tensor } from '../../lib';
import { getBackend } from '../../lib/backend';

/** Waits for the CPU queue (a read is ordered after everything before it). */
async function fence(): Promise<void> {
  const z = Tensor.zeros([1]);
  await z.toFloat32Array();
  z.dispose();
}

const SMALL = { input_size: [4, 16, 16], hidden_size: 384, depth: 12, num_heads: 6, condition: 'label_1000' } as const;

test.serial('a forward runs off the JavaScript thread: timers keep firing meanwhile', async (t) => {
  const model = await DiT.load({ config: { ...SMALL, input_size: [4, 16, 16] }, seed: 3 });
  const x = Tensor.zeros([2, 4, 4, 16, 16]);
  await (await model.forward({ x, t: [1, 2], y: [3, 4] })).toFloat32Array(); // warm-up
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < 300) {
    (await model.forward({ x, t: [1, 2], y: [3, 4] })).dispose();
    runs++;
  }
  clearInterval(timer);
  const elapsed = performance.now() - start;
  // a blocked event loop would tick about once per forward; a free one every ~2 ms
  t.true(ticks > runs * 3 && ticks >= elapsed / 20, `${ticks} ticks in ${elapsed.toFixed(0)} ms over ${runs} forwards`);
  model.dispose();
});

test.serial('200 forwards keep memory flat (native buffers and RSS)', async (t) => {
  const model = await DiT.load({ config: { input_size: [2, 8, 8], hidden_size: 64, depth: 2, num_heads: 2, condition: 'text', caption_channels: 32 }, seed: 1 });
  const x = Tensor.zeros([2, 4, 2, 8, 8]);
  const y = Tensor.zeros([2, 1, 1, 32]);
  const step = async () => {
    const out = await model.forward({ x, t: [5, 6], y });
    await out.toFloat32Array();
    out.dispose();
    const cfg = await model.forwardWithCfg({ x, t: [5, 6], y, cfgScale: 2 });
    cfg.dispose();
  };
  for (let i = 0; i < 20; i++) await step();
  await fence(); // queued frees have run
  const before = backendInfo().memory.cpu;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 200; i++) await step();
  await fence();
  global.gc?.();
  const after = backendInfo().memory.cpu;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  t.true(after.bytesInUse <= before.bytesInUse + 64, `native bytes ${before.bytesInUse} -> ${after.bytesInUse}`);
  t.true(after.buffers <= before.buffers + 2, `native buffers ${before.buffers} -> ${after.buffers}`);
  t.true(rssGrowth < 40 * 1024 * 1024, `RSS grew ${(rssGrowth / 1048576).toFixed(1)} MiB`);
  model.dispose();
});

test.serial('a loop of synchronous ops never queues more than 1024 items (back-pressure)', async (t) => {
  // each SiLU on 256 K values takes tens of microseconds, the call a few: unbounded, the queue would
  // hold most of the 3000 calls and every output not yet computed
  const x = Tensor.zeros([512, 512]);
  let deepest = 0;
  for (let i = 0; i < 3000; i++) {
    ops.silu(x).dispose();
    deepest = Math.max(deepest, backendInfo().cpu.queued);
  }
  await fence();
  t.true(deepest <= 1024, `queue depth reached ${deepest}`);
  t.true(deepest >= 512, `the loop should outrun the executor (depth ${deepest})`);
  t.is(backendInfo().cpu.queued, 0);
  x.dispose();
});

test.serial('backendInfo reports the CPU path and why CUDA is or is not used', (t) => {
  const info = backendInfo();
  t.true(info.backends.includes('cpu'));
  t.regex(info.cpu.isa, /^(avx512bf16|avx512|avx2|sse2)$/);
  t.true(info.cpu.threads >= 1);
  if (!info.cuda.available) t.regex(String(info.cuda.reason), /.+/);
});

test.serial('disposing a model releases all of its native memory', async (t) => {
  await fence();
  const before = backendInfo().memory.cpu.bytesInUse;
  const model = await DiT.load({ config: { input_size: [2, 8, 8], hidden_size: 64, depth: 3, num_heads: 2, condition: 'label_7' }, seed: 2 });
  const x = Tensor.zeros([1, 4, 2, 8, 8]);
  (await model.forward({ x, t: [3], y: [1] })).dispose();
  t.true(backendInfo().memory.cpu.bytesInUse > before);
  model.dispose();
  x.dispose();
  await fence();
  t.is(backendInfo().memory.cpu.bytesInUse, before);
});

test('the addon works from worker threads alongside the main thread', async (t) => {
  // the compiled package (npm test builds it first): a worker has no TypeScript loader
  const lib = path.join(__dirname, '..', '..', 'dist', 'lib', 'index.js');
  const code = `
    const { ops, Tensor } = require(${JSON.stringify(lib)});
    const { parentPort } = require('node:worker_threads');
    ops.silu(Tensor.from([1, -2, 3], [3])).toFloat32Array().then((v) => parentPort.postMessage(Array.from(v)));`;
  const expected = Array.from(await ops.silu(Tensor.from([1, -2, 3], [3])).toFloat32Array());
  const fromWorkers = await Promise.all(
    [0, 1].map(() => new Promise<number[]>((resolve, reject) => {
      const w = new Worker(code, { eval: true });
      w.once('message', (v: number[]) => { resolve(v); void w.terminate(); });
      w.once('error', reject);
    })),
  );
  t.deepEqual(fromWorkers, [expected, expected]);
  // the main thread's tensors still work after the workers defined their own classes
  t.deepEqual(Array.from(await ops.silu(Tensor.from([1, -2, 3], [3])).toFloat32Array()), expected);
});

// Each scenario in a child process, several times (the crashes were timing-dependent): a worker that
// alone loaded the addon exiting with work queued (Node unloaded the library under the executor
// thread: SIGSEGV), and a worker terminated while a read was pending (the promise settled in a
// dying environment threw out of the addon: abort).
test('workers that load the addon can exit or be terminated mid-read without killing the process', async (t) => {
  const lib = JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'lib', 'index.js'));
  const scenarios = {
    'only a worker loads it': `
      const { Worker } = require('node:worker_threads');
      new Worker('const { ops, Tensor } = require(${lib}); ops.silu(Tensor.from([1, 2], [2]));', { eval: true });`,
    'terminated mid-read': `
      const { Worker } = require('node:worker_threads');
      require(${lib}).backendInfo();
      const w = new Worker(\`const { Tensor } = require(${lib});
        Tensor.from([1, 2], [2]).toFloat32Array();
        require('node:worker_threads').parentPort.postMessage(0);\`, { eval: true });
      w.once('message', () => w.terminate());`,
    // the queue still had to write reads into the worker's typed arrays when its memory went away
    'terminated with 40 reads of queued work pending': `
      const { Worker } = require('node:worker_threads');
      require(${lib}).backendInfo();
      const w = new Worker(\`const { Tensor, ops } = require(${lib});
        const x = Tensor.from(new Float32Array(512 * 512).fill(0.01), [512, 512]);
        let y = x;
        for (let i = 0; i < 40; i++) { y = ops.linear(y, x); y.toFloat32Array(); }
        require('node:worker_threads').parentPort.postMessage(0);\`, { eval: true });
      w.once('message', () => setTimeout(() => w.terminate(), 5));`,
  };
  for (const [name, code] of Object.entries(scenarios)) {
    for (let run = 0; run < 4; run++) {
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30000 });
      t.true(r.status === 0 && r.signal === null, `${name}, run ${run}: status ${r.status}, signal ${r.signal}, ${r.stderr.slice(0, 200)}`);
    }
  }
});

// A pending read is settled by the CPU queue itself: it holds none of the 4 threads of libuv's
// pool, which fs, dns, zlib and crypto need (a blocked pool thread per read stalled them all until
// the queue had run). The file read must complete while the queue is still busy.
test.serial('pending reads leave libuv\'s thread pool free: fs works while the queue runs', async (t) => {
  const { promises: fsp } = await import('node:fs');
  const w = Tensor.from(new Float32Array(1024 * 1024).fill(0.001), [1024, 1024]);
  let y = w;
  for (let i = 0; i < 60; i++) y = ops.linear(y, w); // ~0.3-1 s of queued work
  let settled = 0;
  const reads = Array.from({ length: 8 }, () => y.toFloat32Array().then(() => settled++));
  await fsp.readFile(__filename);
  t.is(settled, 0, 'the file was read before any of the 8 reads settled');
  await Promise.all(reads);
  t.is(settled, 8);
});

test('on the CPU a model stream is the one queue: createStream is 0, onStream runs at once, sync(stream) waits', async (t) => {
  const be = getBackend('cpu');
  const s = be.createStream();
  t.is(s, 0);
  t.is(be.onStream(s, () => 42), 42);
  const x = Tensor.from([1, 2, 3], [3]);
  await be.sync(s);
  t.deepEqual(Array.from(await x.toFloat32Array()), [1, 2, 3]);
  be.destroyStream(s);
  x.dispose();
});
