// Flash attention forward for f16 / bf16 on Hopper's warpgroup tensor cores (wgmma, sm_90a). A
// block of two warpgroups owns 128 query rows of one (b, h), 64 per warpgroup, and walks the keys
// in tiles (128 keys; 64 for head dims over 96, for registers) that cp.async brings into a ring of
// 4 or 5 stages (as many as fit in shared memory). Per tile j each warpgroup:
// - S = Q K^T: wgmma m64nKk16 with Q and K from shared memory, the head dim in steps of 16
//   (72 is zero-padded to 80 for this product only: wgmma's k is 16);
// - the online softmax on the S accumulators (a row lives in the 4 lanes that share lane / 4, as
//   in mma.sync's C fragments; P = exp2(s * scale log2 e - row max) as one FFMA and the SFU's
//   ex2, the mask only on the last key tile);
// - O += P V: P leaves the S accumulators as wgmma's register A fragments (rounded to the storage
//   type, as flash attention does) and V is read from shared memory N-major, so the head dim is
//   the wgmma N and computed at its own size (m64n72k16 for 72).
// Pipelined within the warpgroup in FlashAttention-3's order: S of tile j + 1 and P V of tile j
// are issued back to back, and the softmax of tile j + 1 runs while P V of tile j is still on the
// tensor cores; P is packed into the A registers once P V has retired (they are its operand).
// ptxas schedules a wait or a barrier as early as its operands allow, so the waits for P V and the
// tile's barrier sit past a block boundary after the softmax (wgmma::schedule_after); without it
// they ran before the softmax and nothing overlapped it (SASS, nvdisasm). Three schedules keep the
// two warpgroups fed (Schedule below): lockstep (the default), ping-pong (DIT_CUDA_ATTENTION=
// wgmma-pingpong: the per-tile barrier met at different points of the two loops, so one's softmax
// runs under the other's products, FlashAttention-3's ping-pong) and producer (wgmma-producer: a
// third warpgroup copies the tiles and publishes them on mbarriers, FlashAttention-3's warp
// specialisation with cp.async for TMA; wgmma-producer-alternating: its consumers also take turns).
// Every wgmma and wait is unconditional: ptxas silently serialises all the wgmma of a kernel when
// it cannot prove ordinary instructions keep off an in-flight wgmma's registers on every path
// (C7513-C7520; an order overlapping the softmax with both products drew them in every form
// tried). scripts/check-wgmma-serialization.sh fails the build check when any appears, and
// scripts/check-sass-schedule.sh when a softmax is not between its waits. Loads run 2-3 tiles
// ahead of the S products (1-2 in ping-pong); one block barrier per tile publishes a landed tile
// and frees the stage of a finished one.
// Shared tiles use wgmma's no-swizzle layout: rows in groups of 8, each group one 128-byte core
// matrix per 8 columns, so Q and K (K-major operands) and V (the N-major B operand) share one
// loader; only the descriptors differ. (Not here: TMA, whose 16-byte boxes of this layout would
// read each 32-byte sector of K and V twice.) The default
// attention on compute capability 9.0 for head dims 64, 72, 80, 96, 128 with 16-byte aligned rows
// and a positive scale.
#include "attention_kernels.h"
#include "wgmma.cuh"

