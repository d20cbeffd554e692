#pragma once
#include <napi.h>

#include "buffer.h"

namespace dit::addon {

void RegisterStreams(Napi::Env env, Napi::Object exports);

// Before a copy into or out of `b` on the current stream: waits for every other stream that has
// used it (a model's output is read on the default stream after the model's stream wrote it).
// Throws std::runtime_error on CUDA errors (call inside native_call).
void order_after_other_streams(NativeBuffer* b);

// For each buffer an op reads or writes: notes the current stream on it, and on stream 0 also
// waits for the other streams that used it (as above). Throws like it.
void order_op_argument(NativeBuffer* b);

// Argument `i` of a JS call as a stream id (a TypeError / RangeError otherwise).
StreamId stream_arg(const Napi::CallbackInfo& info, size_t i, const char* fn);

}  // namespace dit::addon
