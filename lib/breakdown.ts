/**
 * The GPU time of one forward op by op (`dit-native bench --breakdown`, CUDA): a pair of events
 * around every op the model enqueues on the backend, read after the forward. An op's time is
 * from its start event to its end event: the gap the GPU spends between two ops (a launch's
 * latency) falls inside the later op's interval, so the rows add up to the forward. The whole
 * forward is queued behind a busy wait first, so what is timed is the GPU's work, not the host's
 * launch rate. Ops are grouped by name and shape; the events add a little to each op. (Timer
 * events are released as they are read, so each op has its own pair.)
 */
import type { Backend } from './backend';
import { DitError } from './errors';

type Call = Record<string, unknown>;
const n = (v: unknown) => v as number;
/** The Backend methods that enqueue device work: the shape a row is grouped by, and the FLOPs. */
const OPS: Record<string, { shape: (c: Call) => string; flops?: (c: Call) => number }> = {
  linear: {
    shape: (c) => `M${c.M} N${c.N} K${c.K}${c.activation !== 'none' ? ` +${c.activation}` : ''}${c.gate ? ' gated' : ''}`,
    flops: (c) => 2 * n(c.M) * n(c.N) * n(c.K),
  },
  attention: { shape: (c) => `B${c.B} H${c.H} N${c.N} M${c.M} Dh${c.Dh}`, flops: (c) => 4 * n(c.B) * n(c.H) * n(c.N) * n(c.M) * n(c.Dh) },
  layerNormModulate: { shape: (c) => `B${c.B} N${c.N} D${c.D}` },
  gatedResidual: { shape: (c) => `B${c.B} N${c.N} D${c.D}` },
  conv3d: {
    shape: (c) => `${c.Cin}->${c.Cout} ${c.T}x${c.H}x${c.W}`,
    flops: (c) => 2 * n(c.B) * n(c.Cout) * n(c.To) * n(c.Ho) * n(c.Wo) * n(c.Cin) * n(c.kt) * n(c.kh) * n(c.kw),
  },
  patchEmbed3d: { shape: (c) => `B${c.B} C${c.C} ${c.T}x${c.H}x${c.W} -> ${c.D}` },
  timestepEmbedding: { shape: (c) => `B${c.B} dim${c.dim}` },
  activation: { shape: (c) => `${c.count} ${c.activation}` },
  addRows: { shape: (c) => `${c.rows} x ${c.D}` },
  unpatchify: { shape: (c) => `B${c.B} C${c.C} ${c.t}x${c.h}x${c.w}` },
  embedding: { shape: (c) => `B${c.B} D${c.D}` },
  cfgCombine: { shape: (c) => `B${c.B} C${c.C} S${c.S}` },
  cast: { shape: (c) => `${c.count} ${c.srcDtype}->${c.dstDtype}` },
  copy: { shape: () => '' },
};

export interface BreakdownRow {
  op: string;
  shape: string;
  calls: number;
  totalMs: number;
  /** of all its calls (linear, attention, conv3d); null for the others */
  flops: number | null;
}

export interface Breakdown {
  /** the ops' times added up (work the model enqueues other than through these ops, such as
   * uploads, is not in it) */
  forwardMs: number;
  /** by total time, largest first */
  rows: BreakdownRow[];
}

/**
 * Runs `forward` once with every op it enqueues on `be` timed. `forward` must enqueue its work
 * on `be` and resolve once that work has run (DiT.forward does); `hideUs` is the busy wait the
 * host queues it behind.
 */
export async function forwardBreakdown(be: Backend, forward: () => Promise<void>, hideUs: number): Promise<Breakdown> {
  const timer = be.gpuTimer;
  if (!timer) throw new DitError('ERR_DIT_UNSUPPORTED', `a breakdown needs GPU events: the ${be.device} backend has none`);
  const marks: { op: string; call: Call; start: number; end: number }[] = [];
  // own properties shadow the backend's methods for this forward only (the ones it had of its
  // own, if any, are put back after)
  const target = be as unknown as Record<string, unknown>;
  const own = new Map<string, PropertyDescriptor | undefined>();
  for (const op of Object.keys(OPS)) {
    own.set(op, Object.getOwnPropertyDescriptor(target, op));
    const method = target[op] as (...args: unknown[]) => void;
    target[op] = (...args: unknown[]) => {
      const start = timer.record();
      try {
        method.apply(be, args);
      } finally {
        marks.push({ op, call: (args[0] ?? {}) as Call, start, end: timer.record() });
      }
    };
  }
  const times: number[] = [];
  let timerError: unknown;
  try {
    timer.busyWait(hideUs);
    await forward();
  } finally {
    for (const [op, descriptor] of own) {
      if (descriptor) Object.defineProperty(target, op, descriptor);
      else delete target[op];
    }
    // every event read, so released, whatever happened; a failed forward's own error wins
    for (const m of marks) {
      try {
        times.push(timer.elapsedMs(m.start, m.end));
      } catch (e) {
        timerError ??= e;
        times.push(NaN);
      }
    }
  }
  if (timerError !== undefined) throw timerError;
  const rows = new Map<string, BreakdownRow>();
  let forwardMs = 0;
  for (const [i, m] of marks.entries()) {
    const ms = times[i];
    forwardMs += ms;
    const { shape, flops } = OPS[m.op];
    const key = `${m.op}|${shape(m.call)}`;
    const row = rows.get(key) ?? { op: m.op, shape: shape(m.call), calls: 0, totalMs: 0, flops: flops ? 0 : null };
    row.calls++;
    row.totalMs += ms;
    if (row.flops !== null && flops) row.flops += flops(m.call);
    rows.set(key, row);
  }
  return { forwardMs, rows: [...rows.values()].sort((a, b) => b.totalMs - a.totalMs) };
}