namespace dit::cuda {

namespace {

constexpr int kWarpgroups = 2, kThreads = 128 * kWarpgroups;  // the consumers: the warpgroups with query rows
constexpr int kRows = 64 * kWarpgroups;  // query rows per block

// How the two warpgroups get their K / V tiles and keep in step (WgmmaAttentionSchedule,
// attention_kernels.h; the kernel's template parameter):
// - Lockstep: every thread copies its share of each tile (cp.async) and one block barrier a tile
//   publishes it; the warpgroups meet it at the same point of their loops;
// - PingPong: the same, but warpgroup 1 meets the barrier before its softmax and warpgroup 0 after
//   theirs, so one's softmax runs under the other's products;
// - Producer: a third warpgroup copies the tiles (cp.async) and publishes each on the stage's
//   `full` mbarrier; the two others release a stage on its `empty` mbarrier when their products
//   of it have retired. No block barrier in the loop: each warpgroup runs as far ahead as its
//   tiles allow, and the consumers issue no copies.
// - ProducerAlternating: the Producer kernel (a run-time flag, not another instantiation) whose
//   two consumer warpgroups take turns to issue their products (two `turn` mbarriers, warpgroup
//   0 first): one issues S and P V, passes the turn and runs its softmax while the other's
//   products run, FlashAttention-3's ping-pong on top of the producer. Left to themselves the
//   two may fall into step, both softmaxes on the SFU at once and the tensor cores idle.
using Schedule = WgmmaAttentionSchedule;
__host__ __device__ constexpr int block_threads(Schedule schedule) { return schedule == Schedule::Producer ? kThreads + 128 : kThreads; }
// The producer's registers: 384 threads get 168 each; the producer, which only copies, gives back
// all but 40 and the consumers claim 232 (128 x 40 + 256 x 232 <= 65,536). (At head dims 64-80 and
// 128 the consumers need at most ~160; at 96 ptxas keeps them within 168 all the same, unlike
// tma_gemm.cuh's, and they spill, so 96 runs lockstep: attention_wgmma below. Not understood.)
constexpr uint32_t kProducerRegisters = 40, kConsumerRegisters = 232;
static_assert(128 * kProducerRegisters + kThreads * kConsumerRegisters <= 65536, "the SM's register file");
// The producer publishes tile t once tile t - kProducerAhead... has landed: it keeps this many
// tiles' copies in flight beyond the one it publishes (at most kStages - 1, or it would wait for a
// stage the consumers cannot free before the publication they wait for).
constexpr int kProducerAhead = 2;
constexpr size_t kSharedBudget = 227 * 1024;  // sm_90's opt-in maximum per block

template <int D>
struct WgmmaFlashLayout {
  static_assert(D % 8 == 0 && D >= 16 && D <= 128, "head dim");
  static constexpr int kKeys = D <= 96 ? 128 : 64;            // keys per tile
  static constexpr int kDk = (D + 15) / 16 * 16;             // head dim as the k of S = Q K^T
  static constexpr int kQkChunks = kDk / 8;                   // 16-byte chunks of a Q / K row
  static constexpr int kVChunks = D / 8;                      // of a V row
  static constexpr int kQkGroupBytes = kQkChunks * 128;       // one 8-row group of Q / K
  static constexpr int kVGroupBytes = kVChunks * 128;         // of V
  static constexpr int kQBytes = kRows / 8 * kQkGroupBytes;
  static constexpr int kKBytes = kKeys / 8 * kQkGroupBytes;
  static constexpr int kStageBytes = kKBytes + kKeys / 8 * kVGroupBytes;  // K, then V
  static constexpr int kStages = kQBytes + 5 * size_t(kStageBytes) <= kSharedBudget ? 5 : 4;
  static_assert(kQBytes + 4 * size_t(kStageBytes) <= kSharedBudget, "at least 4 stages");
  static constexpr size_t kSharedBytes = size_t(kQBytes) + size_t(kStages) * kStageBytes;
};

// byte offset of (row, 16-byte chunk) in a tile of 8-row groups `group_bytes` apart
__device__ __forceinline__ uint32_t core_offset(int row, int chunk, int group_bytes) {
  return uint32_t((row >> 3) * group_bytes + chunk * 128 + (row & 7) * 16);
}

// The cp.async copies of the data of one kRows-row tile of K or V (kChunks 16-byte chunks a row)
// by thread tid, in the core-matrix layout (8-row groups kGroupBytes apart; K's zero padding past
// its data is written once, at the kernel's start, not per tile). Each slot is packed once: the source's
// byte offset from the tile's first row ((row * stride + chunk * 8) * sizeof(T), 32-bit: the host
// checks it fits) and the shared offset | row << 16.
template <typename T, int kRows, int kChunks, int kGroupBytes>
struct TileCopies {
  static constexpr int kTotal = kRows * kChunks, kPerThread = (kTotal + kThreads - 1) / kThreads;
  static_assert(kRows <= 255 && kRows / 8 * kGroupBytes <= 65536, "row and shared offset fit their fields");
  uint32_t source[kPerThread], target[kPerThread];
  int tid;

  __device__ __forceinline__ TileCopies(int thread, int64_t stride) : tid(thread) {
#pragma unroll
    for (int n = 0; n < kPerThread; n++) {
      const int i = tid + n * kThreads, row = i / kChunks, chunk = i % kChunks;
      source[n] = uint32_t((row * stride + chunk * 8) * int64_t(sizeof(T)));
      target[n] = core_offset(row, chunk, kGroupBytes) | uint32_t(row) << 16;
    }
  }

