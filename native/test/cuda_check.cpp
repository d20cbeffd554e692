// Native check of the CUDA backend, no Node needed: every CUDA op against the CPU op (the tested
// reference) on random inputs of odd sizes in f32, f16 and bf16, with the tolerance table of
// test/helpers/tolerance.ts, the device output poisoned with NaN first so an unwritten element
// fails; then event timings of the DiT-XL/2 bench shapes in bf16. Kernel variants are picked by the
// same environment switches as the addon (DIT_CUDA_GEMM, DIT_CUDA_ATTENTION, DIT_CUDA_CONV), so
// one binary checks them all (scripts/gpu-check.sh, ctest). Exit code 1 when a check fails.
// Build: cmake -DDIT_BUILD_CUDA_CHECK=ON (see CMakeLists.txt); `dit_cuda_check [--no-timing]`;
// `--cpu-only` runs the references alone (the harness itself, where there is no GPU); `--only TEXT`
// (repeatable) the checks whose name contains one of the TEXTs, `--skip TEXT` (repeatable) not those
// whose name contains it; `--time TEXT` (repeatable) only the timings whose name contains one (a
// kernel variant's timing run then costs its op's checks and timings alone); `--no-checks` the
// timings alone (of kernels another run has checked). Exit code 2: no CUDA
// device. Built against the CUDA emulator (native/test/cuda_emu, target dit_cuda_check_emu) it runs
// on any x86-64 machine.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../common/dtype.h"
#include "../common/op_params.h"
#include "../cpu/ops.h"
#include "../cuda/backend.h"
#include "../cuda/device.h"

