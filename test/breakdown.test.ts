// forwardBreakdown's bookkeeping against a stand-in backend (no GPU): every argument passed on,
// the backend's own methods put back, every event read once, the forward's own error first.
import test from 'ava';
import type { Backend } from '../lib/backend';
import { forwardBreakdown } from '../lib/breakdown';

function standIn(failElapsed = false) {
  const live = new Set<number>();
  let next = 0, clock = 0;
  const times = new Map<number, number>();
  const calls: unknown[][] = [];
  const be = {
    device: 'cuda',
    gpuTimer: {
      record: () => { live.add(++next); times.set(next, clock); return next; },
      elapsedMs: (a: number, b: number) => {
        live.delete(a);
        live.delete(b);
        if (failElapsed) throw new Error('timer error');
        return times.get(b)! - times.get(a)!;
      },
      busyWait: () => {},
    },
    linear(c: unknown) { calls.push(['linear', c]); clock += 2; },
    copy(dst: unknown, src: unknown) { calls.push(['copy', dst, src]); clock += 1; },
  };
  return { be, live, calls };
}

test('forwardBreakdown passes every argument on, groups by op and shape, and puts the methods back', async (t) => {
  const { be, live, calls } = standIn();
  const { linear, copy } = be;
  const linearCall = { M: 2, N: 3, K: 4, activation: 'none' };
  const b = await forwardBreakdown(be as unknown as Backend, async () => {
    be.linear(linearCall);
    be.linear(linearCall);
    be.copy('dst', 'src');
  }, 10);
  t.deepEqual(calls, [['linear', linearCall], ['linear', linearCall], ['copy', 'dst', 'src']]);
  t.deepEqual(b.rows, [
    { op: 'linear', shape: 'M2 N3 K4', calls: 2, totalMs: 4, flops: 2 * 2 * 2 * 3 * 4 },
    { op: 'copy', shape: '', calls: 1, totalMs: 1, flops: null },
  ]);
  t.is(b.forwardMs, 5);
  t.is(be.linear, linear);
  t.is(be.copy, copy);
  t.is(live.size, 0);
});

test('forwardBreakdown reads every event when the forward fails, and throws the forward\'s error', async (t) => {
  const { be, live } = standIn(true);
  await t.throwsAsync(forwardBreakdown(be as unknown as Backend, async () => {
    be.linear({ M: 1, N: 1, K: 1, activation: 'none' });
    throw new Error('forward failed');
  }, 10), { message: 'forward failed' });
  t.is(live.size, 0);
  // a forward that ran, and a timer that failed: the timer's error
  await t.throwsAsync(forwardBreakdown(be as unknown as Backend, async () => be.copy(1, 2), 10), { message: 'timer error' });
  t.is(live.size, 0);
});
