// The Hopper instructions native/cuda/wgmma_ptx.cuh issues, from the PTX ISA ("Asynchronous
// Warpgroup Level Matrix Multiply-Accumulate", its shared-memory matrix layouts and descriptor;
// "mbarrier"; "cp.async.bulk.tensor"), plus the driver's cuTensorMapEncodeTiled for 2-D to 5-D tiles.
// - Descriptors: start address, leading byte offset (between core matrices adjacent in K), stride
//   byte offset (adjacent in M / N), each >> 4; layout bits 62-63: 0 none, 1 128-byte swizzle.
//   A core matrix is 8 rows of 16 bytes. 128-byte swizzle: rows of 128 bytes, 8-row groups SBO
//   apart, byte address bits 4-6 XOR bits 7-9.
// - wgmma: the warpgroup's 4 warps own rows 16 w .. 16 w + 15 of the 64; accumulator registers
//   as mma.sync's C fragments, d[4 j .. 4 j + 3] for columns 8 j .. 8 j + 7. Issued products are
//   queued per warpgroup, committed as groups, and computed when a wait retires their group, from
//   shared memory as it is then.
// - mbarrier: a phase completes when its pending arrivals reach 0 and its transaction bytes 0;
//   try_wait.parity(p) passes once the current phase's parity differs from p.
// - TMA: the box copied at once (elements outside the tensor as zeros, still counted), 128-byte
//   swizzled by shared address bits, then complete_tx on the mbarrier. Stores: the box's elements
//   inside the tensor written, the others dropped.
#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "include/cuda.h"
#include "include/dit_emu_hopper.h"
#include "include/mma.h"
#include "scheduler.h"

