// NativeBuffer: device memory owned by a JS object. free() (or the GC finalizer, as a safety net)
// releases it in stream order: after the work already queued on it, on every stream that used it.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "../common/stream_block_cache.h"

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

  // CUDA streams: the one the buffer was allocated on, and the others that have used it (the
  // allocator defers reuse until their work is done; reads wait for them)
  StreamId owner_stream() const { return owner_; }
  const std::vector<StreamId>& other_streams() const { return others_; }
  void note_stream(StreamId s) {
    if (s == owner_ || device_ != Device::Cuda) return;
    for (StreamId o : others_) {
      if (o == s) return;
    }
    others_.push_back(s);
  }

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
  StreamId owner_ = 0;
  std::vector<StreamId> others_;
};

}  // namespace dit::addon
