// N-API entry points of the ops: read the argument object into the op's params struct, then run
// it on the buffers' device (the CPU queue; CUDA arrives with the CUDA backend).
#include "ops.h"

#include <string>

#include "../cpu/isa/kernels.h"
#include "../cpu/ops.h"
#include "../cpu/queue.h"
#include "../cuda/backend.h"
#include "args.h"

namespace dit::addon {

namespace {

// bytes of W [N, K] packed for the CPU GEMM in `dtype` (NR-column panels for the ISA in use)
int64_t packed_weight_bytes(DType dtype, int64_t N, int64_t K) { return cpu::packed_weight_floats(dtype, N, K) * 4; }

int64_t span(int64_t rows, int64_t ld, int64_t cols, size_t es) {
  return (rows <= 0 || cols <= 0) ? 0 : ((rows - 1) * ld + cols) * int64_t(es);
}

// CPU: enqueue on the CPU queue. CUDA: launch on the stream now (asynchronous); launch errors
// become DitErrors (out of memory: ERR_DIT_OOM), asynchronous faults surface at the next fence.
template <typename P>
void run(const OpArgs& a, const P& p, void (*cpu_op)(const P&), void (*cuda_op)(const P&)) {
  if (a.device() == Device::Cpu) {
    cpu::enqueue([p, cpu_op] { cpu_op(p); });
    return;
  }
  try {
    cuda_op(p);
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    const bool oom = msg.find("cudaErrorMemoryAllocation") != std::string::npos;
    throw DitError(a.env(), oom ? "ERR_DIT_OOM" : "ERR_DIT_NATIVE", std::string(a.op()) + ": " + msg);
  }
}

Napi::Value Linear(const Napi::CallbackInfo& info) {
  OpArgs a(info, "linear");
  LinearParams p{};
  p.dtype = a.dtype();
  p.M = a.i64("M"); p.N = a.i64("N"); p.K = a.i64("K");
  p.lda = a.i64("lda"); p.ldw = a.i64("ldw"); p.ldc = a.i64("ldc");
  const size_t es = dtype_size(p.dtype);
  p.a = a.ptr("a", span(p.M, p.lda, p.K, es));
  p.w_packed = static_cast<const float*>(a.ptr("wPacked", packed_weight_bytes(p.dtype, p.N, p.K), true));
  p.w = a.ptr("w", span(p.N, p.ldw, p.K, es), p.w_packed != nullptr);  // not read when packed
  p.c = a.ptr("c", span(p.M, p.ldc, p.N, es));
  p.bias = a.ptr("bias", p.N * int64_t(es), true);
  p.act = Activation(a.i64("activation"));
  p.rows_per_gate = 1;
  p.gate_stride = 0;
  Napi::Value gate = info[0].As<Napi::Object>().Get("gate");
  if (!gate.IsNull() && !gate.IsUndefined()) {
    p.rows_per_gate = a.i64("rowsPerGate");
    p.gate_stride = a.i64("gateStride");
    if (p.rows_per_gate <= 0) a.fail("rowsPerGate must be positive");
    p.gate = a.ptr("gate", span((p.M - 1) / p.rows_per_gate + 1, p.gate_stride, p.N, es));
    p.residual = a.ptr("residual", span(p.M, p.ldc, p.N, es));
  }
  run(a, p, cpu::linear, cuda::linear);
  return info.Env().Undefined();
}

// packedWeightFloats(dtype, N, K) -> the f32 elements packLinearWeight's `out` needs
Napi::Value PackedWeightFloats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    throw DitError(env, "ERR_DIT_NATIVE", "packedWeightFloats(dtype, N, K): expected three numbers");
  const int64_t d = info[0].As<Napi::Number>().Int64Value();
  if (d < 0 || d > int64_t(DType::I64)) throw DitError(env, "ERR_DIT_NATIVE", "packedWeightFloats: invalid dtype code");
  return Napi::Number::New(env, double(cpu::packed_weight_floats(DType(d), info[1].As<Napi::Number>().Int64Value(),
                                                                 info[2].As<Napi::Number>().Int64Value())));
}

Napi::Value PackLinearWeight(const Napi::CallbackInfo& info) {
  OpArgs a(info, "packLinearWeight");
  PackWeightParams p{};
  p.dtype = a.dtype();
  p.N = a.i64("N"); p.K = a.i64("K");
  p.w = a.ptr("w", p.N * p.K * int64_t(dtype_size(p.dtype)));
  p.out = static_cast<float*>(a.ptr("out", packed_weight_bytes(p.dtype, p.N, p.K)));
  run(a, p, cpu::pack_linear_weight, cuda::pack_linear_weight);
  return info.Env().Undefined();
}

Napi::Value LayerNormModulate(const Napi::CallbackInfo& info) {
  OpArgs a(info, "layerNormModulate");
  LayerNormModulateParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.N = a.i64("N"); p.D = a.i64("D");
  p.mod_stride = a.i64("modStride");
  p.eps = a.f32("eps");
  const size_t es = dtype_size(p.dtype);
  p.x = a.ptr("x", p.B * p.N * p.D * int64_t(es));
  p.out = a.ptr("out", p.B * p.N * p.D * int64_t(es));
  p.shift = a.ptr("shift", span(p.B, p.mod_stride, p.D, es));
  p.scale = a.ptr("scale", span(p.B, p.mod_stride, p.D, es));
  run(a, p, cpu::layer_norm_modulate, cuda::layer_norm_modulate);
  return info.Env().Undefined();
}

Napi::Value GatedResidual(const Napi::CallbackInfo& info) {
  OpArgs a(info, "gatedResidual");
  GatedResidualParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.N = a.i64("N"); p.D = a.i64("D");
  p.gate_stride = a.i64("gateStride");
  const size_t es = dtype_size(p.dtype);
  const int64_t n = p.B * p.N * p.D * int64_t(es);
  p.x = a.ptr("x", n);
  p.y = a.ptr("y", n);
  p.out = a.ptr("out", n);
  p.gate = a.ptr("gate", span(p.B, p.gate_stride, p.D, es));
  run(a, p, cpu::gated_residual, cuda::gated_residual);
  return info.Env().Undefined();
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  OpArgs a(info, "attention");
  AttentionParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.H = a.i64("H"); p.N = a.i64("N"); p.M = a.i64("M"); p.Dh = a.i64("Dh");
  p.scale = a.f32("scale");
  const int64_t es = int64_t(dtype_size(p.dtype));
  auto extent = [&](int64_t sb, int64_t sh, int64_t sn, int64_t rows) {
    if (p.B == 0 || p.H == 0 || rows == 0) return int64_t(0);
    return ((p.B - 1) * sb + (p.H - 1) * sh + (rows - 1) * sn + p.Dh) * es;
  };
  p.q_sb = a.i64("qSb"); p.q_sh = a.i64("qSh"); p.q_sn = a.i64("qSn");
  p.k_sb = a.i64("kSb"); p.k_sh = a.i64("kSh"); p.k_sn = a.i64("kSn");
  p.v_sb = a.i64("vSb"); p.v_sh = a.i64("vSh"); p.v_sn = a.i64("vSn");
  p.o_sb = a.i64("oSb"); p.o_sh = a.i64("oSh"); p.o_sn = a.i64("oSn");
  p.q = a.ptr("q", extent(p.q_sb, p.q_sh, p.q_sn, p.N));
  p.k = a.ptr("k", extent(p.k_sb, p.k_sh, p.k_sn, p.M));
  p.v = a.ptr("v", extent(p.v_sb, p.v_sh, p.v_sn, p.M));
  p.o = a.ptr("o", extent(p.o_sb, p.o_sh, p.o_sn, p.N));
  if (p.M == 0 && p.N > 0) a.fail("attention needs at least one key");
  if (a.device() == Device::Cuda && !cuda::attention_supports_head_dim(p.Dh))
    a.fail("head dim " + std::to_string(p.Dh) + " is not supported on CUDA; supported: " + cuda::attention_head_dims());
  run(a, p, cpu::attention, cuda::attention);
  return info.Env().Undefined();
}

Napi::Value Conv3d(const Napi::CallbackInfo& info) {
  OpArgs a(info, "conv3d");
  Conv3dParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.Cin = a.i64("Cin"); p.T = a.i64("T"); p.H = a.i64("H"); p.W = a.i64("W");
  p.Cout = a.i64("Cout"); p.kt = a.i64("kt"); p.kh = a.i64("kh"); p.kw = a.i64("kw");
  p.st = a.i64("st"); p.sh = a.i64("sh"); p.sw = a.i64("sw");
  p.dt = a.i64("dt"); p.dh = a.i64("dh"); p.dw = a.i64("dw");
  p.pad_t_front = a.i64("padTFront"); p.pad_t_back = a.i64("padTBack");
  p.pad_h = a.i64("padH"); p.pad_w = a.i64("padW");
  p.replicate_time = a.flag("replicateTime");
  p.To = a.i64("To"); p.Ho = a.i64("Ho"); p.Wo = a.i64("Wo");
  const int64_t es = int64_t(dtype_size(p.dtype));
  p.x = a.ptr("x", p.B * p.Cin * p.T * p.H * p.W * es);
  p.weight = a.ptr("weight", p.Cout * p.Cin * p.kt * p.kh * p.kw * es);
  p.bias = a.ptr("bias", p.Cout * es, true);
  p.out = a.ptr("out", p.B * p.Cout * p.To * p.Ho * p.Wo * es);
  run(a, p, cpu::conv3d, cuda::conv3d);
  return info.Env().Undefined();
}

Napi::Value PatchEmbed3d(const Napi::CallbackInfo& info) {
  OpArgs a(info, "patchEmbed3d");
  PatchEmbedParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.C = a.i64("C"); p.T = a.i64("T"); p.H = a.i64("H"); p.W = a.i64("W"); p.D = a.i64("D");
  p.pt = a.i64("pt"); p.ph = a.i64("ph"); p.pw = a.i64("pw");
  if (p.pt <= 0 || p.ph <= 0 || p.pw <= 0) a.fail("patch sizes must be positive");
  const int64_t es = int64_t(dtype_size(p.dtype));
  const int64_t n = ((p.T + p.pt - 1) / p.pt) * ((p.H + p.ph - 1) / p.ph) * ((p.W + p.pw - 1) / p.pw);
  p.x = a.ptr("x", p.B * p.C * p.T * p.H * p.W * es);
  p.weight = a.ptr("weight", p.D * p.C * p.pt * p.ph * p.pw * es);
  p.bias = a.ptr("bias", p.D * es, true);
  p.out = a.ptr("out", p.B * n * p.D * es);
  run(a, p, cpu::patch_embed3d, cuda::patch_embed3d);
  return info.Env().Undefined();
}

Napi::Value TimestepEmbedding(const Napi::CallbackInfo& info) {
  OpArgs a(info, "timestepEmbedding");
  TimestepEmbeddingParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.dim = a.i64("dim");
  p.max_period = a.f32("maxPeriod");
  p.t = static_cast<const float*>(a.ptr("t", p.B * 4));
  p.out = a.ptr("out", p.B * p.dim * int64_t(dtype_size(p.dtype)));
  run(a, p, cpu::timestep_embedding, cuda::timestep_embedding);
  return info.Env().Undefined();
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  OpArgs a(info, "activation");
  UnaryParams p{};
  p.dtype = a.dtype();
  p.count = a.i64("count");
  p.act = Activation(a.i64("activation"));
  const int64_t n = p.count * int64_t(dtype_size(p.dtype));
  p.x = a.ptr("x", n);
  p.out = a.ptr("out", n);
  run(a, p, cpu::unary, cuda::unary);
  return info.Env().Undefined();
}

Napi::Value AddRows(const Napi::CallbackInfo& info) {
  OpArgs a(info, "addRows");
  AddRowsParams p{};
  p.dtype = a.dtype();
  p.rows = a.i64("rows"); p.D = a.i64("D");
  p.add_rows = a.i64("addRows"); p.add_repeat = a.i64("addRepeat");
  if (p.add_rows <= 0 || p.add_repeat <= 0) a.fail("addRows and addRepeat must be positive");
  const int64_t es = int64_t(dtype_size(p.dtype));
  p.x = a.ptr("x", p.rows * p.D * es);
  p.add = a.ptr("add", p.add_rows * p.D * es);
  p.out = a.ptr("out", p.rows * p.D * es);
  run(a, p, cpu::add_rows, cuda::add_rows);
  return info.Env().Undefined();
}

Napi::Value Unpatchify(const Napi::CallbackInfo& info) {
  OpArgs a(info, "unpatchify");
  UnpatchifyParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.t = a.i64("t"); p.h = a.i64("h"); p.w = a.i64("w");
  p.pt = a.i64("pt"); p.ph = a.i64("ph"); p.pw = a.i64("pw"); p.C = a.i64("C");
  const int64_t n = p.B * p.t * p.h * p.w * p.pt * p.ph * p.pw * p.C * int64_t(dtype_size(p.dtype));
  p.x = a.ptr("x", n);
  p.out = a.ptr("out", n);
  run(a, p, cpu::unpatchify, cuda::unpatchify);
  return info.Env().Undefined();
}

Napi::Value Embedding(const Napi::CallbackInfo& info) {
  OpArgs a(info, "embedding");
  EmbeddingParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.D = a.i64("D");
  const int64_t rows = p.rows = a.i64("rows");
  const int64_t es = int64_t(dtype_size(p.dtype));
  p.ids = static_cast<const int32_t*>(a.ptr("ids", p.B * 4));
  p.table = a.ptr("table", rows * p.D * es);
  p.out = a.ptr("out", p.B * p.D * es);
  run(a, p, cpu::embedding, cuda::embedding);
  return info.Env().Undefined();
}

Napi::Value CfgCombine(const Napi::CallbackInfo& info) {
  OpArgs a(info, "cfgCombine");
  CfgCombineParams p{};
  p.dtype = a.dtype();
  p.B = a.i64("B"); p.C = a.i64("C"); p.S = a.i64("S"); p.guided = a.i64("guided");
  p.scale = a.f32("scale");
  const int64_t n = p.B * p.C * p.S * int64_t(dtype_size(p.dtype));
  p.cond = a.ptr("cond", n);
  p.uncond = a.ptr("uncond", n);
  p.out = a.ptr("out", n);
  run(a, p, cpu::cfg_combine, cuda::cfg_combine);
  return info.Env().Undefined();
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  OpArgs a(info, "cast");
  CastParams p{};
  p.src_dtype = a.dtype("srcDtype");
  p.dst_dtype = a.dtype("dstDtype");
  p.count = a.i64("count");
  p.src = a.ptr("src", p.count * int64_t(dtype_size(p.src_dtype)));
  p.dst = a.ptr("dst", p.count * int64_t(dtype_size(p.dst_dtype)));
  run(a, p, cpu::cast, cuda::cast);
  return info.Env().Undefined();
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  exports.Set("linear", Napi::Function::New<Linear>(env, "linear"));
  exports.Set("layerNormModulate", Napi::Function::New<LayerNormModulate>(env, "layerNormModulate"));
  exports.Set("gatedResidual", Napi::Function::New<GatedResidual>(env, "gatedResidual"));
  exports.Set("attention", Napi::Function::New<Attention>(env, "attention"));
  exports.Set("conv3d", Napi::Function::New<Conv3d>(env, "conv3d"));
  exports.Set("patchEmbed3d", Napi::Function::New<PatchEmbed3d>(env, "patchEmbed3d"));
  exports.Set("timestepEmbedding", Napi::Function::New<TimestepEmbedding>(env, "timestepEmbedding"));
  exports.Set("activation", Napi::Function::New<Unary>(env, "activation"));
  exports.Set("addRows", Napi::Function::New<AddRows>(env, "addRows"));
  exports.Set("unpatchify", Napi::Function::New<Unpatchify>(env, "unpatchify"));
  exports.Set("embedding", Napi::Function::New<Embedding>(env, "embedding"));
  exports.Set("cfgCombine", Napi::Function::New<CfgCombine>(env, "cfgCombine"));
  exports.Set("cast", Napi::Function::New<Cast>(env, "cast"));
  exports.Set("packLinearWeight", Napi::Function::New<PackLinearWeight>(env, "packLinearWeight"));
  exports.Set("packedWeightFloats", Napi::Function::New<PackedWeightFloats>(env, "packedWeightFloats"));
}

}  // namespace dit::addon
