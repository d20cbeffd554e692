// The CUDA emulator's execution model. A launch runs its blocks one after another; the threads of
// a block are fibers on one OS thread, each run until it reaches a barrier (__syncthreads, a warp
// collective: shuffles, ldmatrix, mma, wmma, __syncwarp) and switched out there; a barrier
// completes when every thread of the block (every lane of the warp) has reached it. So code that
// assumes lanes run in lockstep without a __syncwarp, or reads shared memory another thread
// writes without a barrier between, reads stale or poisoned data here (in one of the two thread
// orders, DIT_EMU_ORDER), as it may on a GPU.
// Checked, with the kernel faulting (message on stderr, sticky cudaErrorLaunchFailure): a barrier
// some threads never reach (deadlock); lanes of one warp at different collectives; a full-mask
// collective after a lane exited; cp.async / ldmatrix outside the block's dynamic shared memory or
// misaligned; launch configurations out of CUDA's limits; dynamic shared memory over 48 KiB without
// cudaFuncSetAttribute. Not checked: data races as such, out-of-bounds global memory (the host's
// own checks apply), timing.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

#include "include/dit_emu_hopper.h"
#include "include/mma.h"
#include "scheduler.h"

uint3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0};
dim3 blockDim, gridDim;

// Fiber switch for x86-64 System V: saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer to *save, loads `load` and restores the same
// from there. A new fiber's stack is laid out so that the first switch "returns" into
// dit_emu_fiber_start with the Thread* in r12 and the entry function in r13.
extern "C" void dit_emu_switch(void** save, void* load);
extern "C" void dit_emu_fiber_start();
asm(R"(
.text
.globl dit_emu_switch
.type dit_emu_switch,@function
dit_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size dit_emu_switch, .-dit_emu_switch
.globl dit_emu_fiber_start
.type dit_emu_fiber_start,@function
dit_emu_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
.size dit_emu_fiber_start, .-dit_emu_fiber_start
)");

