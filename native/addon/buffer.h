// NativeBuffer: device memory owned by a JS object. free() (or the GC finalizer, as a safety net)
// releases it in stream order: after the work already queued on it.
#pragma once
#include <napi.h>

#include <cstdint>

namespace dit::addon {

enum class Device : int32_t { Cpu = 0, Cuda = 1 };

class NativeBuffer : public Napi::ObjectWrap<NativeBuffer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeBuffer(const Napi::CallbackInfo& info);
  ~NativeBuffer() override;

  Device device() const { return device_; }
  char* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  bool freed() const { return data_ == nullptr; }

  static NativeBuffer* Unwrap(const Napi::Value& v);  // nullptr when v is not a NativeBuffer

 private:
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  void release();

  Device device_ = Device::Cpu;
  char* data_ = nullptr;
  int64_t bytes_ = 0;
  size_t capacity_ = 0;
};

}  // namespace dit::addon
