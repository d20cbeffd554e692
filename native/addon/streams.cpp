// CUDA streams from JS: a model creates one, runs its forward with it as the current stream
// (cudaSetStream around a synchronous block), makes it wait for the default stream at entry and
// destroys it on dispose. See cuda/backend.h for what "current" covers.
#include "streams.h"

#include <limits>

#include "../cuda/backend.h"
#include "errors.h"

namespace dit::addon {

StreamId stream_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a stream id");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= double(std::numeric_limits<StreamId>::max())) || v != double(StreamId(v)))
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": invalid stream id");
  return StreamId(v);
}

namespace {

// cudaStreamCreate() -> id (0 when DIT_CUDA_STREAMS=shared)
Napi::Value StreamCreate(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(native_call(info.Env(), [] { return cuda::create_stream(); })));
}

// cudaStreamDestroy(id): waits for the stream's work (blocking; a model's dispose)
Napi::Value StreamDestroy(const Napi::CallbackInfo& info) {
  const StreamId id = stream_arg(info, 0, "cudaStreamDestroy");
  native_call(info.Env(), [&] { cuda::destroy_stream(id); });
  return info.Env().Undefined();
}

// cudaSetStream(id) -> the previous current stream of this thread
Napi::Value SetStream(const Napi::CallbackInfo& info) {
  const StreamId id = stream_arg(info, 0, "cudaSetStream");
  return Napi::Number::New(info.Env(), double(native_call(info.Env(), [&] { return cuda::set_current_stream(id); })));
}

// cudaWaitForStream(on): the current stream waits for the work queued so far on `on`
Napi::Value WaitForStream(const Napi::CallbackInfo& info) {
  const StreamId on = stream_arg(info, 0, "cudaWaitForStream");
  native_call(info.Env(), [&] { cuda::wait_for_stream(on); });
  return info.Env().Undefined();
}

}  // namespace

void order_after_other_streams(NativeBuffer* b) {
  if (b->device() != Device::Cuda) return;
  const StreamId current = cuda::current_stream_id();
  if (b->owner_stream() != current) cuda::wait_for_stream(b->owner_stream());
  for (StreamId s : b->other_streams()) {
    if (s != current) cuda::wait_for_stream(s);
  }
  b->note_stream(current);
}

void order_op_argument(NativeBuffer* b) {
  if (b->device() != Device::Cuda) return;
  // a model's stream already waited for stream 0 at the forward's entry; an op on stream 0 (the
  // user's) that touches a buffer a model's stream used is ordered after that stream's work
  if (cuda::current_stream_id() == 0 && (b->owner_stream() != 0 || !b->other_streams().empty())) {
    order_after_other_streams(b);
  } else {
    b->note_stream(cuda::current_stream_id());
  }
}

void RegisterStreams(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaStreamCreate", Napi::Function::New<StreamCreate>(env, "cudaStreamCreate"));
  exports.Set("cudaStreamDestroy", Napi::Function::New<StreamDestroy>(env, "cudaStreamDestroy"));
  exports.Set("cudaSetStream", Napi::Function::New<SetStream>(env, "cudaSetStream"));
  exports.Set("cudaWaitForStream", Napi::Function::New<WaitForStream>(env, "cudaWaitForStream"));
}

}  // namespace dit::addon