namespace dit_emu {

namespace {

struct WgmmaOp {
  int n = 0;
  bool bf16 = false, registers_a = false, accumulate = true;
  unsigned first_tid = 0;  // the warpgroup's first thread
  uint64_t desc_a = 0, desc_b = 0;
  float* d[128] = {};
  const uint32_t* a[128] = {};  // register A: each thread's 4 registers, read when computed
  uint64_t a_hash[128] = {};     // ... and unchanged since the issue
};
struct WarpgroupQueue {
  std::vector<WgmmaOp> open;
  std::deque<std::vector<WgmmaOp>> committed;
};
struct MBarrier {
  uint32_t expected = 0, pending = 0, phase = 0;
  int64_t tx = 0;
};

// per block: reset when the emulator starts another block
uint64_t state_block = ~uint64_t(0);
std::map<unsigned, WarpgroupQueue> queues;

// Per thread: the register arrays fence_operands() pinned, with a hash of their bits then and the
// wgmma.fence count at that time. PTX wants a wgmma.fence between a thread's ordinary write of a
// wgmma's registers and the wgmma: a pinned array whose bits changed after the pin was followed
// by a fence was written between the fence and the issue.
struct PinnedArray {
  uint64_t hash;
  size_t bytes;
  uint64_t fences;
};
struct ThreadOperands {
  uint64_t fences = 0;
  std::map<const void*, PinnedArray> pinned;
};
std::map<unsigned, ThreadOperands> thread_operands;

// Per accumulator array (keyed by the warpgroup's first thread's pointer): each thread's hash of
// it as its next queued product must find it, taken at an issue with no product into it queued and
// after each product. Threads may not write accumulators while a product into them is in flight.
std::map<const float*, std::array<uint64_t, 128>> accumulators_expected;
std::map<const uint64_t*, MBarrier> barriers;

// Per thread: its TMA stores issued since its last bulk commit, and the committed groups not yet
// retired by a cp.async.bulk.wait_group
struct BulkStore {
  std::array<unsigned char, 128> map;  // the CUtensorMap (a kernel parameter: copied)
  std::array<int32_t, 5> coords;
  uint32_t rank;
  uint32_t src;  // shared address
};
struct BulkQueue {
  std::vector<BulkStore> open;
  std::deque<std::vector<BulkStore>> committed;
};
std::map<unsigned, BulkQueue> bulk_queues;

void sync_block_state() {
  if (state_block == block_serial()) return;
  state_block = block_serial();
  queues.clear();
  barriers.clear();
  bulk_queues.clear();
  thread_operands.clear();
  accumulators_expected.clear();
}

struct Descriptor {
  uint32_t start, leading, stride, mode;
  explicit Descriptor(uint64_t d)
      : start(uint32_t(d & 0x3FFF) << 4), leading(uint32_t((d >> 16) & 0x3FFF) << 4), stride(uint32_t((d >> 32) & 0x3FFF) << 4),
        mode(uint32_t(d >> 62)) {}
};

uint32_t swizzle_128(uint32_t address) { return address ^ (((address >> 7) & 7) << 4); }

// An operand element the async proxy reads: in range, landed and fenced by its cp.async writer, and
// not stored to since the last fence.proxy.async
const unsigned char* operand(uint32_t address) {
  const unsigned char* p = shared_pointer(address, 2, "wgmma operand");
  if (is_pending(address, 2)) fault("wgmma on shared memory a cp.async has not landed in (no cp.async.wait_group of its thread before)");
  if (is_unfenced(address, 2)) fault("wgmma on shared memory written by cp.async without a fence.proxy.async after it");
  if (is_stored_since_fence(address, 2)) fault("wgmma on shared memory stored to after the last fence.proxy.async");
  return p;
}

// The shared address of element (mn, k) of a K-major operand (rows along M or N, 16-bit elements
// contiguous along K)
uint32_t k_major(const Descriptor& desc, int mn, int k) {
  if (desc.mode == 1) return swizzle_128(desc.start + uint32_t(mn / 8) * desc.stride + uint32_t(mn % 8) * 128 + uint32_t(k) * 2);
  if (desc.mode == 0)
    return desc.start + uint32_t(mn / 8) * desc.stride + uint32_t(k / 8) * desc.leading + uint32_t(mn % 8) * 16 + uint32_t(k % 8) * 2;
  fault("wgmma descriptor: a swizzle mode the emulator does not know (" + std::to_string(desc.mode) + ")");
}

// ... of element (k, mn) of an MN-major operand without swizzle: core matrices of 8 K-rows of 8
// contiguous M / N elements
uint32_t mn_major(const Descriptor& desc, int k, int mn) {
  if (desc.mode != 0) fault("wgmma: the emulator has MN-major operands without swizzle only");
  return desc.start + uint32_t(k / 8) * desc.leading + uint32_t(mn / 8) * desc.stride + uint32_t(k % 8) * 16 + uint32_t(mn % 8) * 2;
}

// Calls fn(a, row, column, element) for every shared-memory element an op reads: a for A (row m,
// column k), else B (row k, column n).
template <typename Fn>
void for_each_operand(const WgmmaOp& op, Fn&& fn) {
  if (!op.registers_a)
    for (int m = 0; m < 64; m++)
      for (int k = 0; k < 16; k++) fn(true, m, k, operand(k_major(Descriptor(op.desc_a), m, k)));
  const Descriptor db(op.desc_b);
  for (int k = 0; k < 16; k++)
    for (int n = 0; n < op.n; n++) fn(false, k, n, operand(op.registers_a ? mn_major(db, k, n) : k_major(db, n, k)));
}

uint64_t bytes_hash(const void* p, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; i++) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
  return h;
}

// The registers at `p` (part of a pinned array) unchanged since a pin that a wgmma.fence followed?
void check_fenced(const void* p, const char* what) {
  ThreadOperands& t = thread_operands[current_thread().tid];
  for (const auto& [base, pin] : t.pinned) {
    const auto* b = static_cast<const unsigned char*>(base);
    if (p < base || p >= b + pin.bytes) continue;
    if (pin.fences < t.fences && bytes_hash(base, pin.bytes) != pin.hash)
      fault(std::string("wgmma: a thread wrote the ") + what + " after the wgmma.fence before the wgmma that uses them");
    return;
  }
}

size_t accumulator_bytes(const WgmmaOp& op) { return size_t(op.n / 2) * sizeof(float); }

void execute(const WgmmaOp& op) {
  std::array<uint64_t, 128>& expected = accumulators_expected[op.d[0]];
  for (int t = 0; t < 128; t++)
    if (bytes_hash(op.d[t], accumulator_bytes(op)) != expected[t])
      fault("wgmma: a thread wrote the accumulators of an in-flight wgmma before wgmma.wait_group retired it");
  if (op.registers_a)
    for (int t = 0; t < 128; t++)
      if (bytes_hash(op.a[t], 4 * sizeof(uint32_t)) != op.a_hash[t])
        fault("wgmma: a thread wrote the A registers of an in-flight wgmma before wgmma.wait_group retired it");
  float A[64][16], B[16][256];
  for_each_operand(op, [&](bool a, int row, int col, const unsigned char* p) {
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    (a ? A[row][col] : B[row][col]) = half_value(bits, op.bf16);
  });
  if (op.registers_a) {
    // mma.sync's A fragment in warp m / 16: lane (m % 8) * 4 + (k % 8) / 2, register
    // (m % 16) / 8 + 2 (k / 8), half k % 2
    for (int m = 0; m < 64; m++)
      for (int k = 0; k < 16; k++) {
        const int w = m / 16, lane = (m % 8) * 4 + (k % 8) / 2, reg = ((m % 16) / 8) + 2 * (k / 8);
        const uint32_t r = op.a[w * 32 + lane][reg];
        A[m][k] = half_value(k % 2 ? r >> 16 : r & 0xffffu, op.bf16);
      }
  }
  for (int t = 0; t < 128; t++) {
    const int w = t / 32, lane = t % 32;
    for (int j = 0; j < op.n / 8; j++)
      for (int i = 0; i < 4; i++) {
        const int row = w * 16 + lane / 4 + 8 * (i / 2), col = j * 8 + (lane % 4) * 2 + i % 2;
        float s = 0.0f;
        for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
        op.d[t][4 * j + i] = (op.accumulate ? op.d[t][4 * j + i] : 0.0f) + s;
      }
    expected[t] = bytes_hash(op.d[t], accumulator_bytes(op));
    // the product, not the thread, wrote these registers: a pin of them follows
    auto it = thread_operands.find(op.first_tid + t);
    if (it == thread_operands.end()) continue;
    for (auto& [base, pin] : it->second.pinned) {
      const auto* b = static_cast<const unsigned char*>(base);
      const auto* d = reinterpret_cast<const unsigned char*>(op.d[t]);
      if (d >= b && d < b + pin.bytes) pin.hash = bytes_hash(base, pin.bytes);
    }
  }
}

WarpgroupQueue& queue() {
  sync_block_state();
  return queues[current_thread().tid / 128];
}

MBarrier& barrier(const uint64_t* bar) {
  sync_block_state();
  auto it = barriers.find(bar);
  if (it == barriers.end()) fault("an mbarrier used before mbarrier.init");
  return it->second;
}

void try_complete_phase(MBarrier& b) {
  if (b.pending == 0 && b.tx == 0) {
    b.phase ^= 1u;
    b.pending = b.expected;
    note_state_change();
  }
}

// What the emulator's cuTensorMapEncodeTiled keeps in a CUtensorMap (ranks 2-5, dimension 0
// innermost; strides in bytes, stride[0] the element's size)
constexpr int kMaxRank = 5;
struct TensorMap {
  uint32_t magic;
  uint32_t element_bytes, swizzle, rank;
  uint32_t box[kMaxRank];
  const unsigned char* base;
  uint64_t dims[kMaxRank], strides[kMaxRank];
};
constexpr uint32_t kMapMagic = 0x7e450a11u;
static_assert(sizeof(TensorMap) <= sizeof(CUtensorMap), "fits a CUtensorMap");

// The map at map_ptr, for a `rank`-D copy
TensorMap read_map(const void* map_ptr, int rank) {
  TensorMap map;
  std::memcpy(&map, map_ptr, sizeof map);
  if (map.magic != kMapMagic) fault("TMA: not a tensor map made by cuTensorMapEncodeTiled");
  if (int(map.rank) != rank) fault("TMA: a " + std::to_string(rank) + "-D copy through a " + std::to_string(map.rank) + "-D tensor map");
  const uint32_t row_bytes = map.box[0] * map.element_bytes;
  if (map.swizzle == CU_TENSOR_MAP_SWIZZLE_128B && row_bytes != 128) fault("TMA: a 128-byte swizzle needs 128-byte box rows here");
  return map;
}

uint64_t box_elements(const TensorMap& map) {
  uint64_t n = 1;
  for (uint32_t d = 0; d < map.rank; d++) n *= map.box[d];
  return n;
}

// fn(shared address, element's global offset or -1 outside the tensor) for each element of the box
// at `coords` (one per dimension, signed), the box dense at shared address `base` in the order of
// the dimensions (128-byte swizzled if the map says so)
template <typename Fn>
void for_each_box_element(const TensorMap& map, uint32_t base, const int32_t* coords, Fn&& fn) {
  if (base % (map.swizzle == CU_TENSOR_MAP_SWIZZLE_128B ? 1024 : 128) != 0) fault("TMA: shared box misaligned");
  const uint64_t count = box_elements(map);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t rest = i, offset = 0;
    bool inside = true;
    for (uint32_t d = 0; d < map.rank; d++) {
      const int64_t g = int64_t(coords[d]) + int64_t(rest % map.box[d]);
      rest /= map.box[d];
      inside = inside && g >= 0 && uint64_t(g) < map.dims[d];
      offset += uint64_t(g) * map.strides[d];
    }
    uint32_t address = base + uint32_t(i) * map.element_bytes;
    if (map.swizzle == CU_TENSOR_MAP_SWIZZLE_128B) address = swizzle_128(address);
    fn(address, inside ? int64_t(offset) : int64_t(-1));
  }
}

