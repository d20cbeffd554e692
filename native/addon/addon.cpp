// Module entry: buffers, host <-> device copies, the stream fence, backend info and the ops.
// Reads and fences resolve a Promise without blocking the JavaScript thread: on the CPU the queue
// settles it when it gets there (cpu_waits.h); on CUDA a libuv worker waits for the stream.
#include <napi.h>

#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "../common/dtype.h"
#include "../cpu/allocator.h"
#include "../cpu/isa/kernels.h"
#include "../cpu/ops.h"
#include "../cpu/queue.h"
#include "../cpu/thread_pool.h"
#include "../cuda/backend.h"
#include "../cuda/device.h"
#include "buffer.h"
#include "cpu_waits.h"
#include "errors.h"
#include "ops.h"
#include "streams.h"

namespace dit::addon {

namespace {

// Runs `wait` on a libuv worker (never the JS thread), then settles the promise: resolved when
// it returns "", rejected with a DitError carrying the text otherwise. Keeps `keep` alive meanwhile.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::function<std::string()> wait, Napi::Value keep)
      : Napi::AsyncWorker(env, "dit-native:wait"), deferred_(Napi::Promise::Deferred::New(env)), wait_(std::move(wait)) {
    if (!keep.IsUndefined()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  static Napi::Promise Start(Napi::Env env, std::function<std::string()> wait, Napi::Value keep) {
    auto* w = new WaitWorker(env, std::move(wait), keep);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      error_ = wait_();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  void OnOK() override {
    try {
      if (error_.empty()) deferred_.Resolve(Env().Undefined());
      else deferred_.Reject(DitError(Env(), "ERR_DIT_NATIVE", error_).Value());
    } catch (const Napi::Error&) {
      // the environment is going away (a worker terminated while this wait ran): nobody can
      // observe the promise any more, and an exception escaping here would abort the process
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<std::string()> wait_;
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
// now (the caller may change its array at once) and land in the buffer in stream order, since a
// recycled buffer may still be read by queued work. On an idle CPU queue no queued work can touch
// the buffer, so the data are converted into it at once (no staging copy: a model load uploads
// gigabytes).
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
  char* dst = b->data() + off;
  if (b->device() == Device::Cpu) {
    if (cpu::queue_idle()) {
      cpu::convert(src.data, sd, dst, dd, count);
      return env.Undefined();
    }
    auto staged = std::make_shared<std::vector<char>>(src.data, src.data + size_t(count) * dtype_size(sd));
    cpu::enqueue([staged, sd, dst, dd, count] { cpu::convert(staged->data(), sd, dst, dd, count); });
  } else {
    std::vector<char> converted;
    const char* host = src.data;
    if (sd != dd) {  // convert on the host; same dtype goes straight from the JS array
      converted.resize(size_t(count) * dtype_size(dd));
      cpu::convert(src.data, sd, converted.data(), dd, count);
      host = converted.data();
    }
    native_call(env, [&] {
      order_after_other_streams(b);
      cuda::upload(dst, host, size_t(count) * dtype_size(dd));
    });
  }
  return env.Undefined();
}

// download(buffer, byteOffset, srcDtype, dst: TypedArray, dstDtype, count) -> Promise<void>,
// ordered after all work issued before it; the wait happens on a libuv worker.
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
  if (b->device() == Device::Cpu) {
    return settle_after_cpu_queue(env, info[3], [src, sd, out, dd, count] { cpu::convert(src, sd, out, dd, count); });
  }
  const size_t bytes = size_t(count) * dtype_size(sd);
  auto pending = native_call(env, [&] {
    order_after_other_streams(b);
    return cuda::begin_download(src, bytes);
  });
  // converted straight out of the pinned staging buffer into the JS array
  return WaitWorker::Start(env, [pending, out, sd, dd, count] {
    return pending([&](const void* host) { cpu::convert(static_cast<const char*>(host), sd, out, dd, count); });
  }, info[3]);
}

// sync(device, stream?) -> Promise<void>: resolves when the device has run everything issued
// before on that CUDA stream (no stream: on every stream; a destroyed one has nothing left).
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool cuda_device = info.Length() > 0 && info[0].IsNumber() && info[0].As<Napi::Number>().Int32Value() == int32_t(Device::Cuda);
  if (!cuda_device) return settle_after_cpu_queue(env, env.Undefined());
  if (info.Length() < 2 || info[1].IsUndefined()) return WaitWorker::Start(env, native_call(env, [] { return cuda::fence_all(); }), env.Undefined());
  const StreamId id = stream_arg(info, 1, "sync");
  return WaitWorker::Start(env, native_call(env, [id] { return cuda::fence_stream(id); }), env.Undefined());
}

// copy(dst, dstOffset, src, srcOffset, bytes): raw copy within or across devices, in the order of
// both devices' streams. Across devices the host waits for the source device first (a blocking
// step, like cudaMemcpy).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NativeBuffer* d = buffer_arg(env, info[0]);
  int64_t doff = info[1].As<Napi::Number>().Int64Value();
  NativeBuffer* s = buffer_arg(env, info[2]);
  int64_t soff = info[3].As<Napi::Number>().Int64Value();
  int64_t bytes = info[4].As<Napi::Number>().Int64Value();
  if (bytes < 0 || doff < 0 || soff < 0 || doff + bytes > d->bytes() || soff + bytes > s->bytes())
    throw DitError(env, "ERR_DIT_NATIVE", "copy: sizes do not fit the buffers");
  char* dst = d->data() + doff;
  const char* src = s->data() + soff;
  native_call(env, [&] {
    if (d->device() == Device::Cpu && s->device() == Device::Cpu) {
      cpu::enqueue([dst, src, bytes] { std::memmove(dst, src, size_t(bytes)); });
    } else if (d->device() == Device::Cuda && s->device() == Device::Cuda) {
      order_after_other_streams(d);
      order_after_other_streams(s);
      cuda::copy_device_to_device(dst, src, size_t(bytes));
    } else if (d->device() == Device::Cuda) {
      const std::string err = cpu::fence().get();
      if (!err.empty()) throw std::runtime_error(err);
      order_after_other_streams(d);
      cuda::upload(dst, src, size_t(bytes));
    } else {
      order_after_other_streams(s);
      auto staged = std::make_shared<std::vector<char>>(size_t(bytes));
      const std::string err = cuda::begin_download(src, size_t(bytes))([&](const void* host) { std::memcpy(staged->data(), host, staged->size()); });
      if (!err.empty()) throw std::runtime_error(err);
      cpu::enqueue([dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
    }
  }, "copy: ");
  return env.Undefined();
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

// CUDA benchmark timing (lib/bench.ts): cudaTimer() -> id; cudaElapsed(start, end) -> ms;
// cudaBusyWait(microseconds)
Napi::Value CudaTimer(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(native_call(info.Env(), [] { return cuda::timer_record(); })));
}

Napi::Value CudaElapsed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "cudaElapsed(start, end): two timer ids");
  const int64_t start = info[0].As<Napi::Number>().Int64Value(), end = info[1].As<Napi::Number>().Int64Value();
  return Napi::Number::New(env, native_call(env, [&] { return cuda::timer_elapsed_ms(start, end); }));
}

Napi::Value CudaBusyWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "cudaBusyWait(microseconds)");
  const double us = info[0].As<Napi::Number>().DoubleValue();
  if (!(us >= 0 && us <= 10e6)) throw Napi::RangeError::New(env, "cudaBusyWait: microseconds must be in [0, 1e7]");
  native_call(env, [&] { cuda::busy_wait(us); });
  return env.Undefined();
}

Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const cpu::AllocatorStats s = cpu::allocator_stats();
  o.Set("cpuBytesInUse", double(s.bytes_in_use));
  o.Set("cpuBuffers", double(s.buffers));
  o.Set("cpuBytesCached", double(s.bytes_cached));
  o.Set("cpuQueued", double(cpu::queue_depth()));
  const cuda::DeviceMemoryStats g = cuda::device_memory_stats();
  o.Set("cudaBytesInUse", double(g.bytes_in_use));
  o.Set("cudaBuffers", double(g.buffers));
  o.Set("cudaBytesCached", double(g.bytes_cached));
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeBuffer", NativeBuffer::Define(env));
  exports.Set("upload", Napi::Function::New<Upload>(env, "upload"));
  exports.Set("download", Napi::Function::New<Download>(env, "download"));
  exports.Set("sync", Napi::Function::New<Sync>(env, "sync"));
  exports.Set("copy", Napi::Function::New<Copy>(env, "copy"));
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("memoryStats", Napi::Function::New<MemoryStatsJs>(env, "memoryStats"));
  exports.Set("cudaTimer", Napi::Function::New<CudaTimer>(env, "cudaTimer"));
  exports.Set("cudaElapsed", Napi::Function::New<CudaElapsed>(env, "cudaElapsed"));
  exports.Set("cudaBusyWait", Napi::Function::New<CudaBusyWait>(env, "cudaBusyWait"));
  RegisterOps(env, exports);
  RegisterStreams(env, exports);
  return exports;
}

}  // namespace dit::addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return dit::addon::Init(env, exports); }
NODE_API_MODULE(dit_native, InitModule)
