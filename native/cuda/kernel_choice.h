// Which kernel each tensor-core op runs, in one place: the switches DIT_CUDA_GEMM,
// DIT_CUDA_ATTENTION and DIT_CUDA_CONV (read once; unset or "auto" is the default) and the
// defaults themselves. A value an op does not know is an error naming the ones it takes, so a
// typo never silently times the wrong kernel.
#pragma once

namespace dit::cuda {

// Whether "auto" runs the Hopper (sm_90a) kernel on compute capability 9.0 devices: each was
// verified against the CPU (native check, the CUDA ava tests, memcheck and racecheck) and timed
// faster than its mma.sync kernel on an H200 (2026-11-27, BENCHMARKS.md). DIT_CUDA_*=mma still
// selects the mma.sync kernel, which stays the default below compute capability 9.0.
constexpr bool kHopperGemmByDefault = true;       // linear_tma.cu
constexpr bool kHopperAttentionByDefault = true;  // attention_wgmma.cu
constexpr bool kHopperConvByDefault = true;       // conv3d_wgmma.cu

// DIT_CUDA_GEMM: mma (mma.sync, linear_mma.cu), wmma (linear.cu's fallback), wgmma
// (linear_wgmma.cu), tma (linear_tma.cu, storing C from registers), tma-staged (the same kernel
// storing C through shared memory with TMA stores)
enum class GemmKernel { Auto, Mma, Wmma, Wgmma, Tma, TmaStaged };
// Whether the TMA GEMM runs the staged epilogue when not named: not until a GPU has verified and
// timed it against the register stores (twelfth session: the emulator only).
constexpr bool kTmaStagedByDefault = false;
// DIT_CUDA_ATTENTION: mma (two query tiles per warp where registers allow), mma16 (one), wmma,
// simt (attention.cu's fallbacks), and attention_wgmma.cu's three schedules: wgmma (the two
// warpgroups in lockstep), wgmma-pingpong (their softmaxes alternating with their products),
// wgmma-producer (a third warpgroup loading the tiles, on mbarriers), wgmma-producer-alternating
// (the same, its two other warpgroups taking turns to issue their products)
enum class AttentionKernel { Auto, Mma, Mma16, Wmma, Simt, Wgmma, WgmmaPingPong, WgmmaProducer, WgmmaProducerAlternating };
// Which of the wgmma schedules "auto" runs: the lockstep one, the one verified on the H200, until
// a GPU has timed the others against it (all pass every check on the CUDA emulator).
constexpr AttentionKernel kWgmmaAttentionByDefault = AttentionKernel::Wgmma;
// DIT_CUDA_CONV: mma (the implicit GEMM of conv3d_mma.cu), im2col (conv3d.cu's fallback), wgmma
// (conv3d_wgmma.cu), tma (conv3d_tma.cu: the TMA GEMM, its B tiles copied from the input by TMA)
enum class ConvKernel { Auto, Mma, Im2col, Wgmma, Tma };
// Whether "auto" tries the TMA convolution before the wgmma one on 9.0: not until a GPU has
// verified and timed it (twelfth session: the emulator only).
constexpr bool kTmaConvByDefault = false;

// Throw std::invalid_argument on a value the op does not know.
GemmKernel gemm_kernel();
AttentionKernel attention_kernel();
ConvKernel conv_kernel();

// "auto" or the named Hopper kernel, given that op's default: whether to try the Hopper kernel first
inline bool try_hopper(bool named, bool automatic, bool by_default) { return named || (automatic && by_default); }

}  // namespace dit::cuda