void execute_store(const BulkStore& store) {
  const TensorMap map = read_map(store.map.data(), int(store.rank));
  for_each_box_element(map, store.src, store.coords.data(), [&](uint32_t address, int64_t offset) {
    const unsigned char* from = shared_pointer(address, map.element_bytes, "TMA store source");
    if (offset >= 0) std::memcpy(const_cast<unsigned char*>(map.base) + offset, from, map.element_bytes);
  });
}

}  // namespace

void wgmma_issue(float* d, int n, const uint32_t* a, uint64_t desc_a, uint64_t desc_b, bool bf16, bool accumulate) {
  struct Issue {
    float* d;
    const uint32_t* a;
    int n;
    uint64_t desc_a, desc_b;
    bool bf16, accumulate;
  } arg{d, a, n, desc_a, desc_b, bf16, accumulate};
  WarpgroupQueue& q = queue();
  check_fenced(d, "accumulators");
  if (a) check_fenced(a, "A registers");
  warpgroup_collective("wgmma.mma_async", &arg, [](void** args, void* ctx) {
    auto* q = static_cast<WarpgroupQueue*>(ctx);
    const auto* first = static_cast<Issue*>(args[0]);
    WgmmaOp op;
    op.n = first->n;
    op.bf16 = first->bf16;
    op.accumulate = first->accumulate;
    op.first_tid = current_thread().tid / 128 * 128;
    op.registers_a = first->a != nullptr;
    op.desc_a = first->desc_a;
    op.desc_b = first->desc_b;
    for (int t = 0; t < 128; t++) {
      const auto* x = static_cast<Issue*>(args[t]);
      if (x->n != op.n || x->bf16 != op.bf16 || x->accumulate != op.accumulate || (x->a != nullptr) != op.registers_a || x->desc_b != op.desc_b ||
          (!op.registers_a && x->desc_a != op.desc_a))
        fault("wgmma.mma_async: the threads of a warpgroup disagree on the shape, type or descriptors");
      op.d[t] = x->d;
      if (op.registers_a) {
        op.a[t] = x->a;
        op.a_hash[t] = bytes_hash(x->a, 4 * sizeof(uint32_t));
      }
    }
    // in range and fenced for the async proxy at the issue already, not merely by the wait
    for_each_operand(op, [](bool, int, int, const unsigned char*) {});
    // with no product into these accumulators queued, they must stay as they are now until this one
    // is computed (else the previous product's result, recorded when it was computed, must stay)
    bool queued = false;
    for (const WgmmaOp& o : q->open) queued = queued || o.d[0] == op.d[0];
    for (const auto& group : q->committed)
      for (const WgmmaOp& o : group) queued = queued || o.d[0] == op.d[0];
    if (!queued)
      for (int t = 0; t < 128; t++) accumulators_expected[op.d[0]][t] = bytes_hash(op.d[t], accumulator_bytes(op));
    q->open.push_back(op);
  }, &q);
}

