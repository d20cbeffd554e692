// Grow-only per-thread scratch buffers: kernels reuse them across calls instead of allocating.
#pragma once
#include <cstddef>
#include <vector>

namespace dit::cpu {

// A float buffer of at least n elements owned by the calling thread; slot separates the
// independent buffers one kernel needs at once.
inline float* thread_scratch(size_t n, int slot = 0) {
  thread_local std::vector<float> buffers[5];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace dit::cpu
