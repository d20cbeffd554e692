// The forward op by op (bench --breakdown): every op the model enqueues timed by its own events,
// grouped by op and shape, and the backend left as it was.
import { getBackend } from '../../lib/backend';
import { forwardBreakdown } from '../../lib/breakdown';
import { DiT, readSafetensors } from '../../lib';
import { fixturePath } from '../helpers/fixtures';
import { gpuTest } from '../helpers/gpu';

gpuTest('forwardBreakdown times each op of a forward and restores the backend', async (t) => {
  const file = fixturePath('dit_text_27tok.safetensors');  // depth 2, text condition
  const data = await readSafetensors(file);
  const model = await DiT.load({ weights: file, device: 'cuda', dtype: 'bf16' });
  const be = getBackend('cuda');
  const forward = async () => (await model.forward({ x: data.x, t: data.t, y: data.y })).dispose();
  await forward();
  const b = await forwardBreakdown(be, forward, 1000);
  const calls = (op: string) => b.rows.filter((r) => r.op === op).reduce((n, r) => n + r.calls, 0);
  t.is(calls('attention'), 2);  // one a block
  t.is(calls('layerNormModulate'), 2 * 2 + 1);  // two a block and the final layer's
  t.true(calls('linear') >= 4 * 2, 'qkv, proj, fc1 and fc2 of each block');
  const attention = b.rows.find((r) => r.op === 'attention')!;
  t.is(attention.shape, 'B3 H3 N27 M27 Dh12');
  t.is(attention.flops, 2 * (4 * 3 * 3 * 27 * 27 * 12));  // the row's two calls
  for (const r of b.rows) t.true(r.totalMs > 0, `${r.op} ${r.shape}`);
  t.true(Math.abs(b.rows.reduce((ms, r) => ms + r.totalMs, 0) - b.forwardMs) < 1e-9);
  for (let i = 1; i < b.rows.length; i++) t.true(b.rows[i - 1].totalMs >= b.rows[i].totalMs, 'largest first');
  // the wrappers are gone: the backend's own methods again, and a forward works as before
  t.false(Object.hasOwn(be, 'linear') || Object.hasOwn(be, 'attention'));
  await forward();
  model.dispose();
});

gpuTest('forwardBreakdown releases its events and the backend when the forward fails', async (t) => {
  const be = getBackend('cuda');
  // an op whose arguments the addon refuses (before any launch)
  const failing = async () => be.linear({} as never);
  await t.throwsAsync(forwardBreakdown(be, failing, 100), { code: 'ERR_DIT_NATIVE' });
  t.false(Object.hasOwn(be, 'linear'));
});
