/** backendInfo(): what this binary contains, what the machine offers, and memory in use. */
import { loadAddon } from '../binding';
import { cudaAutoReason, cudaUnavailableReason, detectedDevice, deviceOverrideError, resolveDevice, type Device } from './backend';

export interface BackendInfo {
  /** backends compiled into this binary */
  backends: Device[];
  /** what device: 'auto' picks here (DIT_DEVICE applied; when it is invalid, what detection picks) */
  defaultDevice: Device;
  /** why DIT_DEVICE is refused (device 'auto' then throws this as a TypeError), or null */
  deviceOverrideError: string | null;
  /** queued: CPU work enqueued and not yet started (enqueueing blocks while 1024 wait) */
  cpu: { isa: string; threads: number; queued: number };
  cuda: {
    compiled: boolean;
    available: boolean;
    /** why CUDA cannot be used at all, or null */
    reason: string | null;
    /** why device 'auto' does not pick CUDA, or null when it does */
    autoReason: string | null;
    driverVersion: number;
    runtimeVersion: number;
    architectures: string[];
    devices: { name: string; computeCapability: string; totalMemory: number; multiprocessors: number }[];
  };
  /** bytes held by live tensors; bytes kept by the caching allocator for reuse (DIT_CPU_CACHE_MB caps it) */
  memory: { cpu: { bytesInUse: number; buffers: number; bytesCached: number }; cuda: { bytesInUse: number; buffers: number; bytesCached: number } };
}

export function backendInfo(): BackendInfo {
  const addon = loadAddon();
  const info = addon.info();
  const mem = addon.memoryStats();
  const reason = cudaUnavailableReason();
  const overrideError = deviceOverrideError();
  return {
    backends: info.cuda.compiled ? ['cpu', 'cuda'] : ['cpu'],
    defaultDevice: overrideError ? detectedDevice() : resolveDevice('auto'),
    deviceOverrideError: overrideError,
    cpu: { isa: info.cpu.isa, threads: info.cpu.threads, queued: mem.cpuQueued },
    cuda: {
      compiled: info.cuda.compiled,
      available: reason === null,
      reason,
      autoReason: cudaAutoReason(),
      driverVersion: info.cuda.driverVersion,
      runtimeVersion: info.cuda.runtimeVersion,
      architectures: info.cuda.architectures,
      devices: info.cuda.devices,
    },
    memory: {
      cpu: { bytesInUse: mem.cpuBytesInUse, buffers: mem.cpuBuffers, bytesCached: mem.cpuBytesCached },
      cuda: { bytesInUse: mem.cudaBytesInUse, buffers: mem.cudaBuffers, bytesCached: mem.cudaBytesCached },
    },
  };
}
