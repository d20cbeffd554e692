#include "buffer.h"

#include "../cpu/allocator.h"
#include "../cpu/queue.h"
#include "../cuda/backend.h"
#include "../cuda/device.h"
#include "errors.h"

namespace dit::addon {

// The class constructor is per environment (instance data), so the addon works from several
// worker_threads at once: each has its own NativeBuffer class.
Napi::Function NativeBuffer::Define(Napi::Env env) {
  Napi::Function fn = DefineClass(env, "NativeBuffer",
                                  {InstanceMethod<&NativeBuffer::Free>("free"),
                                   InstanceAccessor<&NativeBuffer::Bytes>("bytes"),
                                   InstanceAccessor<&NativeBuffer::DeviceName>("device")});
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(fn)));
  return fn;
}

// new NativeBuffer(device: 0 | 1, bytes: number)
NativeBuffer::NativeBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeBuffer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw DitError(env, "ERR_DIT_NATIVE", "NativeBuffer(device, bytes): expected two numbers");
  }
  int32_t dev = info[0].As<Napi::Number>().Int32Value();
  double bytes = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0) || bytes > 9.0e15) {
    throw DitError(env, "ERR_DIT_NATIVE", "NativeBuffer: invalid byte size");
  }
  if (dev != int32_t(Device::Cpu) && dev != int32_t(Device::Cuda)) throw DitError(env, "ERR_DIT_NATIVE", "NativeBuffer: unknown device");
  device_ = Device(dev);
  bytes_ = int64_t(bytes);
  if (device_ == Device::Cpu) {
    data_ = static_cast<char*>(cpu::cached_alloc(size_t(bytes_), &capacity_));
    if (!data_) throw DitError(env, "ERR_DIT_OOM", "out of host memory allocating " + std::to_string(bytes_) + " bytes");
  } else {
    try {
      owner_ = cuda::current_stream_id();
      data_ = static_cast<char*>(cuda::device_alloc(size_t(bytes_), &capacity_));
    } catch (const std::exception& e) {
      // no usable GPU, or an earlier asynchronous fault that left the context unusable
      throw DitError(env, cuda::cuda_info().devices.empty() ? "ERR_DIT_CUDA_UNAVAILABLE" : "ERR_DIT_NATIVE", e.what());
    }
    if (!data_) {
      throw DitError(env, "ERR_DIT_OOM", "out of GPU memory allocating " + std::to_string(bytes_) +
                                             " bytes (cudaErrorMemoryAllocation); the allocator stays usable");
    }
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes_);  // lets V8 weigh what JS objects hold
}

// A buffer collected by the GC without free(): give back its weight in V8's external memory too.
NativeBuffer::~NativeBuffer() {
  if (data_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -bytes_);
  release();
}

void NativeBuffer::release() {
  if (!data_) return;
  char* p = data_;
  size_t n = size_t(bytes_), cap = capacity_;
  data_ = nullptr;
  // stream-ordered reuse: see cpu/allocator.h and cuda/allocator.cu
  if (device_ == Device::Cpu) cpu::cached_free(p, cap, n);
  else cuda::device_free(p, cap, n, owner_, others_);
}

Napi::Value NativeBuffer::Free(const Napi::CallbackInfo& info) {
  if (data_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -bytes_);
  release();
  return info.Env().Undefined();
}

Napi::Value NativeBuffer::Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes_)); }

Napi::Value NativeBuffer::DeviceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), device_ == Device::Cpu ? "cpu" : "cuda");
}

NativeBuffer* NativeBuffer::Unwrap(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::FunctionReference* constructor = v.Env().GetInstanceData<Napi::FunctionReference>();
  if (!constructor) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.InstanceOf(constructor->Value())) return nullptr;
  return Napi::ObjectWrap<NativeBuffer>::Unwrap(o);
}

}  // namespace dit::addon
