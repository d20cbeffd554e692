// Module entry: buffers, host <-> device copies, the stream fence, backend info and the ops.
// Reads and fences resolve a Promise from a libuv worker that waits on the device's queue, so the
// JavaScript thread never blocks on compute.
#include <napi.h>

#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "../common/dtype.h"
#include "../cpu/allocator.h"
#include "../cpu/isa/kernels.h"
#include "../cpu/queue.h"
#include "../cpu/thread_pool.h"
#include "../cuda/device.h"
#include "buffer.h"
#include "errors.h"
#include "ops.h"

namespace dit::addon {

namespace {

// Waits (on a libuv worker) for a queue fence, then settles the promise; keeps `keep` alive.
class FenceWorker : public Napi::AsyncWorker {
 public:
  FenceWorker(Napi::Env env, std::future<std::string> fence, Napi::Value keep)
      : Napi::AsyncWorker(env, "dit-native:fence"), deferred_(Napi::Promise::Deferred::New(env)), fence_(std::move(fence)) {
    if (!keep.IsUndefined()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { error_ = fence_.get(); }
  void OnOK() override {
    if (error_.empty()) deferred_.Resolve(Env().Undefined());
    else deferred_.Reject(DitError(Env(), "ERR_DIT_NATIVE", error_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::future<std::string> fence_;
  std::string error_;
  Napi::ObjectReference keep_;
};

struct TypedArrayView {
  char* data;
  size_t bytes;
};

TypedArrayView view_of(Napi::Env env, const Napi::Value& v) {
  if (!v.IsTypedArray()) throw DitError(env, "ERR_DIT_NATIVE", "expected a TypedArray");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  return {static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
}

DType dtype_arg(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw DitError(env, "ERR_DIT_NATIVE", "expected a dtype code");
  int32_t d = v.As<Napi::Number>().Int32Value();
  if (d < 0 || d > int32_t(DType::I64)) throw DitError(env, "ERR_DIT_NATIVE", "invalid dtype code");
  return DType(d);
}

NativeBuffer* buffer_arg(Napi::Env env, const Napi::Value& v) {
  NativeBuffer* b = NativeBuffer::Unwrap(v);
  if (!b) throw DitError(env, "ERR_DIT_NATIVE", "expected a NativeBuffer");
  if (b->freed()) throw DitError(env, "ERR_DIT_DISPOSED", "the tensor's memory was already released");
  return b;
}

// upload(buffer, byteOffset, src: TypedArray, srcDtype, dstDtype, count): the data are copied
// now (the caller may change its array at once) and converted into the buffer in queue order,
// since a recycled buffer may still be read by queued work.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NativeBuffer* b = buffer_arg(env, info[0]);
  int64_t off = info[1].As<Napi::Number>().Int64Value();
  TypedArrayView src = view_of(env, info[2]);
  DType sd = dtype_arg(env, info[3]), dd = dtype_arg(env, info[4]);
  int64_t count = info[5].As<Napi::Number>().Int64Value();
  if (count < 0 || size_t(count) * dtype_size(sd) > src.bytes || off < 0 ||
      off + count * int64_t(dtype_size(dd)) > b->bytes())
    throw DitError(env, "ERR_DIT_NATIVE", "upload: sizes do not fit the buffers");
  auto staged = std::make_shared<std::vector<char>>(src.data, src.data + size_t(count) * dtype_size(sd));
  char* dst = b->data() + off;
  cpu::enqueue([staged, sd, dst, dd, count] { convert_elements(staged->data(), sd, dst, dd, count); });
  return env.Undefined();
}

// download(buffer, byteOffset, srcDtype, dst: TypedArray, dstDtype, count) -> Promise<void>,
// ordered after all work queued before it.
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NativeBuffer* b = buffer_arg(env, info[0]);
  int64_t off = info[1].As<Napi::Number>().Int64Value();
  DType sd = dtype_arg(env, info[2]);
  TypedArrayView dst = view_of(env, info[3]);
  DType dd = dtype_arg(env, info[4]);
  int64_t count = info[5].As<Napi::Number>().Int64Value();
  if (count < 0 || size_t(count) * dtype_size(dd) > dst.bytes || off < 0 ||
      off + count * int64_t(dtype_size(sd)) > b->bytes())
    throw DitError(env, "ERR_DIT_NATIVE", "download: sizes do not fit the buffers");
  const char* src = b->data() + off;
  char* out = dst.data;
  cpu::enqueue([src, sd, out, dd, count] { convert_elements(src, sd, out, dd, count); });
  auto* w = new FenceWorker(env, cpu::fence(), info[3]);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  auto* w = new FenceWorker(info.Env(), cpu::fence(), info.Env().Undefined());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("isa", cpu::cpu_kernels().isa);
  cpu.Set("threads", cpu::thread_count());
  out.Set("cpu", cpu);
  const cuda::CudaInfo& ci = cuda::cuda_info();
  Napi::Object cu = Napi::Object::New(env);
  cu.Set("compiled", ci.compiled);
  cu.Set("deviceCount", ci.device_count);
  cu.Set("error", ci.error.empty() ? env.Null() : Napi::String::New(env, ci.error));
  cu.Set("errorMessage", ci.error_message.empty() ? env.Null() : Napi::String::New(env, ci.error_message));
  cu.Set("driverVersion", ci.driver_version);
  cu.Set("runtimeVersion", ci.runtime_version);
  Napi::Array archs = Napi::Array::New(env, ci.architectures.size());
  for (size_t i = 0; i < ci.architectures.size(); i++) archs.Set(uint32_t(i), ci.architectures[i]);
  cu.Set("architectures", archs);
  Napi::Array devs = Napi::Array::New(env, ci.devices.size());
  for (size_t i = 0; i < ci.devices.size(); i++) {
    const cuda::DeviceInfo& d = ci.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("totalMemory", double(d.total_memory));
    o.Set("multiprocessors", d.multiprocessors);
    devs.Set(uint32_t(i), o);
  }
  cu.Set("devices", devs);
  out.Set("cuda", cu);
  return out;
}

Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const cpu::AllocatorStats s = cpu::allocator_stats();
  o.Set("cpuBytesInUse", double(s.bytes_in_use));
  o.Set("cpuBuffers", double(s.buffers));
  o.Set("cpuBytesCached", double(s.bytes_cached));
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeBuffer", NativeBuffer::Define(env));
  exports.Set("upload", Napi::Function::New<Upload>(env, "upload"));
  exports.Set("download", Napi::Function::New<Download>(env, "download"));
  exports.Set("sync", Napi::Function::New<Sync>(env, "sync"));
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("memoryStats", Napi::Function::New<MemoryStatsJs>(env, "memoryStats"));
  RegisterOps(env, exports);
  return exports;
}

}  // namespace dit::addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return dit::addon::Init(env, exports); }
NODE_API_MODULE(dit_native, InitModule)