void wgmma_fence() {
  sync_block_state();
  thread_operands[current_thread().tid].fences++;
  warp_collective("wgmma.fence", nullptr, [](void**, void*) {});
}

void wgmma_pin_operands(const void* registers, size_t bytes) {
  sync_block_state();
  thread_operands[current_thread().tid].pinned[registers] = PinnedArray{bytes_hash(registers, bytes), bytes, thread_operands[current_thread().tid].fences};
}

void wgmma_commit() {
  WarpgroupQueue& q = queue();
  warpgroup_collective("wgmma.commit_group", nullptr, [](void**, void* ctx) {
    auto* q = static_cast<WarpgroupQueue*>(ctx);
    q->committed.push_back(std::move(q->open));
    q->open.clear();
  }, &q);
}

void wgmma_wait(int pending) {
  WarpgroupQueue& q = queue();
  struct Wait {
    WarpgroupQueue* q;
    int pending;
  } ctx{&q, pending};
  warpgroup_collective("wgmma.wait_group", nullptr, [](void**, void* c) {
    auto* w = static_cast<Wait*>(c);
    while (int(w->q->committed.size()) > w->pending) {
      for (const WgmmaOp& op : w->q->committed.front()) execute(op);
      w->q->committed.pop_front();
    }
  }, &ctx);
}

