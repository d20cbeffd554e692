// The CPU backend's stream: one executor thread runs enqueued work in order, off the JavaScript
// thread, the way a CUDA stream runs kernels. Ops, frees and reads are all enqueued, so a buffer
// freed from JS is released only after the work already queued on it has run.
#pragma once
#include <functional>
#include <future>
#include <string>

namespace dit::cpu {

void enqueue(std::function<void()> work);

// A marker placed after everything enqueued so far. The future becomes ready when the executor
// reaches it, holding the first error raised by queued work since the previous fence ("" if none).
std::future<std::string> fence();

}  // namespace dit::cpu
