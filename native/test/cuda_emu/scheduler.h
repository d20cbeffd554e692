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
  bool done = false;   // (not started yet: sp is null)
  enum class Wait { None, Block, Group, Poll } wait = Wait::None;
  uint64_t wait_generation = 0;
  const void* waiting_group = nullptr;  // the warp or warpgroup of a Wait::Group
  std::vector<AsyncCopy> open_group;               // cp.async issued since the last commit
  std::deque<std::vector<AsyncCopy>> async_groups;  // committed, not yet waited for
  std::vector<uint32_t> unfenced;                   // shared offsets of its cp.async copies done since its last fence.proxy.async
};

// The emulated device's grid limit on y and z (DIT_EMU_GRID_Y; default a GPU's 65535): a test
// lowers it so that small shapes take the paths that split a launch over grid y.
unsigned max_grid_y();

// The thread running now; faults when called outside a kernel.
Thread& current_thread();

// Ends the running kernel: the launch reports `what` on stderr, and the context is then broken as
// after a fault on a GPU (every later runtime call returns cudaErrorLaunchFailure).
[[noreturn]] void fault(const std::string& what);

// Faults unless [p, p + bytes) lies in the running block's dynamic shared memory.
void check_dynamic_shared(const void* p, size_t bytes, const char* what);

// A collective of the running thread's warpgroup (128 threads; see warp_collective in mma.h).
void warpgroup_collective(const char* what, void* arg, void (*fn)(void** args, void* ctx), void* ctx = nullptr);
// Yields in a polling loop (mbarrier try_wait): the thread runs again after the others, and a
// round in which only pollers ran and nothing changed (note_state_change) is a deadlock.
void poll_yield();
void note_state_change();
// Numbers the blocks run so far: state kept per block elsewhere (mbarriers, wgmma queues) resets
// when it changes.
uint64_t block_serial();
// Shared addresses (what __cvta_generic_to_shared gives, descriptors hold) are kSharedBase plus
// offsets into the block's dynamic shared memory; shared_pointer faults unless [address, address +
// bytes) is in it. The base is 16-byte aligned only, as a real block's dynamic shared memory after
// its static variables may be, so kernels that need 1024-byte tiles must align them (align_1024).
constexpr uint32_t kSharedBase = 0x410;
uint32_t shared_address(const void* p);
unsigned char* shared_pointer(uint32_t address, size_t bytes, const char* what);

// Generic-proxy writes (cp.async) to shared memory the async proxy (wgmma) may not read until the
// writing thread has run fence.proxy.async: a count per byte of the dynamic shared memory.
// (fence_proxy_async itself: include/dit_emu_hopper.h)
void mark_unfenced(Thread& t, uint32_t offset);  // the 16 bytes of one cp.async at this offset
bool is_unfenced(uint32_t address, uint32_t bytes);  // a shared address
// Ordinary stores to shared memory the async proxy may not read either until a fence.proxy.async
// orders them: the emulator cannot see a store, so it keeps an image of the dynamic shared memory
// as it was at the last fence.proxy.async of any thread, and the bytes an async read finds changed
// since were written after it. (A writer that relies on another thread's fence passes: the rule is
// per thread.) The async proxy's own writes (TMA loads) go into the image too.
void note_async_write(uint32_t address, uint32_t bytes);  // after the async proxy wrote them
bool is_stored_since_fence(uint32_t address, uint32_t bytes);
// cp.async copies issued and not yet landed (no cp.async.wait_group of their thread retired them):
// what the async proxy may not read either, whatever the thread scheduling (a tile published
// before its copies were waited for would otherwise pass whenever its writer happened to wait
// first). A count per byte, like the above.
void mark_pending(uint32_t offset, int delta);  // the 16 bytes at this offset: +1 issued, -1 landed
bool is_pending(uint32_t address, uint32_t bytes);

// DIT_EMU_ASYNC=early: cp.async copies at the instruction rather than at the wait that retires it.
bool async_copies_early();

// The runtime's error state (runtime.cpp): a launch's configuration error (returned once by
// cudaGetLastError), or a kernel fault (sticky).
void set_launch_error(cudaError_t err);
void set_sticky_error(cudaError_t err);
// What a launch on `stream` gets before it runs: the sticky error, or cudaErrorInvalidResourceHandle
// for a destroyed stream, else cudaSuccess.
cudaError_t launch_status(cudaStream_t stream);
// Returns once no kernel is running (on another host thread): what a synchronising call waits for.
void wait_for_kernels();
// The emulator's cuTensorMapEncodeTiled (hopper.cpp), a driver entry point of the runtime.
void* tensor_map_encoder();
// The value of f16 (bf16 = false) or bf16 bits (ptx.cpp; f16 from a table: every mma converts).
float half_value(uint32_t bits, bool bf16);
// The device's limits, as cudaGetDeviceProperties reports them.
constexpr int kSharedOptin = 232448;  // 227 KiB, as on an H100
constexpr int kSharedDefault = 48 * 1024;

}  // namespace dit_emu