namespace {

using dit::DType;

// ---- host arrays in a storage dtype
struct HostArray {
  DType dtype = DType::F32;
  size_t count = 0;
  std::vector<unsigned char> bytes;
  HostArray() = default;
  HostArray(DType d, size_t n) : dtype(d), count(n), bytes(n * dit::dtype_size(d)) {}
  void* data() { return bytes.data(); }
  float get(size_t i) const {
    switch (dtype) {
      case DType::F16: { dit::f16 h; std::memcpy(&h, &bytes[2 * i], 2); return dit::to_float(h); }
      case DType::BF16: { dit::bf16 h; std::memcpy(&h, &bytes[2 * i], 2); return dit::to_float(h); }
      default: { float f; std::memcpy(&f, &bytes[4 * i], 4); return f; }
    }
  }
  void set(size_t i, float v) {
    switch (dtype) {
      case DType::F16: { const dit::f16 h = dit::f16_from(v); std::memcpy(&bytes[2 * i], &h, 2); break; }
      case DType::BF16: { const dit::bf16 h = dit::bf16_from(v); std::memcpy(&bytes[2 * i], &h, 2); break; }
      default: std::memcpy(&bytes[4 * i], &v, 4);
    }
  }
};

std::mt19937& rng() {
  static std::mt19937 r(1234);
  return r;
}

HostArray random_array(DType d, size_t n, float scale) {
  HostArray a(d, n);
  std::normal_distribution<float> normal(0.0f, scale);
  for (size_t i = 0; i < n; i++) a.set(i, normal(rng()));
  return a;
}

// ---- device arrays
// allocated for the current stream; `used` lists the other streams that use it (as the addon's
// NativeBuffer does)
struct DeviceArray {
  void* ptr = nullptr;
  size_t capacity = 0, bytes = 0;
  dit::StreamId owner = dit::cuda::current_stream_id();
  std::vector<dit::StreamId> used;
  explicit DeviceArray(size_t n_bytes) : bytes(n_bytes) {
    ptr = dit::cuda::device_alloc(n_bytes ? n_bytes : 1, &capacity);
    if (!ptr) throw std::runtime_error("out of device memory");
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { dit::cuda::device_free(ptr, capacity, bytes, owner, used); }
};

std::unique_ptr<DeviceArray> to_device(const HostArray& a) {
  auto d = std::make_unique<DeviceArray>(a.bytes.size());
  dit::cuda::upload(d->ptr, a.bytes.data(), a.bytes.size());
  return d;
}

void poison(DeviceArray& d) {
  const std::vector<unsigned char> nan_bytes(d.bytes, 0xff);  // NaN in every float dtype
  dit::cuda::upload(d.ptr, nan_bytes.data(), nan_bytes.size());
}

HostArray from_device(const DeviceArray& d, DType dtype, size_t count) {
  HostArray a(dtype, count);
  const std::string err =
      dit::cuda::begin_download(d.ptr, a.bytes.size())([&](const void* host) { std::memcpy(a.data(), host, a.bytes.size()); });
  if (!err.empty()) throw std::runtime_error(err);
  return a;
}

double tolerance(DType d) { return d == DType::F32 ? 1e-5 : d == DType::F16 ? 2e-3 : 1.6e-2; }

// relative L2 of got against ref; NaN anywhere gives NaN (a failure)
double rel_l2(const HostArray& got, const HostArray& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.count; i++) {
    const double g = got.get(i), r = ref.get(i);
    if (std::isnan(g)) return NAN;
    num += (g - r) * (g - r);
    den += r * r;
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// For a failed check, where the wrong elements are, so one GPU run says what kind of bug it is
// (unwritten NaNs, one edge, a swizzle's row or column pattern): how many are wrong (NaN, or off
// by more than 10 tolerances of the reference's RMS), the first one, and, when the output has
// rows of `columns`, the first as (row, column) and the wrong fraction per 8-row group of rows
// mod 64 and per 8-column group of columns mod 64.
std::string describe_mismatch(const HostArray& got, const HostArray& ref, double tol, size_t columns) {
  double rms = 0;
  for (size_t i = 0; i < ref.count; i++) rms += double(ref.get(i)) * ref.get(i);
  rms = std::sqrt(rms / double(ref.count ? ref.count : 1));
  const double limit = 10 * tol * (rms > 0 ? rms : 1);
  size_t wrong = 0, nan = 0, first = ref.count;
  size_t row_group[8] = {}, row_total[8] = {}, col_group[8] = {}, col_total[8] = {};
  for (size_t i = 0; i < ref.count; i++) {
    const double g = got.get(i), r = ref.get(i);
    const bool bad = std::isnan(g) || std::fabs(g - r) > limit;
    nan += std::isnan(g) ? 1 : 0;
    if (bad && first == ref.count) first = i;
    wrong += bad ? 1 : 0;
    if (columns) {
      const size_t rg = (i / columns) % 64 / 8, cg = (i % columns) % 64 / 8;
      row_total[rg]++, col_total[cg]++;
      row_group[rg] += bad ? 1 : 0, col_group[cg] += bad ? 1 : 0;
    }
  }
  char text[512];
  if (!wrong) return "no element off by 10 tolerances";
  int n = std::snprintf(text, sizeof text, "%zu of %zu wrong (%zu NaN); first at %zu", wrong, ref.count, nan, first);
  if (columns) {
    n += std::snprintf(text + n, sizeof text - n, " = (%zu, %zu): got %g, want %g; by rows %% 64 / 8:", first / columns,
                       first % columns, double(got.get(first)), double(ref.get(first)));
    for (int g = 0; g < 8; g++) n += std::snprintf(text + n, sizeof text - n, " %.0f%%", row_total[g] ? 100.0 * row_group[g] / row_total[g] : 0.0);
    n += std::snprintf(text + n, sizeof text - n, "; by columns:");
    for (int g = 0; g < 8; g++) n += std::snprintf(text + n, sizeof text - n, " %.0f%%", col_total[g] ? 100.0 * col_group[g] / col_total[g] : 0.0);
  }
  return text;
}

int failures = 0, checks = 0;
bool cpu_only = false;  // --cpu-only: the CPU references alone (checks the harness on a machine without a GPU)
std::vector<std::string> only, skip;  // --only TEXT / --skip TEXT (e.g. for a sanitizer run)
std::vector<std::string> time_only;    // --time TEXT: the timings whose names contain one (all without)

bool contains_any(const std::string& what, const std::vector<std::string>& texts) {
  for (const std::string& t : texts)
    if (what.find(t) != std::string::npos) return true;
  return false;
}

bool selected(const std::string& what) { return !contains_any(what, skip) && (only.empty() || contains_any(what, only)); }

// Runs `op` on the CPU over the host inputs and on the GPU over device copies; `make` builds the
// params from the input pointers and the output pointer.
template <typename Params>
void check(const std::string& name, DType dtype, std::vector<HostArray> inputs, size_t out_count,
           const std::function<Params(const std::vector<void*>&, void*)>& make, void (*cpu_op)(const Params&),
           void (*cuda_op)(const Params&), size_t columns = 0) {
  const DType out_dtype = dtype;
  std::string what = name + " " + dit::dtype_name(dtype);
  if (!selected(what)) return;
  checks++;
  try {
    std::vector<void*> host_ptrs;
    for (auto& a : inputs) host_ptrs.push_back(a.data());
    HostArray expected(out_dtype, out_count);
    for (size_t i = 0; i < out_count; i++) expected.set(i, NAN);
    cpu_op(make(host_ptrs, expected.data()));
    if (cpu_only) {
      size_t unwritten = 0;
      for (size_t i = 0; i < out_count; i++) unwritten += std::isnan(expected.get(i)) ? 1 : 0;
      if (unwritten) failures++;
      std::printf("%s  %-48s cpu reference, %zu elements, %zu unwritten\n", unwritten ? "FAIL" : "ok  ", what.c_str(), out_count, unwritten);
      return;
    }

    std::vector<std::unique_ptr<DeviceArray>> dev;
    std::vector<void*> dev_ptrs;
    for (auto& a : inputs) {
      dev.push_back(to_device(a));
      dev_ptrs.push_back(dev.back()->ptr);
    }
    DeviceArray out(out_count * dit::dtype_size(out_dtype));
    poison(out);
    cuda_op(make(dev_ptrs, out.ptr));
    const HostArray got = from_device(out, out_dtype, out_count);
    const double err = rel_l2(got, expected);
    const bool ok = err <= tolerance(dtype);
    if (!ok) failures++;
    std::printf("%s  %-48s rel L2 %.2e (tolerance %.1e)\n", ok ? "ok  " : "FAIL", what.c_str(), err, tolerance(dtype));
    if (!ok) std::printf("      %s\n", describe_mismatch(got, expected, tolerance(dtype), columns).c_str());
  } catch (const std::exception& e) {
    failures++;
    std::printf("FAIL  %-48s %s\n", what.c_str(), e.what());
  }
}

// ---- the op cases
dit::LinearParams linear_params(DType dt, int64_t M, int64_t N, int64_t K) {
  dit::LinearParams p{};
  p.dtype = dt;
  p.M = M; p.N = N; p.K = K;
  p.lda = K; p.ldw = K; p.ldc = N;
  p.act = dit::Activation::None;
  p.rows_per_gate = 1;
  return p;
}

void check_linear(DType dt) {
  struct Shape { const char* name; int64_t M, N, K; bool bias; dit::Activation act; };
  const Shape shapes[] = {
      {"linear gemv scalar", 3, 130, 75, true, dit::Activation::Silu},
      {"linear gemv 16-byte", 2, 131, 72, true, dit::Activation::None},
      // several K steps of the unrolled loads (the last one partial), M at its limit, N not a
      // multiple of a warp's columns
      {"linear gemv 16-byte long K", 8, 133, 1160, true, dit::Activation::Silu},
      {"linear wmma fallback (K 75)", 67, 130, 75, true, dit::Activation::GeluTanh},
      {"linear mma edges", 133, 201, 72, true, dit::Activation::GeluTanh},
      {"linear one k tile", 133, 201, 40, true, dit::Activation::None},
      {"linear big", 300, 257, 520, false, dit::Activation::None},
      // each compile-time epilogue variant of the tensor-core kernels (linear_epilogue.cuh)
      {"linear mma silu", 70, 136, 64, true, dit::Activation::Silu},
      {"linear mma gelu (erf)", 70, 136, 64, true, dit::Activation::Gelu},
      {"linear mma gelu tanh, no bias", 70, 136, 64, false, dit::Activation::GeluTanh},
      // 162 TMA tiles: more than an H100's 132 SMs, so the persistent GEMM's blocks take several;
      // 9 row blocks: the TMA GEMM's tile order has a group of 8 and a group of 1 (linear_tma.cu)
      {"linear many tiles", 1030, 3456, 40, true, dit::Activation::None},
      // the TMA GEMM's stores: the second warpgroup's rows all past M (60 < 64), and a column tile
      // of 8 (one of its three boxes inside N)
      {"linear tma tails", 60, 200, 64, true, dit::Activation::Silu},
  };
  for (const Shape& s : shapes) {
    std::vector<HostArray> in = {random_array(dt, size_t(s.M * s.K), 1.0f), random_array(dt, size_t(s.N * s.K), 0.1f),
                                 random_array(dt, size_t(s.N), 1.0f)};
    check<dit::LinearParams>(
        std::string(s.name) + " " + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K), dt, in,
        size_t(s.M * s.N),
        [&](const std::vector<void*>& ptr, void* out) {
          dit::LinearParams p = linear_params(dt, s.M, s.N, s.K);
          p.a = ptr[0]; p.w = ptr[1]; p.c = out;
          p.bias = s.bias ? ptr[2] : nullptr;
          p.act = s.act;
          return p;
        },
        dit::cpu::linear, dit::cuda::linear, size_t(s.N));
  }
  // the adaLN-Zero epilogue: out = residual + gate[m / rows_per_gate] * act(a W^T + b). 130 x 96:
  // two "batches" inside one tile; 300 x 384 (6 TMA tiles, 2 a block with DIT_EMU_SMS=3): three
  // gate rows across tiles, the last row tile's second warpgroup with no rows, so its residual
  // loads skip a tile, and 4 K tiles, so the residual is loaded in the third (tma_gemm.cuh)
  struct Gated { int64_t M, N, K, rows_per_gate; };
  for (const Gated& g : {Gated{130, 96, 64, 65}, Gated{300, 384, 200, 100}}) {
    const int64_t M = g.M, N = g.N, K = g.K, batches = M / g.rows_per_gate;
    std::vector<HostArray> in = {random_array(dt, size_t(M * K), 1.0f), random_array(dt, size_t(N * K), 0.1f), random_array(dt, size_t(N), 1.0f),
                                 random_array(dt, size_t(batches * N), 1.0f), random_array(dt, size_t(M * N), 1.0f)};
    for (dit::Activation act : {dit::Activation::None, dit::Activation::Silu}) {
      check<dit::LinearParams>(
          std::string("linear gated residual epilogue ") + std::to_string(M) + "x" + std::to_string(N) +
              (act == dit::Activation::Silu ? ", silu" : ""),
          dt, in, size_t(M * N),
          [&](const std::vector<void*>& ptr, void* out) {
            dit::LinearParams p = linear_params(dt, M, N, K);
            p.a = ptr[0]; p.w = ptr[1]; p.bias = ptr[2]; p.c = out; p.act = act;
            p.gate = ptr[3]; p.gate_stride = N; p.rows_per_gate = g.rows_per_gate; p.residual = ptr[4];
            return p;
          },
          dit::cpu::linear, dit::cuda::linear, size_t(N));
    }
  }
}

void check_layer_norm_modulate(DType dt) {
  // D 72 and 1152: the register-resident kernel; 33: the generic one; offset: rows around 1000;
  // spike (f32 and bf16): one value of 1e30 per row, whose square overflows f32
  const int64_t shapes[][5] = {{2, 37, 72, 0, 0}, {2, 9, 1152, 0, 0}, {2, 5, 33, 0, 0}, {2, 9, 72, 1000, 0},
                               {2, 9, 1152, 1000, 0}, {2, 9, 33, 1000, 0}, {2, 9, 72, 0, 1}, {2, 9, 33, 0, 1}};
  for (const auto& s : shapes) {
    const int64_t B = s[0], N = s[1], D = s[2];
    if (s[4] && dt == DType::F16) continue;  // 1e30 is Inf in f16
    HostArray x = random_array(dt, size_t(B * N * D), 3.0f);
    for (size_t i = 0; i < x.count; i++) x.set(i, x.get(i) + float(s[3]));
    for (int64_t r = 0; s[4] && r < B * N; r++) x.set(size_t(r * D + (r % D)), 1e30f);
    std::vector<HostArray> in = {x, random_array(dt, size_t(B * D), 1.0f), random_array(dt, size_t(B * D), 1.0f)};
    check<dit::LayerNormModulateParams>(
        "layerNormModulate D" + std::to_string(D) + (s[3] ? " offset " + std::to_string(s[3]) : std::string()) + (s[4] ? " spike" : ""),
        dt, in, size_t(B * N * D),
        [&](const std::vector<void*>& ptr, void* out) {
          dit::LayerNormModulateParams p{};
          p.dtype = dt; p.B = B; p.N = N; p.D = D;
          p.x = ptr[0]; p.shift = ptr[1]; p.scale = ptr[2]; p.mod_stride = D; p.out = out; p.eps = 1e-6f;
          return p;
        },
        dit::cpu::layer_norm_modulate, dit::cuda::layer_norm_modulate);
  }
}

// The model's attention layout: q, k, v read by strides out of one qkv buffer [B, N, 3, H, Dh]
// (the qkv GEMM's output), O written [B, N, H, Dh] (the proj GEMM's input)
dit::AttentionParams qkv_attention_params(DType dt, int64_t B, int64_t H, int64_t N, int64_t Dh, void* qkv, void* out) {
  const size_t es = dit::dtype_size(dt);
  unsigned char* base = static_cast<unsigned char*>(qkv);
  dit::AttentionParams p{};
  p.dtype = dt; p.B = B; p.H = H; p.N = N; p.M = N; p.Dh = Dh;
  p.q = base; p.k = base + H * Dh * es; p.v = base + 2 * H * Dh * es;
  p.q_sb = p.k_sb = p.v_sb = N * 3 * H * Dh;
  p.q_sh = p.k_sh = p.v_sh = Dh;
  p.q_sn = p.k_sn = p.v_sn = 3 * H * Dh;
  p.o = out; p.o_sb = N * H * Dh; p.o_sh = Dh; p.o_sn = H * Dh;
  p.scale = 1.0f / std::sqrt(float(Dh));
  return p;
}

void check_attention(DType dt) {
  struct Case { int64_t B, H, N, M, D; float scale_factor = 1.0f; };  // scale = factor / sqrt(D)
  std::vector<Case> cases;
  for (int64_t D : {8, 16, 20, 32, 40, 48, 64, 72, 80, 96, 112, 128, 136, 200, 256}) cases.push_back({2, 3, 70, 150, D});
  cases.push_back({2, 3, 300, 333, 72});  // several query blocks and key tiles of every kernel, both tails
  // many key tiles: the Hopper kernel's rings wrap (5 stages at 72 and 128, 4 at 96)
  for (int64_t D : {72, 96, 128}) cases.push_back({1, 1, 130, 1100, D});
  cases.push_back({1, 65537, 3, 5, 16});  // more (batch, head) pairs than a grid's y dimension holds
  // a negative and a zero scale: the Hopper and mma.sync kernels take positive ones only (the
  // others fall back to WMMA)
  cases.push_back({1, 2, 70, 150, 72, -1.0f});
  cases.push_back({1, 2, 70, 150, 72, 0.0f});
  for (const Case& c : cases) {
    const int64_t B = c.B, H = c.H, N = c.N, M = c.M, D = c.D;
    std::vector<HostArray> in = {random_array(dt, size_t(B * H * N * D), 1.0f), random_array(dt, size_t(B * H * M * D), 1.0f),
                                 random_array(dt, size_t(B * H * M * D), 1.0f)};
    check<dit::AttentionParams>(
        "attention B" + std::to_string(B) + " H" + std::to_string(H) + " d" + std::to_string(D) + " " + std::to_string(N) + "x" +
            std::to_string(M) + (c.scale_factor == 1.0f ? "" : " scale x" + std::to_string(int(c.scale_factor))), dt, in,
        size_t(B * H * N * D),
        [&](const std::vector<void*>& ptr, void* out) {
          dit::AttentionParams p{};
          p.dtype = dt; p.B = B; p.H = H; p.N = N; p.M = M; p.Dh = D;
          p.q = ptr[0]; p.q_sb = H * N * D; p.q_sh = N * D; p.q_sn = D;
          p.k = ptr[1]; p.k_sb = H * M * D; p.k_sh = M * D; p.k_sn = D;
          p.v = ptr[2]; p.v_sb = H * M * D; p.v_sh = M * D; p.v_sn = D;
          p.o = out; p.o_sb = H * N * D; p.o_sh = N * D; p.o_sn = D;
          p.scale = c.scale_factor / std::sqrt(float(D));
          return p;
        },
        dit::cpu::attention, dit::cuda::attention, size_t(D));
  }
  // the model's layout (qkv_attention_params)
  const int64_t B = 2, H = 3, D = 72, T = 77;
  std::vector<HostArray> in = {random_array(dt, size_t(B * T * 3 * H * D), 1.0f)};
  check<dit::AttentionParams>(
      "attention d72 from a qkv buffer", dt, in, size_t(B * T * H * D),
      [&](const std::vector<void*>& ptr, void* out) { return qkv_attention_params(dt, B, H, T, D, ptr[0], out); },
      dit::cpu::attention, dit::cuda::attention);
}

dit::Conv3dParams conv_params(DType dt, int64_t B, int64_t Cin, int64_t T, int64_t H, int64_t W, int64_t Cout, int64_t k,
                              int64_t st, int64_t ptf, int64_t ptb, int64_t pad, int64_t dil_t, bool replicate) {
  dit::Conv3dParams p{};
  p.dtype = dt;
  p.B = B; p.Cin = Cin; p.T = T; p.H = H; p.W = W; p.Cout = Cout;
  p.kt = p.kh = p.kw = k;
  p.st = st; p.sh = p.sw = 1;
  p.dt = dil_t; p.dh = p.dw = 1;
  p.pad_t_front = ptf; p.pad_t_back = ptb; p.pad_h = p.pad_w = pad;
  p.replicate_time = replicate;
  p.To = (T + ptf + ptb - dil_t * (k - 1) - 1) / st + 1;
  p.Ho = (H + 2 * pad - (k - 1) - 1) + 1;
  p.Wo = (W + 2 * pad - (k - 1) - 1) + 1;
  return p;
}

void check_conv(DType dt) {
  struct Shape { const char* name; int64_t B, Cin, T, H, W, Cout, st, ptf, ptb, pad, dil_t; bool replicate; bool bias; };
  const Shape shapes[] = {
      {"conv3d im2col (Cin 3)", 2, 3, 5, 7, 6, 4, 1, 1, 1, 1, 2, false, true},
      {"causalConv3d implicit gemm replicate", 1, 8, 6, 7, 9, 9, 1, 2, 0, 1, 1, true, true},
      {"causalConv3d implicit gemm zeros s2", 2, 24, 7, 6, 5, 130, 2, 1, 0, 1, 1, false, false},
      {"conv3d implicit gemm dilated", 2, 16, 5, 9, 7, 20, 1, 2, 2, 1, 2, false, true},
      // 64 channels: a 64-deep K tile is one whole tap; 136 outputs: a second, nearly empty row of blocks
      {"causalConv3d implicit gemm 64->136", 1, 64, 3, 6, 11, 136, 1, 2, 0, 1, 1, true, true},
      // the TMA convolution's shapes (Cin a multiple of 64, Wo of 8 and at least 64): rows of 64
      // in pairs with an odd Ho (a tile's second row past it) and a partial block of 96 outputs;
      // rows of 128 with a second, nearly empty block of columns (Wo 136), two K tiles a tap,
      // dilated zero padding in time and no bias
      {"causalConv3d tma rows of 64, 64->96", 2, 64, 3, 3, 64, 96, 1, 2, 0, 1, 1, true, true},
      {"conv3d tma rows of 128, 128->72 dilated", 1, 128, 4, 2, 136, 72, 1, 2, 2, 1, 2, false, false},
  };
  for (const Shape& s : shapes) {
    const dit::Conv3dParams base = conv_params(dt, s.B, s.Cin, s.T, s.H, s.W, s.Cout, 3, s.st, s.ptf, s.ptb, s.pad, s.dil_t, s.replicate);
    std::vector<HostArray> in = {random_array(dt, size_t(s.B * s.Cin * s.T * s.H * s.W), 1.0f),
                                 random_array(dt, size_t(s.Cout * s.Cin * 27), 0.1f), random_array(dt, size_t(s.Cout), 1.0f)};
    check<dit::Conv3dParams>(
        s.name, dt, in, size_t(s.B * s.Cout * base.To * base.Ho * base.Wo),
        [&](const std::vector<void*>& ptr, void* out) {
          dit::Conv3dParams p = base;
          p.x = ptr[0]; p.weight = ptr[1]; p.bias = s.bias ? ptr[2] : nullptr; p.out = out;
          return p;
        },
        dit::cpu::conv3d, dit::cuda::conv3d, size_t(base.To * base.Ho * base.Wo));
  }
  // PatchEmbed3D: end padding to the patch, T-major tokens
  const int64_t B = 2, C = 3, T = 3, H = 5, W = 4, D = 7;
  std::vector<HostArray> in = {random_array(dt, size_t(B * C * T * H * W), 1.0f), random_array(dt, size_t(D * C * 8), 0.3f), random_array(dt, size_t(D), 1.0f)};
  check<dit::PatchEmbedParams>(
      "patchEmbed3d", dt, in, size_t(B * 2 * 3 * 2 * D),
      [&](const std::vector<void*>& ptr, void* out) {
        dit::PatchEmbedParams p{};
        p.dtype = dt; p.B = B; p.C = C; p.T = T; p.H = H; p.W = W; p.D = D; p.pt = p.ph = p.pw = 2;
        p.x = ptr[0]; p.weight = ptr[1]; p.bias = ptr[2]; p.out = out;
        return p;
      },
      dit::cpu::patch_embed3d, dit::cuda::patch_embed3d);
}

void check_small_ops(DType dt) {
  const int64_t B = 2, N = 37, D = 33;
  std::vector<HostArray> in = {random_array(dt, size_t(B * N * D), 1.0f), random_array(dt, size_t(B * D), 1.0f), random_array(dt, size_t(B * N * D), 1.0f)};
  check<dit::GatedResidualParams>(
      "gatedResidual", dt, in, size_t(B * N * D),
      [&](const std::vector<void*>& ptr, void* out) {
        dit::GatedResidualParams p{};
        p.dtype = dt; p.B = B; p.N = N; p.D = D;
        p.x = ptr[0]; p.gate = ptr[1]; p.gate_stride = D; p.y = ptr[2]; p.out = out;
        return p;
      },
      dit::cpu::gated_residual, dit::cuda::gated_residual);
  // 1001 elements: 16-byte packs and a tail; from one element in: x unaligned, one element a thread
  for (dit::Activation act : {dit::Activation::GeluTanh, dit::Activation::Silu, dit::Activation::Gelu}) {
    for (int64_t skip : {0, 1}) {
      std::vector<HostArray> x = {random_array(dt, 1001, 3.0f)};
      check<dit::UnaryParams>(
          std::string("unary ") + (act == dit::Activation::Silu ? "silu" : act == dit::Activation::Gelu ? "gelu" : "gelu tanh") +
              (skip ? " unaligned" : ""), dt, x, size_t(1001 - skip),
          [&](const std::vector<void*>& ptr, void* out) {
            dit::UnaryParams p{};
            p.dtype = dt; p.count = 1001 - skip; p.x = static_cast<char*>(ptr[0]) + skip * dit::dtype_size(dt); p.out = out; p.act = act;
            return p;
          },
          dit::cpu::unary, dit::cuda::unary);
    }
  }
}

// ---- streams: a model's stream and the default one (cuda/runtime.cu, allocator.cu)
void expect(bool ok, const std::string& what) {
  checks++;
  if (!ok) failures++;
  std::printf("%s  streams: %s\n", ok ? "ok  " : "FAIL", what.c_str());
}

#ifdef DIT_CUDA_EMULATION
constexpr bool kAsynchronous = false;  // the emulator runs a kernel at its launch: no stream is ever busy
#else
constexpr bool kAsynchronous = true;
#endif

void check_streams() {
  namespace cu = dit::cuda;
  const size_t n = 1 << 20;
  HostArray ones(DType::F32, n), twos(DType::F32, n);
  for (size_t i = 0; i < n; i++) ones.set(i, 1.0f), twos.set(i, 2.0f);
  const dit::StreamId s1 = cu::create_stream();
  expect(s1 != 0, "create_stream gives a new stream");
  auto on = [](dit::StreamId s) { cu::set_current_stream(s); };
  {
    // a block the busy stream 1 still reads is not handed out again on stream 0
    auto a = std::make_unique<DeviceArray>(n * 4);  // stream 0's
    cu::upload(a->ptr, ones.data(), n * 4);
    on(s1);
    cu::wait_for_stream(0);
    DeviceArray b(n * 4);  // stream 1's
    cu::busy_wait(50000);
    dit::CastParams p{DType::F32, DType::F32, int64_t(n), a->ptr, b.ptr};
    cu::cast(p);
    on(0);
    void* const a_ptr = a->ptr;
    a->used = {s1};
    a.reset();  // freed while stream 1 is 50 ms from reading it
    auto c = std::make_unique<DeviceArray>(n * 4);
    if (kAsynchronous) expect(c->ptr != a_ptr, "a block still read by another stream is not reused");
    cu::upload(c->ptr, twos.data(), n * 4);  // would corrupt stream 1's input if it were the same block
    on(s1);
    cu::synchronize();
    const HostArray got = from_device(b, DType::F32, n);
    expect(rel_l2(got, ones) == 0.0, "stream 1 read its input intact");
    on(0);
    DeviceArray d(n * 4);
    if (kAsynchronous) expect(d.ptr == a_ptr, "the block is reused once stream 1 is past it");
  }
  {
    // a read on stream 0 waits for stream 1's writes when told to (wait_for_stream)
    on(s1);
    DeviceArray y(n * 4);
    cu::upload(y.ptr, ones.data(), n * 4);
    cu::synchronize();
    cu::busy_wait(50000);
    cu::upload(y.ptr, twos.data(), n * 4);
    on(0);
    cu::wait_for_stream(s1);
    const HostArray got = from_device(y, DType::F32, n);
    expect(rel_l2(got, twos) == 0.0, "a read on stream 0 after wait_for_stream sees stream 1's write");
    y.used = {0};
  }
  cu::destroy_stream(s1);
  bool refused = false;
  try {
    cu::set_current_stream(s1);
  } catch (const std::exception&) {
    refused = true;
  }
  expect(refused && cu::current_stream_id() == 0, "a destroyed stream cannot be made current");
  expect(cu::fence_all()().empty(), "fence_all after the streams");
}

// ---- timings (bf16, DiT-XL/2 at 4096 tokens, batch 2), GPU time by events behind a busy wait
void time_op(const char* name, double flops, double bytes, const std::function<void()>& launch) {
  for (int i = 0; i < 3; i++) launch();
  dit::cuda::synchronize();
  double best = 1e30;
  for (int sample = 0; sample < 5; sample++) {
    dit::cuda::busy_wait(3000);
    const int64_t start = dit::cuda::timer_record();
    constexpr int kReps = 10;
    for (int i = 0; i < kReps; i++) launch();
    const int64_t end = dit::cuda::timer_record();
    const double ms = dit::cuda::timer_elapsed_ms(start, end) / kReps;
    best = ms < best ? ms : best;
  }
  if (flops > 0) {
    std::printf("time  %-40s %9.4f ms  %7.1f TFLOP/s\n", name, best, flops / best / 1e9);
  } else {
    std::printf("time  %-40s %9.4f ms  %7.1f GB/s\n", name, best, bytes / best / 1e6);
  }
}

bool timed(const std::string& name) { return time_only.empty() || contains_any(name, time_only); }

void timings() {
  const DType dt = DType::BF16;
  auto dev_random = [&](size_t n, float scale) { return to_device(random_array(dt, n, scale)); };
  const int64_t M = 8192, D = 1152;
  // as the model runs them: proj and fc2 add gate * (.) to the residual stream in place
  struct Gemm { const char* name; int64_t N, K; dit::Activation act; bool gated; };
  const Gemm gemms[] = {{"linear qkv M8192 N3456 K1152", 3 * D, D, dit::Activation::None, false},
                        {"linear proj M8192 N1152 K1152", D, D, dit::Activation::None, false},
                        {"linear proj gated M8192 N1152 K1152", D, D, dit::Activation::None, true},
                        {"linear fc1+gelu M8192 N4608 K1152", 4 * D, D, dit::Activation::GeluTanh, false},
                        {"linear fc2 M8192 N1152 K4608", D, 4 * D, dit::Activation::None, false},
                        {"linear fc2 gated M8192 N1152 K4608", D, 4 * D, dit::Activation::None, true}};
  for (const Gemm& g : gemms) {
    if (!timed(g.name)) continue;
    auto a = dev_random(size_t(M * g.K), 1.0f), w = dev_random(size_t(g.N * g.K), 0.03f), b = dev_random(size_t(g.N), 1.0f);
    auto gate = dev_random(size_t(2 * g.N), 0.1f);
    DeviceArray c(size_t(M * g.N) * 2);
    dit::LinearParams p = linear_params(dt, M, g.N, g.K);
    p.a = a->ptr; p.w = w->ptr; p.bias = b->ptr; p.c = c.ptr; p.act = g.act;
    if (g.gated) {
      p.gate = gate->ptr; p.gate_stride = g.N; p.rows_per_gate = M / 2; p.residual = c.ptr;
    }
    time_op(g.name, 2.0 * M * g.N * g.K, 0, [&] { dit::cuda::linear(p); });
  }
  if (const char* name = "linear adaLN gemv M2 N195840 K1152"; timed(name)) {
    // the adaLN GEMV of all 28 blocks and the final layer at once (M = batch; the bench's
    // linear_adaln_all_blocks): W's 451 MB streamed once
    const int64_t N = (28 * 6 + 2) * D;
    auto a = dev_random(size_t(2 * D), 1.0f), w = dev_random(size_t(N * D), 0.03f), b = dev_random(size_t(N), 1.0f);
    DeviceArray c(size_t(2 * N) * 2);
    dit::LinearParams p = linear_params(dt, 2, N, D);
    p.a = a->ptr; p.w = w->ptr; p.bias = b->ptr; p.c = c.ptr;
    time_op(name, 0, 2.0 * double(N) * D, [&] { dit::cuda::linear(p); });
  }
  if (const char* name = "attention B2 H16 N4096 d72"; timed(name)) {
    const int64_t B = 2, H = 16, N = 4096, Dh = 72;
    auto q = dev_random(size_t(B * H * N * Dh), 1.0f), k = dev_random(size_t(B * H * N * Dh), 1.0f), v = dev_random(size_t(B * H * N * Dh), 1.0f);
    DeviceArray o(size_t(B * H * N * Dh) * 2);
    dit::AttentionParams p{};
    p.dtype = dt; p.B = B; p.H = H; p.N = N; p.M = N; p.Dh = Dh;
    p.q = q->ptr; p.k = k->ptr; p.v = v->ptr; p.o = o.ptr;
    p.q_sb = p.k_sb = p.v_sb = p.o_sb = H * N * Dh;
    p.q_sh = p.k_sh = p.v_sh = p.o_sh = N * Dh;
    p.q_sn = p.k_sn = p.v_sn = p.o_sn = Dh;
    p.scale = 1.0f / std::sqrt(72.0f);
    time_op(name, 4.0 * B * H * double(N) * N * Dh, 0, [&] { dit::cuda::attention(p); });
  }
  if (const char* name = "attention B2 H16 N4096 d72, model's qkv rows"; timed(name)) {
    // as the model runs it (qkv_attention_params): rows of 144 bytes 6,912 apart
    const int64_t B = 2, H = 16, N = 4096, Dh = 72;
    auto qkv = dev_random(size_t(B * N * 3 * H * Dh), 1.0f);
    DeviceArray o(size_t(B * N * H * Dh) * 2);
    const dit::AttentionParams p = qkv_attention_params(dt, B, H, N, Dh, qkv->ptr, o.ptr);
    time_op(name, 4.0 * B * H * double(N) * N * Dh, 0, [&] { dit::cuda::attention(p); });
  }
  if (const char* name = "layerNormModulate 8192 x 1152"; timed(name)) {
    auto x = dev_random(size_t(M * D), 1.0f), s = dev_random(size_t(2 * D), 1.0f);
    DeviceArray out(size_t(M * D) * 2);
    dit::LayerNormModulateParams p{};
    p.dtype = dt; p.B = 2; p.N = M / 2; p.D = D; p.x = x->ptr; p.shift = s->ptr; p.scale = s->ptr; p.mod_stride = D; p.out = out.ptr; p.eps = 1e-6f;
    time_op(name, 0, 2.0 * M * D * 2, [&] { dit::cuda::layer_norm_modulate(p); });
  }
  if (const char* name = "causalConv3d 128->128 k3 9x128x128"; timed(name)) {
    dit::Conv3dParams p = conv_params(dt, 1, 128, 9, 128, 128, 128, 3, 1, 2, 0, 1, 1, true);
    auto x = dev_random(size_t(128 * 9 * 128 * 128), 1.0f), w = dev_random(size_t(128 * 128 * 27), 0.02f), b = dev_random(128, 1.0f);
    DeviceArray out(size_t(128 * p.To * p.Ho * p.Wo) * 2);
    p.x = x->ptr; p.weight = w->ptr; p.bias = b->ptr; p.out = out.ptr;
    time_op(name, 2.0 * 128 * 128 * 27 * double(p.To * p.Ho * p.Wo), 0, [&] { dit::cuda::conv3d(p); });
  }
  if (const char* name = "patchEmbed3d 2x4x16x32x32 -> 1152"; timed(name)) {
    auto x = dev_random(size_t(2 * 4 * 16 * 32 * 32), 1.0f), w = dev_random(size_t(D * 16), 0.3f), b = dev_random(size_t(D), 1.0f);
    DeviceArray out(size_t(M * D) * 2);
    dit::PatchEmbedParams p{};
    p.dtype = dt; p.B = 2; p.C = 4; p.T = 16; p.H = 32; p.W = 32; p.D = D; p.pt = 1; p.ph = 2; p.pw = 2;
    p.x = x->ptr; p.weight = w->ptr; p.bias = b->ptr; p.out = out.ptr;
    time_op(name, 2.0 * M * D * 16, 0, [&] { dit::cuda::patch_embed3d(p); });
  }
}

void run_checks() {
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    check_linear(dt);
    check_layer_norm_modulate(dt);
    check_attention(dt);
    check_conv(dt);
    check_small_ops(dt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool timing = true, checking = true;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--no-timing") == 0) timing = false;
    if (std::strcmp(argv[i], "--no-checks") == 0) checking = false;
    if (std::strcmp(argv[i], "--cpu-only") == 0) cpu_only = true;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only.push_back(argv[++i]);
    if (std::strcmp(argv[i], "--skip") == 0 && i + 1 < argc) skip.push_back(argv[++i]);
    if (std::strcmp(argv[i], "--time") == 0 && i + 1 < argc) time_only.push_back(argv[++i]);
  }
  if (cpu_only) {
    run_checks();
    std::printf("%d of %d CPU references failed\n", failures, checks);
    return failures == 0 ? 0 : 1;
  }
  const dit::cuda::CudaInfo& info = dit::cuda::cuda_info();
  if (info.devices.empty()) {
    std::printf("no CUDA device: %s %s\n", info.error.c_str(), info.error_message.c_str());
    return 2;
  }
  const dit::cuda::DeviceInfo& d = info.devices[0];
  std::printf("device: %s (compute capability %d.%d, %d SMs), driver %d, runtime %d\n", d.name.c_str(), d.major, d.minor,
              d.multiprocessors, info.driver_version, info.runtime_version);
  for (const char* env : {"DIT_CUDA_GEMM", "DIT_CUDA_ATTENTION", "DIT_CUDA_CONV"})
    if (const char* v = std::getenv(env)) std::printf("%s=%s\n", env, v);
  if (checking) run_checks();
  if (checking && selected("streams")) {
    try {
      check_streams();
    } catch (const std::exception& e) {
      failures++;
      std::printf("FAIL  streams: %s\n", e.what());
      dit::cuda::set_current_stream(0);
    }
  }
  try {
    dit::cuda::synchronize();
  } catch (const std::exception& e) {
    failures++;
    std::printf("FAIL  asynchronous error: %s\n", e.what());
  }
  std::printf("%d of %d checks failed\n", failures, checks);
  if (timing && failures == 0) {
    try {
      timings();
    } catch (const std::exception& e) {
      std::printf("timing failed: %s\n", e.what());
      return 1;
    }
  }
  return failures == 0 ? 0 : 1;
}
