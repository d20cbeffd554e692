// Free lists of device blocks for several streams (the CUDA caching allocator's policy, kept free
// of CUDA so that it can be tested without a GPU: native/test/stream_cache_check.cpp).
//
// The rule (PyTorch's): a block belongs to the stream it was allocated on and is handed out again
// only to allocations on that stream, where stream order makes reuse safe. A block that other
// streams have also used is not reusable at once when freed: an event is recorded on each of those
// streams, and the block joins its pool only when they have all completed. A retired stream
// (synchronised by the caller first) gives its pool to stream 0, the default stream.
//
// `Events` supplies the events: `using Event`; `Event record(StreamId)` (an event after the work
// queued so far on that stream); `bool done(const Event&)` (non-blocking); `void release(Event)`.
// Thread-safe; the events are recorded and queried under the lock.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "block_cache.h"

namespace dit {

using StreamId = uint32_t;

template <typename Events>
class StreamBlockCache {
 public:
  using Event = typename Events::Event;
  struct Stats {
    int64_t bytes_in_use, buffers, bytes_cached, blocks_pending;
  };

  explicit StreamBlockCache(Events events = Events()) : events_(std::move(events)) { live_.insert(0); }

  // A cached block of class `cls` for stream `s` (accounted as `bytes` in use), or nullptr.
  void* reuse(StreamId s, size_t cls, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    collect_locked();
    void* p = pop_free_block(free_, std::pair<StreamId, size_t>(s, cls));
    if (p) n_.reused(cls, bytes);
    return p;
  }

  // Accounts a freshly allocated block.
  void adopt(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    n_.adopted(bytes);
  }

  // Takes a block back: `owner` is the stream it was allocated on, `used` every stream that has
  // used it (the owner may be among them).
  void give_back(void* p, size_t cls, size_t bytes, StreamId owner, const std::vector<StreamId>& used) {
    std::lock_guard<std::mutex> lock(mu_);
    n_.returned(cls, bytes);
    const StreamId pool = live_.count(owner) ? owner : 0;
    Pending pending{p, cls, pool, {}};
    for (StreamId u : used) {
      // the pool's own stream orders the reuse; a retired stream was synchronised
      if (u != pool && live_.count(u)) pending.waits.push_back(events_.record(u));
    }
    if (pending.waits.empty()) free_[{pool, cls}].push_back(p);
    else pending_.push_back(std::move(pending));
  }

  // Registers a new stream id (ids are never reused).
  void add_stream(StreamId s) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.insert(s);
  }

  // Stream `s` ends; the caller has synchronised it, so its blocks are idle: they go to stream 0.
  void retire_stream(StreamId s) {
    if (s == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(s);
    for (auto it = free_.lower_bound({s, 0}); it != free_.end() && it->first.first == s;) {
      auto& dst = free_[{0, it->first.second}];
      dst.insert(dst.end(), it->second.begin(), it->second.end());
      it = free_.erase(it);
    }
    for (Pending& q : pending_) {
      if (q.pool == s) q.pool = 0;
    }
    collect_locked();
  }

  // Empties the cache; the caller has synchronised the device (every event is complete) and
  // releases the returned blocks.
  std::vector<void*> drain() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<void*> all;
    for (auto& [key, blocks] : free_) all.insert(all.end(), blocks.begin(), blocks.end());
    free_.clear();
    for (Pending& q : pending_) {
      for (Event& e : q.waits) events_.release(std::move(e));
      all.push_back(q.p);
    }
    pending_.clear();
    n_.cached = 0;
    return all;
  }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {n_.in_use, n_.buffers, n_.cached, int64_t(pending_.size())};
  }

 private:
  struct Pending {
    void* p;
    size_t cls;
    StreamId pool;
    std::vector<Event> waits;
  };

  // Moves the pending blocks whose events have all completed into their pools.
  void collect_locked() {
    for (size_t i = 0; i < pending_.size();) {
      Pending& q = pending_[i];
      bool all_done = true;
      for (const Event& e : q.waits) all_done = all_done && events_.done(e);
      if (!all_done) {
        ++i;
        continue;
      }
      for (Event& e : q.waits) events_.release(std::move(e));
      free_[{q.pool, q.cls}].push_back(q.p);
      pending_[i] = std::move(pending_.back());
      pending_.pop_back();
    }
  }

  Events events_;
  std::mutex mu_;
  std::map<std::pair<StreamId, size_t>, std::vector<void*>> free_;  // (stream, size class) -> blocks
  std::vector<Pending> pending_;
  std::set<StreamId> live_;
  BlockCounters n_;
};

}  // namespace dit
