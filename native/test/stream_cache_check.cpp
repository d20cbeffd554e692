// Checks StreamBlockCache (common/stream_block_cache.h), the CUDA allocator's reuse policy across
// streams, with simulated events: no GPU needed, so it runs in CI. Each case states the rule it
// checks; a failure prints it and the process exits 1.
#include <cstdio>
#include <memory>
#include <vector>

#include "../common/stream_block_cache.h"

namespace {

// An event is a flag that "the stream's work up to the record" sets when the test completes it.
struct FakeEvents {
  using Event = std::shared_ptr<bool>;
  struct Log {
    std::vector<std::pair<dit::StreamId, Event>> recorded;
    int released = 0;
  };
  std::shared_ptr<Log> log = std::make_shared<Log>();

  Event record(dit::StreamId s) {
    auto e = std::make_shared<bool>(false);
    log->recorded.push_back({s, e});
    return e;
  }
  bool done(const Event& e) { return *e; }
  void release(Event) { log->released++; }
};

// the stream's work so far completes: every event recorded on it is done
void complete(FakeEvents::Log& log, dit::StreamId s) {
  for (auto& [stream, e] : log.recorded)
    if (stream == s) *e = true;
}

int failures = 0;
void expect(bool ok, const char* rule) {
  if (!ok) {
    std::printf("FAIL: %s\n", rule);
    failures++;
  }
}

char blocks[8][16];  // distinct addresses to hand around

}  // namespace

int main() {
  using Cache = dit::StreamBlockCache<FakeEvents>;
  {
    Cache c;
    c.add_stream(1);
    c.adopt(100);
    c.give_back(blocks[0], 512, 100, 1, {});
    expect(c.reuse(0, 512, 100) == nullptr, "a block used only on stream 1 is not handed to stream 0");
    expect(c.reuse(1, 1024, 100) == nullptr, "a block is handed out only for its own size class");
    expect(c.reuse(1, 512, 100) == blocks[0], "a block used only on its own stream is reusable there at once");
    const auto s = c.stats();
    expect(s.bytes_in_use == 100 && s.buffers == 1 && s.bytes_cached == 0, "reuse accounts the block as in use again");
  }
  {
    FakeEvents ev;
    auto log = ev.log;
    Cache c(ev);
    c.add_stream(1);
    c.add_stream(2);
    c.adopt(100);
    c.give_back(blocks[1], 512, 100, 1, {2});
    expect(log->recorded.size() == 1 && log->recorded[0].first == 2, "freeing a block stream 2 used records an event on stream 2 only");
    expect(c.stats().blocks_pending == 1 && c.stats().bytes_cached == 512, "the block waits, counted as cached");
    expect(c.reuse(1, 512, 100) == nullptr, "not reused on its stream while stream 2 may still use it");
    complete(*log, 1);
    expect(c.reuse(1, 512, 100) == nullptr, "its own stream finishing is not enough");
    complete(*log, 2);
    expect(c.reuse(2, 512, 100) == nullptr, "once free, it goes to its owner's pool, not to the other stream's");
    expect(c.reuse(1, 512, 100) == blocks[1], "reused on its stream once stream 2's work is done");
    expect(log->released == 1, "the event is released when the block is collected");
  }
  {
    FakeEvents ev;
    auto log = ev.log;
    Cache c(ev);
    c.add_stream(3);
    c.adopt(10);
    c.give_back(blocks[2], 512, 10, 0, {0, 3});
    expect(log->recorded.size() == 1 && log->recorded[0].first == 3, "no event on the owner's own stream (stream order covers it)");
    complete(*log, 3);
    expect(c.reuse(0, 512, 10) == blocks[2], "a default-stream block comes back to stream 0");
  }
  {
    FakeEvents ev;
    auto log = ev.log;
    Cache c(ev);
    c.add_stream(4);
    c.add_stream(5);
    c.adopt(1);
    c.adopt(1);
    c.adopt(1);
    c.give_back(blocks[3], 512, 1, 4, {});   // idle in stream 4's pool
    c.give_back(blocks[4], 512, 1, 4, {5});  // waiting for stream 5
    c.retire_stream(4);                      // the caller synchronised stream 4
    expect(c.reuse(0, 512, 1) == blocks[3], "a retired stream's pool goes to stream 0");
    expect(c.reuse(0, 512, 1) == nullptr, "a block still waiting for stream 5 stays pending after the retire");
    complete(*log, 5);
    expect(c.reuse(0, 512, 1) == blocks[4], "then it goes to stream 0 as well");
    const size_t events_before = log->recorded.size();
    c.give_back(blocks[5], 512, 1, 4, {4});  // owned by the retired stream, freed afterwards
    expect(log->recorded.size() == events_before, "no event on a retired stream (it was synchronised)");
    expect(c.reuse(0, 512, 1) == blocks[5], "a retired stream's block freed later goes to stream 0 at once");
  }
  {
    FakeEvents ev;
    auto log = ev.log;
    Cache c(ev);
    c.add_stream(6);
    for (int i = 0; i < 3; i++) c.adopt(7);
    c.give_back(blocks[6], 512, 7, 6, {});
    c.give_back(blocks[7], 2048, 7, 6, {0});
    c.give_back(blocks[0], 512, 7, 0, {});
    std::vector<void*> all = c.drain();
    expect(all.size() == 3, "drain returns every cached block, pending ones included");
    const auto s = c.stats();
    expect(s.bytes_cached == 0 && s.blocks_pending == 0 && s.buffers == 0 && s.bytes_in_use == 0, "drain leaves nothing cached");
    expect(log->released == 1, "drain releases the pending block's event");
    expect(c.reuse(6, 512, 7) == nullptr, "nothing to reuse after a drain");
  }
  if (failures) return 1;
  std::printf("stream cache: all rules hold\n");
  return 0;
}