  // rows at or past rows_left (the tile's keys past M) are zero-filled. Every tile but the last
  // has all its rows: then a copy is two adds and the copy (the row test, the zero-fill flag and
  // the element-to-byte scaling on every copy were most of the loader's instructions: SASS).
  __device__ __forceinline__ void issue(unsigned char* tile, const T* first_row, int rows_left) const {
    const unsigned char* first = reinterpret_cast<const unsigned char*>(first_row);
    if (rows_left >= kRows) {
#pragma unroll
      for (int n = 0; n < kPerThread; n++) {
        if (last_slot_empty(n)) break;
        mma::copy16_async(tile + (target[n] & 0xFFFF), first + source[n], true);
      }
      return;
    }
#pragma unroll
    for (int n = 0; n < kPerThread; n++) {
      if (last_slot_empty(n)) break;
      const bool ok = int(target[n] >> 16) < rows_left;
      mma::copy16_async(tile + (target[n] & 0xFFFF), ok ? first + source[n] : first, ok);
    }
  }

  // the last slot, where not every thread has one
  __device__ __forceinline__ bool last_slot_empty(int n) const { return (n + 1) * kThreads > kTotal && tid + n * kThreads >= kTotal; }
};

template <typename T, int D, Schedule kSchedule>
__global__ void __launch_bounds__(block_threads(kSchedule), 1) flash_wgmma_kernel(const AttentionParams p, const float scale_log2,
                                                                                  const bool alternate) {
#ifdef DIT_WGMMA_AVAILABLE
  using L = WgmmaFlashLayout<D>;
  constexpr int kKeys = L::kKeys, kStages = L::kStages;
  constexpr bool kPingPong = kSchedule == Schedule::PingPong, kProducer = kSchedule == Schedule::Producer;
  static_assert(kProducerAhead >= 1 && kProducerAhead <= kStages - 1, "the producer's lead (see kProducerAhead)");
  // Loads run kLead - 2 tiles ahead of the S products: past the barrier of iteration j the stage
  // of tile j (lockstep) or j - 1 (ping-pong: warpgroup 1 retires P V of tile j after it) is free
  // and takes tile j + kLead.
  constexpr int kLead = kPingPong ? kStages - 1 : kStages;
  extern __shared__ __align__(128) unsigned char flash_wgmma_smem[];
  unsigned char* q_tile = flash_wgmma_smem;
  unsigned char* stages = q_tile + L::kQBytes;  // stage s: K at + s * kStageBytes, V after it

  const HeadOperands<T> head(p);
  if (head.past_end) return;
  const int64_t row0 = int64_t(blockIdx.x) * kRows;
  const T *q = head.q, *k = head.k, *v = head.v;
  T* o = head.o;
  const int tid = threadIdx.x, lane = tid & 31, warp_in_group = (tid / 32) & 3;
  // (lane 0's, so the compiler knows it is warp-uniform and keeps what derives from it, the Q
  // descriptor, in uniform registers beside the wgmma)
  const int warpgroup = __shfl_sync(0xffffffffu, tid / 128, 0);
  const int key_tiles = int((p.M + kKeys - 1) / kKeys);

  // rows [first, first + rows) of src (`chunks` of 16 bytes each, the rest of `tile_chunks` zero)
  // into a tile by `threads` threads (this one the thread-th); rows at or past `limit` are
  // zero-filled
  auto load_rows = [&](unsigned char* dst, const T* src, int64_t stride, int64_t first, int64_t limit, int rows, int chunks,
                       int tile_chunks, int group_bytes, int thread, int threads) {
    for (int i = thread; i < rows * tile_chunks; i += threads) {
      const int r = i / tile_chunks, c = i % tile_chunks;
      const bool ok = first + r < limit && c < chunks;
      mma::copy16_async(dst + core_offset(r, c, group_bytes), ok ? src + (first + r) * stride + c * 8 : src, ok);
    }
  };
  // A K / V tile's copies: this thread's (row, chunk) slots are the same in every tile, so they
  // are worked out once (recomputed per tile, the loader was a third of the kernel's instructions
  // and stall samples: ncu, H200). K and V keep their own slots (V's rows have fewer chunks).
  const TileCopies<T, kKeys, L::kVChunks, L::kQkGroupBytes> k_copies(tid, p.k_sn);  // (unused, so dropped, in the producer schedule)
  const TileCopies<T, kKeys, L::kVChunks, L::kVGroupBytes> v_copies(tid, p.v_sn);
  // K's columns past the head dim (72 -> 80: wgmma's k is 16) are zero in every stage, written
  // once here (no copy writes them; the prologue's fence and barrier publish them)
  if constexpr (L::kQkChunks > L::kVChunks) {
    constexpr int kPad = L::kQkChunks - L::kVChunks, kPadSlots = kStages * kKeys * kPad;
    for (int i = tid; i < kPadSlots; i += block_threads(kSchedule)) {
      const int stage = i / (kKeys * kPad), row = i / kPad % kKeys, chunk = L::kVChunks + i % kPad;
      *reinterpret_cast<uint4*>(stages + stage * L::kStageBytes + core_offset(row, chunk, L::kQkGroupBytes)) = make_uint4(0, 0, 0, 0);
    }
  }
  auto load_kv = [&](int tile) {
    if (tile >= key_tiles) return;
    unsigned char* stage = stages + (tile % kStages) * L::kStageBytes;
    const int64_t first = int64_t(tile) * kKeys;
    const int rows_left = p.M - first < kKeys ? int(p.M - first) : kKeys;
    k_copies.issue(stage, k + first * p.k_sn, rows_left);
    v_copies.issue(stage + L::kKBytes, v + first * p.v_sn, rows_left);
  };
  const uint64_t q_desc = wgmma::descriptor_interleave(mma::shared_address(q_tile) + uint32_t(warpgroup * 64 / 8 * L::kQkGroupBytes), 128,
                                                       L::kQkGroupBytes);
  const uint32_t stage_base = mma::shared_address(stages);

  // S = Q K^T of a tile (64 x kKeys per warpgroup) into s, issued and committed, not waited for:
  // K-major, core matrices 128 bytes apart along the head dim and a group apart along the rows.
  // The first k step overwrites s (no zeroing: see mma_async).
  auto issue_scores = [&](float (&s)[kKeys / 2], int tile) {
    const uint64_t k_desc = wgmma::descriptor_interleave(stage_base + uint32_t((tile % kStages) * L::kStageBytes), 128, L::kQkGroupBytes);
    wgmma::fence_operands(s);
    wgmma::fence();
#pragma unroll
    for (int ks = 0; ks < L::kDk / 16; ks++)
      wgmma::mma_async<kKeys, T>(s, wgmma::advance(q_desc, ks * 256), wgmma::advance(k_desc, ks * 256), ks > 0);
    wgmma::commit();
  };

  uint64_t *full = nullptr, *empty = nullptr;  // the producer schedule's barriers, a pair a stage
  uint64_t* turn = nullptr;                     // ... and with `alternate`, turn[w]: warpgroup w's to issue
  if constexpr (kProducer) {
    // The producer warpgroup (the last): tile t into stage t % kStages once the consumers have
    // released the tile that was there (its `empty` barrier), one cp.async group a tile; tile t
    // is published on its `full` barrier (every producer thread arrives once its own copies of
    // the tile have landed and are fenced for the tensor cores) when tile t + kProducerAhead has
    // been issued, and the last ones at the end.
    __shared__ __align__(8) uint64_t barriers[2 * kStages + 2];
    full = barriers;
    empty = barriers + kStages;
    turn = barriers + 2 * kStages;
    if (tid == 0) {
      for (int s = 0; s < kStages; s++) {
        wgmma::barrier_init(&full[s], 128);
        wgmma::barrier_init(&empty[s], kThreads);
      }
      for (int w = 0; w < kWarpgroups; w++) wgmma::barrier_init(&turn[w], 4);  // a lane of each of the other's warps
      wgmma::barrier_init_fence();
    }
    if (warpgroup < kWarpgroups) {
      load_rows(q_tile, q, p.q_sn, row0, p.N, kRows, L::kVChunks, L::kQkChunks, L::kQkGroupBytes, tid, kThreads);
      mma::commit_async();
      mma::wait_async<0>();
    }
    wgmma::fence_async_shared();  // every thread's: all wrote K's zero padding above
    __syncthreads();              // Q, the padding and the barriers, for everyone
    if (warpgroup == kWarpgroups) {
      wgmma::release_registers<kProducerRegisters>();
      const int thread = tid - kThreads;
      auto publish = [&](int t) {
        wgmma::fence_async_shared();
        wgmma::barrier_arrive(&full[t % kStages]);
      };
      for (int t = 0; t < key_tiles; t++) {
        if (t >= kProducerAhead) {
          mma::wait_async<kProducerAhead - 1>();  // tiles up to t - kProducerAhead have landed
          publish(t - kProducerAhead);
        }
        if (t >= kStages) wgmma::barrier_wait(&empty[t % kStages], uint32_t(t / kStages - 1) & 1u);
        unsigned char* stage = stages + (t % kStages) * L::kStageBytes;
        const int64_t first = int64_t(t) * kKeys;
        load_rows(stage, k, p.k_sn, first, p.M, kKeys, L::kVChunks, L::kVChunks, L::kQkGroupBytes, thread, 128);
        load_rows(stage + L::kKBytes, v, p.v_sn, first, p.M, kKeys, L::kVChunks, L::kVChunks, L::kVGroupBytes, thread, 128);
        mma::commit_async();
      }
      mma::wait_async<0>();
      for (int t = key_tiles > kProducerAhead ? key_tiles - kProducerAhead : 0; t < key_tiles; t++) publish(t);
      return;
    }
    wgmma::claim_registers<kConsumerRegisters>();
  } else {
    // the prologue: Q and the first kLead tiles, one cp.async group each (Q rides with tile 0);
    // S of tile 0 once tiles 0 and 1 have landed
    load_rows(q_tile, q, p.q_sn, row0, p.N, kRows, L::kVChunks, L::kQkChunks, L::kQkGroupBytes, tid, kThreads);
#pragma unroll
    for (int t = 0; t < kLead; t++) {
      load_kv(t);
      mma::commit_async();  // empty groups too, so the wait counts below stay exact
    }
    mma::wait_async<kLead - 2>();
    wgmma::fence_async_shared();
    __syncthreads();
  }

  float out[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; i++) out[i] = 0.0f;
  // this lane's two rows (lane / 4 and + 8 within its warp's 16): running max (log2 domain) and
  // this lane's part of the running sum
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float s[kKeys / 2];          // S of one tile, then its P
  float alpha[2];              // the rescale of O that goes with the P in pa
  uint32_t pa[kKeys / 16][4];  // P of a tile as the A fragments of O += P V

  // the online softmax of tile j, its S (retired) in s: P into s, the O rescale into alpha. Keys
  // past M are masked, so a tile past the last one gives P = 0 and alpha = 1; tile 0 always
  // holds a valid key, so row_max is finite from there on. The scale is positive (the host
  // checks), so the row max of the scaled scores is the scaled max of the raw ones and each P is
  // one FFMA and one exp2: this loop is what the kernel's issue rate goes to (ncu, H200).
  auto softmax = [&](int j) {
    // s[4 n + e]: column 8 n + (lane % 4) * 2 + (e & 1), row half e / 2; only the last tile
    // (and the one past it) has keys past M
    const int64_t keys_left = p.M - int64_t(j) * kKeys;
    if (keys_left < kKeys) {
#pragma unroll
      for (int i = 0; i < kKeys / 2; i++) {
        const int key = (i / 4) * 8 + (lane & 3) * 2 + (i & 1);
        if (key >= keys_left) s[i] = -INFINITY;
      }
    }
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeys / 8; n++) tile_max = fmaxf(tile_max, fmaxf(s[4 * n + 2 * hr], s[4 * n + 2 * hr + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float new_max = fmaxf(row_max[hr], tile_max * scale_log2);  // log2 domain
      alpha[hr] = mma::exp2_approx(row_max[hr] - new_max);  // 0 on the first tile (-inf - finite)
      row_max[hr] = new_max;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeys / 8; n++)
#pragma unroll
        for (int e = 2 * hr; e < 2 * hr + 2; e++) {
          s[4 * n + e] = mma::exp2_approx(fmaf(s[4 * n + e], scale_log2, -new_max));
          sum += s[4 * n + e];
        }
      row_sum[hr] = row_sum[hr] * alpha[hr] + sum;
    }
  };
  // P (in s) into pa, rounded to the storage type as flash attention does: the S accumulators of
  // key columns 16 kk.. are k-step kk's A fragment
  auto pack_p = [&]() {
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; kk++) {
      pa[kk][0] = mma::pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
      pa[kk][1] = mma::pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
      pa[kk][2] = mma::pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
      pa[kk][3] = mma::pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
    }
  };

