#include "queue.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "spin.h"

namespace dit::cpu {

namespace {

// Back-pressure, as a CUDA stream's launch queue has: a thread that enqueues while this many items
// wait blocks until half of them have run. Synchronous ops return at once, so a loop of them would
// otherwise queue without bound, and with them the memory of every output not yet computed. A DiT
// forward enqueues about 10 items per block, far below this.
constexpr size_t kMaxPending = 1024;

thread_local bool on_executor = false;  // the executor's own pushes (frees inside work) never wait

class Queue {
 public:
  Queue() { std::thread([this] { loop(); }).detach(); }  // process-lifetime executor

  void push(std::function<void()> work) {
    bool sleeping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (items_.size() >= kMaxPending && !on_executor) {
        producers_waiting_++;
        room_.wait(lock, [this] { return items_.size() <= kMaxPending / 2; });
        producers_waiting_--;
      }
      items_.push_back(std::move(work));
      pending_.fetch_add(1);
      unfinished_.fetch_add(1);
      sleeping = sleeping_;
    }
    // a spinning (or busy) executor finds the item itself: no wake-up system call per op
    if (sleeping) cv_.notify_one();
  }

  void fence_then(std::function<void(std::string)> reached) {
    push([this, reached = std::move(reached)] {
      std::string err;
      {
        std::lock_guard<std::mutex> lock(mu_);
        err.swap(error_);
      }
      reached(std::move(err));
    });
  }

  size_t depth() { return pending_.load(); }
  // acquire (seq_cst): what finished work wrote or read is ordered before the caller's next step.
  // A fence's promise is kept inside its item, just before the item counts as finished: right
  // after a wait the queue may still read busy for a moment (an upload then stages; correct).
  bool idle() { return unfinished_.load() == 0; }

 private:
  void loop() {
    on_executor = true;
    for (;;) {
      std::function<void()> work;
      spin_until([this] { return pending_.load() > 0; });
      {
        std::unique_lock<std::mutex> lock(mu_);
        sleeping_ = true;  // read by push() under the same lock: no wake-up is lost
        cv_.wait(lock, [this] { return !items_.empty(); });
        sleeping_ = false;
        work = std::move(items_.front());
        items_.pop_front();
        pending_.fetch_sub(1);
        if (producers_waiting_ > 0 && items_.size() <= kMaxPending / 2) room_.notify_all();
      }
      std::string failure;
      try {
        work();
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "unknown native error";
      }
      if (!failure.empty()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (error_.empty()) error_ = failure;
      }
      work = nullptr;  // its captures (buffers held for the work) released before it counts as done
      unfinished_.fetch_sub(1);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable room_;  // producers blocked by back-pressure
  int producers_waiting_ = 0;
  std::deque<std::function<void()>> items_;
  std::atomic<size_t> pending_{0};  // items_.size(), readable without the lock (the spin)
  std::atomic<size_t> unfinished_{0};  // pushed and not yet finished (queued or running)
  bool sleeping_ = false;           // the executor is blocked in cv_.wait
  std::string error_;
};

Queue& queue() {
  static Queue* q = new Queue();  // leaked: the executor outlives static destruction
  return *q;
}

}  // namespace

void enqueue(std::function<void()> work) { queue().push(std::move(work)); }

void fence_then(std::function<void(std::string)> reached) { queue().fence_then(std::move(reached)); }

std::future<std::string> fence() {
  auto done = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = done->get_future();
  fence_then([done](std::string err) { done->set_value(std::move(err)); });
  return result;
}

size_t queue_depth() { return queue().depth(); }

bool queue_idle() { return queue().idle(); }

}  // namespace dit::cpu
