/** dit-native: Diffusion Transformers running natively in Node.js. */
export { Tensor, type TensorData, type TensorOptions } from './tensor';
export * as ops from './ops';
export { DitError, type DitErrorCode } from './errors';
export type { DType, FloatDType } from './dtype';
export type { Device } from './backend';
export { readSafetensors, readSafetensorsHeader, readSafetensorsWithMetadata, writeSafetensors, type ReadSafetensorsOptions, type SafetensorsHeader } from './safetensors';
export { DiT, type DiTLoadOptions, type ForwardInput, type CfgInput } from './dit/model';
export { PRESETS, DEFAULT_CONFIG, resolveConfig, type DiTConfig, type DiTConfigInput } from './dit/config';
export { backendInfo, type BackendInfo } from './info';