  // The block barrier of iteration j: before it each thread waits for its copies of tile j + 2
  // (tiles up to j + kLead - 1 are committed by then), which the barrier publishes to both
  // warpgroups and the tensor cores; past it, both warpgroups are done with the stage that takes
  // tile j + kLead (kLead above). In ping-pong the warpgroups reach it from different places, so
  // it is the non-aligned barrier.
  auto publish_and_load = [&](int j) {
    mma::wait_async<kLead - 3>();
    wgmma::fence_async_shared();
    if constexpr (kPingPong) {
      mma::block_barrier_any_site();
    } else {
      __syncthreads();
    }
    load_kv(j + kLead);
    mma::commit_async();
  };

  // the producer schedule: tile t published (its copies landed and fenced), and released
  auto wait_tile = [&](int t) {
    if (t < key_tiles) wgmma::barrier_wait(&full[t % kStages], uint32_t(t / kStages) & 1u);
  };
  // With `alternate`: a warpgroup's i-th issue of products waits for the other's (i - 1)-th
  // (warpgroup 0's) or i-th (warpgroup 1's) to have been issued: each issue completes one phase of
  // the other's `turn` barrier, and strict turns keep them within one phase of each other, so
  // parity tells the phases apart. The last issue's arrival finds no one waiting, which is fine.
  int issues = 0;
  auto await_turn = [&]() {
    if (!kProducer || !alternate) return;
    const int completion = warpgroup == 0 ? issues - 1 : issues;
    if (completion >= 0) wgmma::barrier_wait(&turn[warpgroup], uint32_t(completion) & 1u);
  };
  auto pass_turn = [&]() {
    if (kProducer && alternate && lane == 0) wgmma::barrier_arrive(&turn[warpgroup ^ 1]);
    issues++;
  };
  if constexpr (kProducer) wait_tile(0);
  await_turn();
  issue_scores(s, 0);
  pass_turn();
  wgmma::wait<0>();
  wgmma::fence_operands(s);
  softmax(0);
  pack_p();
  for (int j = 0; j < key_tiles; j++) {
    if constexpr (kProducer) wait_tile(j + 1);
    await_turn();
    // S of tile j + 1 (unconditional: past the last tile it multiplies whatever that stage holds,
    // no copy being in flight into it, and its P is never used; a wgmma under a branch makes
    // ptxas serialise them all: C7520)
    issue_scores(s, j + 1);
    // O += P V of tile j. V N-major (the head dim contiguous): core matrices 128 bytes apart along
    // the head dim (N) and a group apart along the keys (K)
    wgmma::fence_operands(out);
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      out[4 * n] *= alpha[0];
      out[4 * n + 1] *= alpha[0];
      out[4 * n + 2] *= alpha[1];
      out[4 * n + 3] *= alpha[1];
    }
    const uint64_t v_desc = wgmma::descriptor_interleave(stage_base + uint32_t((j % kStages) * L::kStageBytes + L::kKBytes), L::kVGroupBytes, 128);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; kk++) wgmma::fence_operands(pa[kk]);
    wgmma::fence_operands(out);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; kk++) {
      wgmma::mma_async_rs<D, T>(out, pa[kk], wgmma::advance(v_desc, kk * 2 * L::kVGroupBytes));
    }
    wgmma::commit();
    pass_turn();
    wgmma::wait<1>();
    wgmma::fence_operands(s);
    // Ping-pong: warpgroup 1 meets the barrier here, warpgroup 0 after its softmax. Past the
    // barrier warpgroup 0 issues the next tile's products while warpgroup 1 runs this softmax,
    // then the other way round: one softmax on the SFU under the other's products, instead of
    // both softmaxes queueing on the SFU while the tensor cores idle.
    if (kPingPong && warpgroup == 1) publish_and_load(j);
    // the softmax of tile j + 1 while P V of tile j runs on the tensor cores; the waits and the
    // barrier below stay below it only past a block boundary (schedule_after: without one, ptxas
    // hoisted them all above the softmax)
    softmax(j + 1);
    wgmma::schedule_after(fminf(row_sum[0], row_sum[1]));
    wgmma::wait<0>();
    wgmma::fence_operands(out);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; kk++) wgmma::fence_operands(pa[kk]);
    pack_p();
    if constexpr (kProducer) {
      wgmma::barrier_arrive(&empty[j % kStages]);  // both products of tile j have retired
    } else if (!kPingPong || warpgroup == 0) {
      publish_and_load(j);
    }
  }
  wgmma::wait<0>();
  wgmma::fence_operands(out);
  if constexpr (!kProducer) mma::wait_async<0>();

  // out[4 n + e]: row (lane / 4) + 8 (e / 2) of this warp's 16, head dim 8 n + (lane % 4) * 2 + (e & 1)