namespace dit_emu {

unsigned max_grid_y() {
  static const unsigned limit = [] {
    const char* e = std::getenv("DIT_EMU_GRID_Y");
    const long n = e ? std::strtol(e, nullptr, 10) : 65535;
    return unsigned(n > 0 && n <= 65535 ? n : 65535);
  }();
  return limit;
}

namespace {

struct Fault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A warp (32 threads) or warpgroup (128) meeting at collectives.
struct Group {
  unsigned size = 32, arrived = 0, exited = 0;
  uint64_t generation = 0;
  const char* what = nullptr;
  void* args[128] = {};
};

constexpr size_t kStackBytes = 128 * 1024, kGuardBytes = 4096;

// The state of the launch in progress (launches are serialised by launch_mu).
std::mutex launch_mu;
std::vector<Thread> threads;
std::vector<Group> warps, warpgroups;
uint64_t blocks_run = 0, state_version = 0;
unsigned block_arrived = 0, block_exited = 0;
uint64_t block_generation = 0;
Thread* running = nullptr;
void* scheduler_sp = nullptr;
void (*kernel_body)(void*) = nullptr;
void* kernel_state = nullptr;
std::string fault_message;
unsigned char* shared_base = nullptr;
size_t shared_bytes = 0;
std::vector<uint16_t> unfenced_bytes;  // per byte of dynamic shared memory: writers not yet fenced
std::vector<uint16_t> pending_bytes;   // ... cp.async copies issued, not yet landed
std::vector<unsigned char> fenced_image;  // the dynamic shared memory at the last fence.proxy.async

// Stacks with a guard page below each, kept across launches.
unsigned char* stacks = nullptr;
size_t stack_count = 0;
unsigned char* stack_top(size_t i) { return stacks + i * (kStackBytes + kGuardBytes) + kGuardBytes + kStackBytes; }
void reserve_stacks(size_t n) {
  if (n <= stack_count) return;
  if (stacks) munmap(stacks, stack_count * (kStackBytes + kGuardBytes));
  const size_t bytes = n * (kStackBytes + kGuardBytes);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  stacks = static_cast<unsigned char*>(p);
  stack_count = n;
  for (size_t i = 0; i < n; i++) mprotect(stacks + i * (kStackBytes + kGuardBytes), kGuardBytes, PROT_NONE);
}

void switch_to_scheduler() { dit_emu_switch(&running->sp, scheduler_sp); }

Group& warp_of(const Thread& t) { return warps[t.tid / 32]; }
Group& warpgroup_of(const Thread& t) { return warpgroups[t.tid / 128]; }

void thread_exit(Thread& t) {
  t.done = true;
  block_exited++;
  if (block_arrived > 0 && block_arrived + block_exited == threads.size()) {  // the others' barrier is complete
    block_arrived = 0;
    block_generation++;
  }
  state_version++;
  for (Group* g : {&warp_of(t), &warpgroup_of(t)}) {
    g->exited++;
    if (g->arrived > 0 && fault_message.empty())
      fault_message = std::string("a thread exited while its warp or warpgroup waits in ") + g->what;
  }
}

void thread_main(Thread* t) {
  try {
    kernel_body(kernel_state);
    bulk_check_exit();
  } catch (const Fault& f) {
    if (fault_message.empty()) fault_message = f.what();
  } catch (const std::exception& e) {
    if (fault_message.empty()) fault_message = std::string("exception in a kernel: ") + e.what();
  }
  thread_exit(*t);
  switch_to_scheduler();  // never resumed
  std::abort();
}

void start_fiber(Thread& t, unsigned char* top) {
  // from the top: 16 bytes of padding, the return address (dit_emu_fiber_start), rbp rbx r12 r13
  // r14 r15, then MXCSR / x87 control word. The return address sits at 8 mod 16, so the stack is
  // 16-byte aligned after the `ret` into dit_emu_fiber_start, as its `call` needs.
  auto* slot = reinterpret_cast<uint64_t*>(top) - 3;
  slot[0] = reinterpret_cast<uint64_t>(&dit_emu_fiber_start);
  slot[-1] = 0;                                                   // rbp
  slot[-2] = 0;                                                   // rbx
  slot[-3] = reinterpret_cast<uint64_t>(&t);                      // r12
  slot[-4] = reinterpret_cast<uint64_t>(&thread_main);            // r13
  slot[-5] = 0;                                                   // r14
  slot[-6] = 0;                                                   // r15
  slot[-7] = 0x1f80u | (uint64_t(0x037fu) << 32);                 // default MXCSR, x87 control word
  t.sp = &slot[-7];
}

// DIT_EMU_ORDER=reverse: threads run last to first between barriers. With the default order a
// thread reading what a higher thread wrote without a barrier between reads stale data; reversed,
// one reading what a lower thread wrote does: the two orders together expose a missing barrier
// between any two threads.
bool reverse_order() {
  static const bool reverse = [] {
    const char* e = std::getenv("DIT_EMU_ORDER");
    return e && std::string(e) == "reverse";
  }();
  return reverse;
}

bool runnable(const Thread& t) {
  if (t.done) return false;
  switch (t.wait) {
    case Thread::Wait::Block: return block_generation != t.wait_generation;
    case Thread::Wait::Group: return static_cast<const Group*>(t.waiting_group)->generation != t.wait_generation;
    default: return true;
  }
}

std::string describe_deadlock() {
  unsigned at_block = 0;
  std::map<std::string, unsigned> at_warp;
  for (const Thread& t : threads) {
    if (t.done) continue;
    if (t.wait == Thread::Wait::Block) at_block++;
    if (t.wait == Thread::Wait::Group) {
      const Group* g = static_cast<const Group*>(t.waiting_group);
      at_warp[g->what ? g->what : "?"]++;
    }
    if (t.wait == Thread::Wait::Poll) at_warp["an mbarrier wait"]++;
  }
  std::string s = "deadlock: " + std::to_string(at_block) + " threads wait at __syncthreads";
  for (const auto& [what, n] : at_warp) s += ", " + std::to_string(n) + " in " + what;
  return s + ", " + std::to_string(block_exited) + " exited";
}

void run_block(unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    Thread& t = threads[i];
    t.sp = nullptr;
    t.done = false;
    t.wait = Thread::Wait::None;
    t.open_group.clear();  // keeps the allocations: a grid may have many blocks
    t.async_groups.clear();
    t.unfenced.clear();
    t.tid = i;
    t.idx = uint3{i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
  }
  for (auto [groups, size] : {std::pair{&warps, 32u}, std::pair{&warpgroups, 128u}})
    for (size_t g = 0; g < groups->size(); g++) {
      (*groups)[g] = Group{};
      (*groups)[g].size = std::min(size, n - unsigned(g) * size);
    }
  blocks_run++;
  block_arrived = block_exited = 0;
  if (shared_bytes) std::memset(shared_base, 0xff, shared_bytes);
  std::fill(fenced_image.begin(), fenced_image.end(), static_cast<unsigned char>(0xff));
  std::fill(unfenced_bytes.begin(), unfenced_bytes.end(), uint16_t(0));
  std::fill(pending_bytes.begin(), pending_bytes.end(), uint16_t(0));
  for (unsigned remaining = n; remaining > 0 && fault_message.empty();) {
    bool progress = false;
    const uint64_t version = state_version;
    for (unsigned k = 0; k < n && fault_message.empty(); k++) {
      const unsigned i = reverse_order() ? n - 1 - k : k;
      Thread& t = threads[i];
      if (!runnable(t)) continue;
      if (!t.sp) start_fiber(t, stack_top(i));
      const bool was_polling = t.wait == Thread::Wait::Poll;
      t.wait = Thread::Wait::None;
      threadIdx = t.idx;
      running = &t;
      dit_emu_switch(&scheduler_sp, t.sp);
      running = nullptr;
      // a poller that polls again is no progress by itself
      if (!was_polling || t.wait != Thread::Wait::Poll) progress = true;
      if (t.done) remaining--;
    }
    if (!progress && state_version == version && fault_message.empty()) fault_message = describe_deadlock();
  }
}

std::map<const void*, int>& shared_limits() {
  static std::map<const void*, int> m;
  return m;
}

cudaError_t check_config(const void* kernel, dim3 grid, dim3 block, size_t shared) {
  const uint64_t threads_per_block = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > max_grid_y() || grid.z > max_grid_y())
    return cudaErrorInvalidConfiguration;
  if (threads_per_block == 0 || threads_per_block > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    return cudaErrorInvalidConfiguration;
  auto it = shared_limits().find(kernel);
  const size_t limit = it == shared_limits().end() ? kSharedDefault : size_t(it->second);
  if (shared > limit) return cudaErrorInvalidValue;
  return cudaSuccess;
}

}  // namespace

Thread& current_thread() {
  if (!running) throw std::logic_error("CUDA emulator: a device function called outside a kernel");
  return *running;
}

void fault(const std::string& what) { throw Fault(what); }

void check_dynamic_shared(const void* p, size_t bytes, const char* what) {
  const auto* c = static_cast<const unsigned char*>(p);
  if (c < shared_base || c + bytes > shared_base + shared_bytes)
    fault(std::string(what) + ": address outside the block's dynamic shared memory (offset " +
          std::to_string(static_cast<long long>(c - shared_base)) + ", " + std::to_string(shared_bytes) + " bytes)");
}

bool async_copies_early() {
  static const bool early = [] {
    const char* e = std::getenv("DIT_EMU_ASYNC");
    return e && std::string(e) == "early";
  }();
  return early;
}

cudaError_t register_shared_limit(const void* kernel, int bytes) {
  if (bytes < 0 || bytes > kSharedOptin) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(launch_mu);
  shared_limits()[kernel] = bytes;
  return cudaSuccess;
}

void wait_for_kernels() { std::lock_guard<std::mutex> lock(launch_mu); }

void run_grid(const void* kernel, dim3 grid, dim3 block, size_t shared, cudaStream_t stream, void (*body)(void*), void* state) {
  const cudaError_t status = launch_status(stream);
  if (status != cudaSuccess) {
    set_launch_error(status);
    return;
  }
  std::lock_guard<std::mutex> lock(launch_mu);
  const cudaError_t config = check_config(kernel, grid, block, shared);
  if (config != cudaSuccess) {
    set_launch_error(config);
    return;
  }
  const unsigned n = block.x * block.y * block.z;
  reserve_stacks(n);
  threads.assign(n, Thread{});
  warps.assign((n + 31) / 32, Group{});
  warpgroups.assign((n + 127) / 128, Group{});
  std::vector<unsigned char> shared_memory(shared + 16);
  shared_base = shared_memory.data() + (16 - reinterpret_cast<uintptr_t>(shared_memory.data()) % 16) % 16;
  shared_bytes = shared;
  unfenced_bytes.assign(shared, 0);
  pending_bytes.assign(shared, 0);
  fenced_image.assign(shared, 0xff);
  kernel_body = body;
  kernel_state = state;
  fault_message.clear();
  blockDim = block;
  gridDim = grid;
  for (unsigned z = 0; z < grid.z && fault_message.empty(); z++)
    for (unsigned y = 0; y < grid.y && fault_message.empty(); y++)
      for (unsigned x = 0; x < grid.x && fault_message.empty(); x++) {
        blockIdx = uint3{x, y, z};
        run_block(n);
      }
  shared_base = nullptr;
  shared_bytes = 0;
  if (!fault_message.empty()) {
    std::fprintf(stderr, "CUDA emulator: kernel fault in block (%u, %u, %u) of (%u, %u, %u), %u threads: %s\n", blockIdx.x,
                 blockIdx.y, blockIdx.z, grid.x, grid.y, grid.z, n, fault_message.c_str());
    set_sticky_error(cudaErrorLaunchFailure);
  }
}

void* dynamic_shared() { return shared_base; }

unsigned long long globaltimer() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void syncthreads() {
  Thread& t = current_thread();
  state_version++;
  if (++block_arrived + block_exited == threads.size()) {
    block_arrived = 0;
    block_generation++;
    return;
  }
  t.wait = Thread::Wait::Block;
  t.wait_generation = block_generation;
  switch_to_scheduler();
}

namespace {
void collective(Group& g, unsigned index, const char* what, void* arg, void (*fn)(void** args, void* ctx), void* ctx, unsigned full) {
  Thread& t = current_thread();
  if (g.arrived == 0) {
    g.what = what;
  } else if (g.what != what && std::strcmp(g.what, what) != 0) {
    fault(std::string("threads of one warp or warpgroup meet at different collectives: ") + g.what + " and " + what);
  }
  if (g.exited) fault(std::string(what) + " after a thread of its warp or warpgroup exited");
  if (g.size != full) fault(std::string(what) + " in a partial group of " + std::to_string(g.size) + " threads");
  g.args[index] = arg;
  state_version++;
  if (++g.arrived == g.size) {
    fn(g.args, ctx);
    g.arrived = 0;
    g.generation++;
    return;
  }
  t.wait = Thread::Wait::Group;
  t.waiting_group = &g;
  t.wait_generation = g.generation;
  switch_to_scheduler();
}
}  // namespace

void warp_collective(const char* what, void* arg, void (*fn)(void** args, void* ctx), void* ctx) {
  const Thread& t = current_thread();
  collective(warp_of(t), t.tid % 32, what, arg, fn, ctx, 32);
}

void warpgroup_collective(const char* what, void* arg, void (*fn)(void** args, void* ctx), void* ctx) {
  const Thread& t = current_thread();
  collective(warpgroup_of(t), t.tid % 128, what, arg, fn, ctx, 128);
}

void poll_yield() {
  Thread& t = current_thread();
  t.wait = Thread::Wait::Poll;
  switch_to_scheduler();
}

void note_state_change() { state_version++; }

void mark_unfenced(Thread& t, uint32_t offset) {
  for (uint32_t i = 0; i < 16; i++) unfenced_bytes[offset + i]++;
  t.unfenced.push_back(offset);
}

void fence_proxy_async() {
  Thread& t = current_thread();
  for (uint32_t offset : t.unfenced)
    for (uint32_t i = 0; i < 16; i++) unfenced_bytes[offset + i]--;
  t.unfenced.clear();
  if (shared_bytes) std::memcpy(fenced_image.data(), shared_base, shared_bytes);
}

void mark_pending(uint32_t offset, int delta) {
  for (uint32_t i = 0; i < 16; i++) pending_bytes[offset + i] = uint16_t(pending_bytes[offset + i] + delta);
}


namespace {
// whether any byte of [address, address + bytes) has a count in a per-byte table of the dynamic shared memory
bool any_counted(const std::vector<uint16_t>& counts, uint32_t address, uint32_t bytes) {
  const uint32_t offset = address - kSharedBase;
  for (uint32_t i = 0; i < bytes; i++)
    if (counts[offset + i]) return true;
  return false;
}
}  // namespace

bool is_pending(uint32_t address, uint32_t bytes) { return any_counted(pending_bytes, address, bytes); }

bool is_unfenced(uint32_t address, uint32_t bytes) { return any_counted(unfenced_bytes, address, bytes); }

void note_async_write(uint32_t address, uint32_t bytes) {
  std::memcpy(fenced_image.data() + (address - kSharedBase), shared_pointer(address, bytes, "async write"), bytes);
}

bool is_stored_since_fence(uint32_t address, uint32_t bytes) {
  return std::memcmp(fenced_image.data() + (address - kSharedBase), shared_pointer(address, bytes, "async read"), bytes) != 0;
}

uint64_t block_serial() { return blocks_run; }

uint32_t shared_address(const void* p) {
  check_dynamic_shared(p, 0, "a shared address (the emulator maps only the dynamic shared memory)");
  return kSharedBase + uint32_t(static_cast<const unsigned char*>(p) - shared_base);
}

unsigned char* shared_pointer(uint32_t address, size_t bytes, const char* what) {
  const int64_t offset = int64_t(address) - kSharedBase;  // checked before it makes a pointer
  if (offset < 0 || size_t(offset) + bytes > shared_bytes)
    fault(std::string(what) + ": shared address " + std::to_string(address) + " + " + std::to_string(bytes) + " bytes outside the " +
          std::to_string(shared_bytes) + " bytes of dynamic shared memory at " + std::to_string(kSharedBase));
  return shared_base + offset;
}

void syncwarp() {
  warp_collective("__syncwarp", nullptr, [](void**, void*) {});
}

void check_full_mask(unsigned mask) {
  if (mask != 0xffffffffu) fault("the CUDA emulator runs warp collectives with a full mask only");
}

uint32_t shfl32(uint32_t value, int lane, int width, bool xor_mode) {
  struct Shuffle {
    uint32_t value, result;
    int lane, width;
    bool xor_mode;
  } arg{value, 0, lane, width, xor_mode};
  warp_collective(xor_mode ? "__shfl_xor_sync" : "__shfl_sync", &arg, [](void** args, void*) {
    for (int l = 0; l < 32; l++) {
      auto* a = static_cast<Shuffle*>(args[l]);
      if (a->width <= 0 || a->width > 32 || (a->width & (a->width - 1))) fault("shuffle width must be a power of two <= 32");
      const int segment = l & ~(a->width - 1);
      int src;
      if (a->xor_mode) {
        src = l ^ a->lane;
        if (src >= segment + a->width) src = l;  // a later segment: the caller's own value
      } else {
        src = segment + (a->lane & (a->width - 1));
      }
      a->result = static_cast<Shuffle*>(args[src & 31])->value;
    }
  });
  return arg.result;
}

void trap() { fault("__trap()"); }

void nanosleep_yield() {
  Thread& t = current_thread();
  t.wait = Thread::Wait::None;
  switch_to_scheduler();
}

}  // namespace dit_emu