void mbarrier_init(uint64_t* bar, uint32_t arrivals) {
  sync_block_state();
  if (reinterpret_cast<uintptr_t>(bar) % 8 != 0) fault("mbarrier not 8-byte aligned");
  if (arrivals == 0) fault("mbarrier.init with a count of 0");
  barriers[bar] = MBarrier{arrivals, arrivals, 0, 0};
  note_state_change();
}

void mbarrier_arrive(uint64_t* bar, uint32_t expect_bytes) {
  MBarrier& b = barrier(bar);
  if (b.pending == 0) fault("mbarrier: more arrivals than its count in one phase");
  b.tx += expect_bytes;
  b.pending--;
  note_state_change();
  try_complete_phase(b);
}

void mbarrier_wait(uint64_t* bar, uint32_t parity) {
  while (barrier(bar).phase == (parity & 1u)) poll_yield();
}

void tma_load(void* dst, const void* map_ptr, const int32_t* coords, int rank, uint64_t* bar) {
  const TensorMap map = read_map(map_ptr, rank);
  for_each_box_element(map, shared_address(dst), coords, [&](uint32_t address, int64_t offset) {
    unsigned char* to = shared_pointer(address, map.element_bytes, "TMA destination");
    if (offset >= 0) {
      std::memcpy(to, map.base + offset, map.element_bytes);
    } else {
      std::memset(to, 0, map.element_bytes);
    }
    note_async_write(address, map.element_bytes);
  });
  MBarrier& b = barrier(bar);
  b.tx -= int64_t(box_elements(map) * map.element_bytes);  // complete_tx
  note_state_change();
  try_complete_phase(b);
}