#pragma unroll
  for (int hr = 0; hr < 2; hr++) {
    float total = row_sum[hr];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const float inv = 1.0f / total;
    const int64_t row = row0 + warpgroup * 64 + warp_in_group * 16 + (lane >> 2) + 8 * hr;
    if (row >= p.N) continue;
    T* orow = o + row * p.o_sn + (lane & 3) * 2;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *reinterpret_cast<uint32_t*>(orow + n * 8) = mma::pack2<T>(out[4 * n + 2 * hr] * inv, out[4 * n + 2 * hr + 1] * inv);
  }
#else
  (void)p;
  (void)scale_log2;
  __trap();  // built for another target: never launched there (attention_wgmma checks the device)
#endif
}

template <typename T, int D, Schedule kSchedule>
bool launch(const AttentionParams& p, bool alternate = false) {
  using L = WgmmaFlashLayout<D>;
  // + the producer schedule's static barriers, padded
  if (!hopper_fits(L::kSharedBytes + (kSchedule == Schedule::Producer ? 128 : 0))) return false;
  constexpr auto kernel = flash_wgmma_kernel<T, D, kSchedule>;
  allow_dynamic_shared<kernel>(L::kSharedBytes, "attention wgmma smem");
  const dim3 grid = attention_grid((p.N + kRows - 1) / kRows, p.B * p.H);
  kernel<<<grid, block_threads(kSchedule), L::kSharedBytes, stream()>>>(p, p.scale * 1.4426950408889634f, alternate);
  return true;
}

}  // namespace

