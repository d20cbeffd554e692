#include "thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "spin.h"

namespace dit::cpu {

namespace {

// Workers wait for a job by spinning before they block on the condition variable (spin.h; a
// 512-row layerNormModulate took 71 us with blocking waits, about half of it the wake-up, and
// 34-61 us with spinning). The caller waits for the workers the same way. Blocking is
// Dekker-style: a waiter announces itself (sleepers_) and re-checks under the mutex; a publisher
// bumps the counter, then notifies only if someone announced.
class ThreadPool {
 public:
  explicit ThreadPool(int n) : n_threads_(n) {
    for (int i = 1; i < n; i++) workers_.emplace_back([this, i] { worker_loop(i); });
    for (auto& w : workers_) w.detach();  // lives for the whole process; never joined at exit
  }

  int size() const { return n_threads_; }

  void run(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
      for (int64_t t = 0; t < n_tasks; t++) fn(t, 0);
      return;
    }
    fn_ = &fn;
    n_tasks_ = n_tasks;
    next_.store(0);
    active_.store(n_threads_ - 1);
    error_ = nullptr;
    generation_.fetch_add(1);  // publishes the job (seq_cst: ordered before the sleepers_ read)
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    work(0);
    wait_until([this] { return active_.load() == 0; }, done_cv_, done_sleepers_);
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Spins (spin.h), then blocks on cv until ready() holds.
  template <typename Ready>
  void wait_until(const Ready& ready, std::condition_variable& cv, std::atomic<int>& sleepers) {
    if (spin_until(ready)) return;
    std::unique_lock<std::mutex> lock(mu_);
    sleepers.fetch_add(1);
    cv.wait(lock, ready);
    sleepers.fetch_sub(1);
  }

  void work(int thread) {
    for (;;) {
      int64_t t = next_.fetch_add(1);
      if (t >= n_tasks_) break;
      try {
        (*fn_)(t, thread);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_tasks_);
      }
    }
  }

  void worker_loop(int thread) {
    uint64_t seen = 0;
    for (;;) {
      wait_until([&] { return generation_.load() != seen; }, cv_, sleepers_);
      seen = generation_.load();
      work(thread);
      if (active_.fetch_sub(1) == 1 && done_sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_one();
      }
    }
  }

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  // written by run() before generation_ is bumped, read by workers after they see the bump
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::exception_ptr error_;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0}, sleepers_{0}, done_sleepers_{0};
  std::atomic<uint64_t> generation_{0};
};

ThreadPool& pool() {
  // DIT_NUM_THREADS overrides the core count (for benchmarks and tests); leaked on purpose.
  static ThreadPool* p = [] {
    int n = int(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("DIT_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    return new ThreadPool(n < 1 ? 1 : (n > 256 ? 256 : n));
  }();
  return *p;
}

}  // namespace

int thread_count() { return pool().size(); }

void parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) { pool().run(n_tasks, fn); }

}  // namespace dit::cpu