void tma_store(const void* map_ptr, const int32_t* coords, int rank, const void* src) {
  sync_block_state();
  BulkStore store{{}, {}, uint32_t(rank), shared_address(src)};
  std::memcpy(store.map.data(), map_ptr, store.map.size());
  std::copy(coords, coords + rank, store.coords.begin());
  // a real tensor map, its box in range now (the data is read at the wait)
  const TensorMap map = read_map(store.map.data(), rank);
  // ... and the staging tile's stores ordered before it by a fence.proxy.async
  for_each_box_element(map, store.src, coords, [&](uint32_t address, int64_t) {
    shared_pointer(address, map.element_bytes, "TMA store source");
    if (is_stored_since_fence(address, map.element_bytes)) fault("TMA store of shared memory stored to after the last fence.proxy.async");
  });
  if (async_copies_early()) {
    execute_store(store);
  } else {
    bulk_queues[current_thread().tid].open.push_back(store);
  }
}

void bulk_commit() {
  sync_block_state();
  BulkQueue& q = bulk_queues[current_thread().tid];
  q.committed.push_back(std::move(q.open));
  q.open.clear();
}

void bulk_wait(int pending) {
  sync_block_state();
  BulkQueue& q = bulk_queues[current_thread().tid];
  while (int(q.committed.size()) > pending) {
    for (const BulkStore& store : q.committed.front()) execute_store(store);
    q.committed.pop_front();
  }
}

void bulk_check_exit() {
  sync_block_state();
  const BulkQueue& q = bulk_queues[current_thread().tid];
  if (!q.open.empty()) fault("TMA store issued and never committed (cp.async.bulk.commit_group) before the thread's exit");
  if (!q.committed.empty()) fault("TMA store not waited for (cp.async.bulk.wait_group) before the thread's exit");
}

void warpgroup_barrier() {
  warpgroup_collective("bar.sync (warpgroup)", nullptr, [](void**, void*) {});
}

// The driver entry point the runtime hands out for "cuTensorMapEncodeTiled": ranks 2-5, f16 /
// bf16, unit element strides, no interleave (what native/cuda asks for); anything else is refused.
CUresult encode_tiled(CUtensorMap* out, CUtensorMapDataType type, cuuint32_t rank, void* base, const cuuint64_t* dims,
                      const cuuint64_t* strides, const cuuint32_t* box, const cuuint32_t* element_strides, CUtensorMapInterleave interleave,
                      CUtensorMapSwizzle swizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill) {
  if (rank < 2 || rank > kMaxRank || (type != CU_TENSOR_MAP_DATA_TYPE_FLOAT16 && type != CU_TENSOR_MAP_DATA_TYPE_BFLOAT16) ||
      interleave != CU_TENSOR_MAP_INTERLEAVE_NONE)
    return CUDA_ERROR_INVALID_VALUE;
  // the driver's rules: a 16-byte aligned base, strides multiples of 16 below 2^40, dimensions of
  // 1 to 2^32, boxes of 1 to 256 elements a dimension
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0) return CUDA_ERROR_INVALID_VALUE;
  TensorMap map{kMapMagic, 2, uint32_t(swizzle), rank, {}, static_cast<const unsigned char*>(base), {}, {}};
  for (cuuint32_t d = 0; d < rank; d++) {
    if (element_strides[d] != 1 || box[d] == 0 || box[d] > 256 || dims[d] == 0 || dims[d] > (uint64_t(1) << 32))
      return CUDA_ERROR_INVALID_VALUE;
    if (d > 0 && (strides[d - 1] % 16 != 0 || strides[d - 1] >= (uint64_t(1) << 40))) return CUDA_ERROR_INVALID_VALUE;
    map.box[d] = box[d];
    map.dims[d] = dims[d];
    map.strides[d] = d == 0 ? 2 : strides[d - 1];
  }
  std::memset(out, 0, sizeof *out);
  std::memcpy(out, &map, sizeof map);
  return CUDA_SUCCESS;
}

void* tensor_map_encoder() { return reinterpret_cast<void*>(&encode_tiled); }

}  // namespace dit_emu
