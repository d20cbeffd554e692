// Reading an op's argument object: lib/ has validated shapes and dtypes, so these checks are the
// cheap second line (buffer alive, same device, extent inside the buffer), never the user's error.
#pragma once
#include <napi.h>

#include <string>

#include "../common/dtype.h"
#include "buffer.h"
#include "errors.h"
#include "streams.h"

namespace dit::addon {

class OpArgs {
 public:
  OpArgs(const Napi::CallbackInfo& info, const char* op) : env_(info.Env()), op_(op) {
    if (info.Length() < 1 || !info[0].IsObject()) fail("expected an argument object");
    obj_ = info[0].As<Napi::Object>();
  }

  int64_t i64(const char* name) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsNumber()) fail(std::string("field ") + name + " must be a number");
    return v.As<Napi::Number>().Int64Value();
  }
  float f32(const char* name) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsNumber()) fail(std::string("field ") + name + " must be a number");
    return v.As<Napi::Number>().FloatValue();
  }
  bool flag(const char* name) const { return obj_.Get(name).ToBoolean().Value(); }
  DType dtype(const char* name = "dtype") const {
    int64_t d = i64(name);
    if (d < 0 || d > int64_t(DType::I64)) fail("invalid dtype code");
    return DType(d);
  }

  // Pointer to field `name` (a NativeBuffer) plus `<name>Offset` bytes; checks that `extent`
  // bytes from there lie inside the buffer. Optional fields may be null/undefined (nullptr).
  void* ptr(const char* name, int64_t extent, bool optional = false) {
    Napi::Value v = obj_.Get(name);
    if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
    NativeBuffer* b = NativeBuffer::Unwrap(v);
    if (!b) fail(std::string("field ") + name + " must be a NativeBuffer");
    if (b->freed()) throw DitError(env_, "ERR_DIT_DISPOSED", std::string(op_) + ": " + name + " was disposed");
    if (has_device_ && b->device() != device_) fail(std::string("field ") + name + " is on another device");
    device_ = b->device();
    has_device_ = true;
    try {
      order_op_argument(b);
    } catch (const std::exception& e) {
      fail(std::string("field ") + name + ": " + e.what());
    }
    std::string off_name = std::string(name) + "Offset";
    Napi::Value ov = obj_.Get(off_name);
    int64_t off = ov.IsNumber() ? ov.As<Napi::Number>().Int64Value() : 0;
    if (off < 0 || extent < 0 || off + extent > b->bytes())
      fail(std::string("field ") + name + ": " + std::to_string(extent) + " bytes at offset " + std::to_string(off) +
           " exceed the buffer's " + std::to_string(b->bytes()));
    return b->data() + off;
  }

  Device device() const { return device_; }
  Napi::Env env() const { return env_; }
  const char* op() const { return op_; }

  [[noreturn]] void fail(const std::string& msg) const {
    throw DitError(env_, "ERR_DIT_NATIVE", std::string(op_) + ": " + msg);
  }

 private:
  Napi::Env env_;
  const char* op_;
  Napi::Object obj_;
  Device device_ = Device::Cpu;
  bool has_device_ = false;
};

}  // namespace dit::addon
