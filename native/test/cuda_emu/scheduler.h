// The CUDA emulator's internals shared by its files: the emulated GPU thread that is running, the
// fault that ends a kernel, and the errors the runtime API reports afterwards.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "include/cuda_runtime.h"

namespace dit_emu {

struct AsyncCopy {
  void* dst;
  const void* src;
  bool valid;
};

// One CUDA thread of the running block, run as a fiber on its own stack.
struct Thread {
  void* sp = nullptr;  // saved stack pointer while switched out
  unsigned tid = 0;    // linear index in the block
  uint3 idx{0, 0, 0};
  bool started = false, done = false;
  enum class Wait { None, Block, Warp } wait = Wait::None;
  uint64_t wait_generation = 0;
  std::vector<AsyncCopy> open_group;               // cp.async issued since the last commit
  std::deque<std::vector<AsyncCopy>> async_groups;  // committed, not yet waited for
};

// The thread running now; faults when called outside a kernel.
Thread& current_thread();

// Ends the running kernel: the launch reports `what` on stderr, and the context is then broken as
// after a fault on a GPU (every later runtime call returns cudaErrorLaunchFailure).
[[noreturn]] void fault(const std::string& what);

// Faults unless [p, p + bytes) lies in the running block's dynamic shared memory.
void check_dynamic_shared(const void* p, size_t bytes, const char* what);

// DIT_EMU_ASYNC=early: cp.async copies at the instruction rather than at the wait that retires it.
bool async_copies_early();

// The runtime's error state (runtime.cpp): a launch's configuration error (returned once by
// cudaGetLastError), or a kernel fault (sticky).
void set_launch_error(cudaError_t err);
void set_sticky_error(cudaError_t err);
// The device's limits, as cudaGetDeviceProperties reports them.
constexpr int kSharedOptin = 232448;  // 227 KiB, as on an H100
constexpr int kSharedDefault = 48 * 1024;

}  // namespace dit_emu
