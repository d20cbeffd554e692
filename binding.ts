/**
 * The only place that loads the native addon. node-gyp-build looks for a local build
 * (build/Release) first, then a prebuilt binary (prebuilds/<platform>-<arch>/). When nothing
 * loads, one error lists what was tried and how to fix it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DitError } from './lib/errors';

/** A block of device memory owned by JS; free() releases it after the work queued on it. */
export interface NativeBuffer {
  readonly bytes: number;
  readonly device: 'cpu' | 'cuda';
  free(): void;
}

export interface NativeCudaInfo {
  compiled: boolean;
  deviceCount: number;
  error: string | null;
  errorMessage: string | null;
  driverVersion: number;
  runtimeVersion: number;
  architectures: string[];
  devices: { name: string; computeCapability: string; totalMemory: number; multiprocessors: number }[];
}

/** Argument objects of the ops: buffers plus `<name>Offset` byte offsets; see native/addon/ops.cpp. */
export type OpArgs = Record<string, NativeBuffer | number | boolean | null | undefined>;

export interface NativeAddon {
  NativeBuffer: new (device: number, bytes: number) => NativeBuffer;
  upload(buf: NativeBuffer, byteOffset: number, src: ArrayBufferView, srcDtype: number, dstDtype: number, count: number): void;
  download(buf: NativeBuffer, byteOffset: number, srcDtype: number, dst: ArrayBufferView, dstDtype: number, count: number): Promise<void>;
  /** CUDA: `stream` omitted = every stream */
  sync(device: number, stream?: number): Promise<void>;
  copy(dst: NativeBuffer, dstByteOffset: number, src: NativeBuffer, srcByteOffset: number, bytes: number): void;
  info(): { cpu: { isa: string; threads: number }; cuda: NativeCudaInfo };
  memoryStats(): {
    cpuBytesInUse: number; cpuBuffers: number; cpuBytesCached: number; cpuQueued: number;
    cudaBytesInUse: number; cudaBuffers: number; cudaBytesCached: number;
  };
  /** CUDA benchmark timing: an event recorded on the stream now (an id) */
  cudaTimer(): number;
  /** GPU milliseconds between two recorded timers (waits for `end`; releases both) */
  cudaElapsed(start: number, end: number): number;
  /** occupies the CUDA stream for this long, so the host can queue a sample behind it */
  cudaBusyWait(microseconds: number): void;
  /** a new CUDA stream's id (0, the default stream, when DIT_CUDA_STREAMS=shared) */
  cudaStreamCreate(): number;
  /** waits for the stream's work, then destroys it */
  cudaStreamDestroy(stream: number): void;
  /** makes `stream` this thread's current stream (allocations, copies, ops); returns the previous one */
  cudaSetStream(stream: number): number;
  /** the current stream waits for the work queued so far on `stream` */
  cudaWaitForStream(stream: number): void;
  linear(a: OpArgs): void;
  layerNormModulate(a: OpArgs): void;
  gatedResidual(a: OpArgs): void;
  attention(a: OpArgs): void;
  conv3d(a: OpArgs): void;
  patchEmbed3d(a: OpArgs): void;
  timestepEmbedding(a: OpArgs): void;
  activation(a: OpArgs): void;
  addRows(a: OpArgs): void;
  unpatchify(a: OpArgs): void;
  embedding(a: OpArgs): void;
  cfgCombine(a: OpArgs): void;
  cast(a: OpArgs): void;
  packLinearWeight(a: OpArgs): void;
  /** f32 elements of packLinearWeight's out for W [N, K] in this dtype (code) */
  packedWeightFloats(dtype: number, N: number, K: number): number;
}

/** The package root: the nearest directory above this file holding dit-native's package.json. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'dit-native') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.join(__dirname, '..');
    dir = parent;
  }
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const tried: string[] = [];
  const override = process.env.DIT_NATIVE_BINARY;
  if (override) {
    try {
      cached = require(path.resolve(override)) as NativeAddon;
      return cached;
    } catch (e) {
      tried.push(`DIT_NATIVE_BINARY=${override}: ${(e as Error).message}`);
    }
  } else {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
      cached = nodeGypBuild(root) as NativeAddon;
      return cached;
    } catch (e) {
      tried.push(`node-gyp-build in ${root} (build/Release, prebuilds/${process.platform}-${process.arch}): ${(e as Error).message}`);
    }
  }
  throw new DitError(
    'ERR_DIT_BINDING',
    [
      `Could not load the dit-native native addon for ${process.platform}-${process.arch} (Node ${process.version}).`,
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
      'Possible fixes:',
      '  - reinstall the package so its prebuilt binary is present: npm install dit-native',
      '  - build it from source (needs cmake and a C++17 compiler; nvcc optional): npm run build:native',
      '  - point DIT_NATIVE_BINARY at a dit_native.node you built',
    ].join('\n'),
  );
}
