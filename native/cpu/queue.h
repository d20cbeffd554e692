// The CPU backend's stream: one executor thread runs enqueued work in order, off the JavaScript
// thread, the way a CUDA stream runs kernels. Ops, frees and reads are all enqueued, so a buffer
// freed from JS is released only after the work already queued on it has run.
#pragma once
#include <functional>
#include <cstddef>
#include <future>
#include <string>

namespace dit::cpu {

// Blocks (back-pressure) while 1024 items wait, until half have run, unless called from the
// executor itself.
void enqueue(std::function<void()> work);

// Items enqueued and not yet started.
size_t queue_depth();

// Whether nothing is queued or running: work the caller enqueues after this returns true is the
// only work that can touch a buffer the caller owns (uploads then write it at once, unstaged).
bool queue_idle();

// A marker placed after everything enqueued so far. The future becomes ready when the executor
// reaches it, holding the first error raised by queued work since the previous fence ("" if none).
std::future<std::string> fence();

// The same marker with a callback instead of a future: `reached` runs on the executor when it gets
// there, with that error, before the marker counts as finished (a waiter needs no thread of its own).
void fence_then(std::function<void(std::string)> reached);

}  // namespace dit::cpu
