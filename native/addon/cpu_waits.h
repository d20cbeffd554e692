// Promises settled by the CPU queue itself: a read or a fence enqueues a marker whose callback, on
// the queue's executor, hands the result to the JavaScript thread through a thread-safe function.
// No libuv worker waits meanwhile. (Each pending read used to block one of the 4 threads of Node's
// pool until the queue got there, which starved fs, dns, zlib and crypto while a model ran, and
// made process.exit wait for the whole queue.)
#pragma once
#include <napi.h>

#include <functional>

namespace dit::addon {

// A promise resolved once the CPU queue has run everything enqueued before this call (and then
// `write_into_keep`, when given), or rejected with a DitError carrying the first error raised by
// that work. `keep` (an object, or undefined) stays referenced until then: the typed array a
// download writes into. `write_into_keep` runs on the queue's executor only while this
// environment lives: a worker can be terminated, and its memory freed, with the write still queued.
Napi::Promise settle_after_cpu_queue(Napi::Env env, Napi::Value keep, std::function<void()> write_into_keep = nullptr);

}  // namespace dit::addon