template <typename T>
bool attention_wgmma(const AttentionParams& p, WgmmaAttentionSchedule schedule) {
  // M >= 1 (the TypeScript op refuses M = 0): tile 0's valid key is what keeps row_max finite;
  // a positive, finite scale: the softmax takes the max before scaling (the other kernels take
  // the rest); the device (compute capability 9.0 and the shared memory) is checked per head dim
  // in launch
  if (p.M < 1 || !(p.scale > 0.0f && p.scale < INFINITY) || !attention_operands_fit_tensor_cores<T>(p)) return false;
  // a tile's copies address K and V rows by 32-bit byte offsets from its first row (TileCopies)
  constexpr int64_t kTileOffsetLimit = int64_t(1) << 31, kRowBytes = 128 * int64_t(sizeof(T));
  if (p.k_sn < 0 || p.v_sn < 0 || (p.k_sn + 1) * kRowBytes >= kTileOffsetLimit || (p.v_sn + 1) * kRowBytes >= kTileOffsetLimit) return false;
  return dispatch_head_dim(p.Dh, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    if constexpr (D == 64 || D == 72 || D == 80 || D == 96 || D == 128) {  // the wgmma N it is built for
      switch (schedule) {
        case Schedule::PingPong: return launch<T, D, Schedule::PingPong>(p);
        case Schedule::Producer:
        case Schedule::ProducerAlternating:
          // at 96 (128-key tiles and 48 output accumulators) the consumers spill (kConsumerRegisters
          // above): 96 runs lockstep, and its producer kernel is not built
          if constexpr (D != 96) return launch<T, D, Schedule::Producer>(p, schedule == Schedule::ProducerAlternating);
          [[fallthrough]];
        default: return launch<T, D, Schedule::Lockstep>(p);
      }
    } else {
      return false;
    }
  });
}

template bool attention_wgmma<__half>(const AttentionParams&, WgmmaAttentionSchedule);
template bool attention_wgmma<__nv_bfloat16>(const AttentionParams&, WgmmaAttentionSchedule);

}  // namespace dit::cuda
