// The PTX instructions native/cuda/mma.cuh issues, as the PTX ISA defines them (sections
// "cp.async", "ldmatrix", "Matrix fragments for mma.m16n8k16 / mma.m16n8k8 with floating point
// type"), written from the ISA text rather than from the kernels so that the kernels' fragment
// bookkeeping is checked against an independent reading.
#include <cstring>
#include <string>
#include <vector>

#include "include/dit_emu_ptx.h"
#include "include/mma.h"
#include "scheduler.h"

namespace dit_emu {

namespace {

uint32_t shared_offset(const AsyncCopy& c) { return uint32_t(static_cast<unsigned char*>(c.dst) - static_cast<unsigned char*>(dynamic_shared())); }

// Lands a copy; it stays unfenced for the async proxy until its thread's fence.proxy.async.
void perform(Thread& t, const AsyncCopy& c) {
  mark_unfenced(t, shared_offset(c));
  if (c.valid) {
    std::memcpy(c.dst, c.src, 16);
  } else {
    std::memset(c.dst, 0, 16);  // src-size 0: nothing read, the 16 bytes zero-filled
  }
}

// element `half` (0: low, 1: high 16 bits) of a register holding two
float element(uint32_t reg, int half, bool bf16) { return half_value(half ? reg >> 16 : reg & 0xffffu, bf16); }

}  // namespace

float half_value(uint32_t bits, bool bf16) {
  static const std::vector<float> f16 = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; i++) t[i] = __half2float(__half{uint16_t(i)});
    return t;
  }();
  if (!bf16) return f16[bits & 0xffffu];
  float f;
  const uint32_t u = bits << 16;
  std::memcpy(&f, &u, 4);
  return f;
}

void copy16_async(void* dst, const void* src, bool valid) {
  Thread& t = current_thread();
  check_dynamic_shared(dst, 16, "cp.async destination");
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0) fault("cp.async destination not 16-byte aligned");
  if (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0) fault("cp.async source not 16-byte aligned");
  const AsyncCopy c{dst, src, valid};
  if (async_copies_early()) {
    perform(t, c);
  } else {
    t.open_group.push_back(c);
    mark_pending(shared_offset(c), +1);
  }
}

void commit_async() {
  Thread& t = current_thread();
  t.async_groups.push_back(std::move(t.open_group));
  t.open_group.clear();
}

void wait_async(int pending) {
  Thread& t = current_thread();
  while (int(t.async_groups.size()) > pending) {
    for (const AsyncCopy& c : t.async_groups.front()) {
      mark_pending(shared_offset(c), -1);
      perform(t, c);
    }
    t.async_groups.pop_front();
  }
}

// Lanes 8j .. 8j + 7 give the addresses of the 8 rows (16 bytes each) of matrix j. Lane l receives
// in register j the elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix j, or with
// .trans the elements (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4).
void ldmatrix(uint32_t* r, int matrices, bool trans, const void* row) {
  struct Load {
    uint32_t* r;
    int matrices;
    bool trans;
    const void* row;
  } arg{r, matrices, trans, row};
  const int lane = int(current_thread().tid % 32);
  if (lane < 8 * matrices) {
    check_dynamic_shared(row, 16, "ldmatrix row");
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0) fault("ldmatrix row address not 16-byte aligned");
    if (is_pending(shared_address(row), 16)) fault("ldmatrix on shared memory a cp.async has not landed in (no cp.async.wait_group of its thread before)");
  }
  warp_collective(trans ? "ldmatrix.trans" : "ldmatrix", &arg, [](void** args, void*) {
    const auto* first = static_cast<Load*>(args[0]);
    auto at = [&](int matrix, int r, int c) {
      uint16_t v;
      std::memcpy(&v, static_cast<const unsigned char*>(static_cast<Load*>(args[matrix * 8 + r])->row) + 2 * c, 2);
      return uint32_t(v);
    };
    for (int l = 0; l < 32; l++) {
      auto* a = static_cast<Load*>(args[l]);
      if (a->matrices != first->matrices || a->trans != first->trans) fault("ldmatrix: lanes disagree on the shape");
      for (int j = 0; j < a->matrices; j++) {
        const int g = l / 4, c = 2 * (l % 4);
        a->r[j] = a->trans ? at(j, c, g) | (at(j, c + 1, g) << 16) : at(j, g, c) | (at(j, g, c + 1) << 16);
      }
    }
  });
}

// groupID g = lane / 4, threadID_in_group t = lane % 4. A (16 x k, row): register i holds the two
// elements of row g (i even) or g + 8 (i odd), columns 2t, 2t + 1 (+ 8 for i >= 2). B (k x 8, col):
// register i holds rows 2t, 2t + 1 (+ 8 for i = 1) of column g. C / D (16 x 8, f32): d0, d1 at
// row g, d2, d3 at row g + 8, columns 2t, 2t + 1.
void mma_16x8(float* d, const uint32_t* a, const uint32_t* b, int k, bool bf16) {
  struct Mma {
    float* d;
    const uint32_t *a, *b;
    int k;
    bool bf16;
  } arg{d, a, b, k, bf16};
  warp_collective(k == 16 ? "mma.m16n8k16" : "mma.m16n8k8", &arg, [](void** args, void*) {
    const auto* first = static_cast<Mma*>(args[0]);
    const int K = first->k;
    const bool bf = first->bf16;
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
      const auto* m = static_cast<Mma*>(args[l]);
      if (m->k != K || m->bf16 != bf) fault("mma: lanes disagree on the shape or type");
      const int g = l / 4, t = l % 4;
      for (int i = 0; i < K / 4; i++)  // 4 A registers for k 16, 2 for k 8
        for (int h = 0; h < 2; h++) A[g + 8 * (i % 2)][2 * t + h + 8 * (i / 2)] = element(m->a[i], h, bf);
      for (int i = 0; i < K / 8; i++)
        for (int h = 0; h < 2; h++) B[2 * t + h + 8 * i][g] = element(m->b[i], h, bf);
      for (int i = 0; i < 4; i++) C[g + 8 * (i / 2)][2 * t + i % 2] = m->d[i];
    }
    for (int l = 0; l < 32; l++) {
      auto* m = static_cast<Mma*>(args[l]);
      const int g = l / 4, t = l % 4;
      for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        float s = C[row][col];
        for (int kk = 0; kk < K; kk++) s += A[row][kk] * B[kk][col];
        m->d[i] = s;
      }
    }
  });
}

}  // namespace dit_emu
