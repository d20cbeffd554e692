/**
 * One function per kernel, PyTorch layouts. Each validates its arguments, enqueues the work on the
 * inputs' device and returns the output Tensor at once; reading it (toFloat32Array) waits.
 */
export { linear, type LinearOptions } from './linear';
export { layerNormModulate, gatedResidual } from './norm';
export { attention } from './attention';
export { conv3d, causalConv3d, patchEmbed3d, type Conv3dOptions, type CausalConv3dOptions } from './conv';
export { gelu, silu, timestepEmbedding, unpatchify } from './elementwise';
