#include "queue.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

namespace dit::cpu {

namespace {

class Queue {
 public:
  Queue() { std::thread([this] { loop(); }).detach(); }  // process-lifetime executor

  void push(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(std::move(work));
    }
    cv_.notify_one();
  }

  std::future<std::string> fence() {
    auto done = std::make_shared<std::promise<std::string>>();
    std::future<std::string> result = done->get_future();
    push([this, done] {
      std::string err;
      {
        std::lock_guard<std::mutex> lock(mu_);
        err.swap(error_);
      }
      done->set_value(err);
    });
    return result;
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !items_.empty(); });
        work = std::move(items_.front());
        items_.pop_front();
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
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> items_;
  std::string error_;
};

Queue& queue() {
  static Queue* q = new Queue();  // leaked: the executor outlives static destruction
  return *q;
}

}  // namespace

void enqueue(std::function<void()> work) { queue().push(std::move(work)); }

std::future<std::string> fence() { return queue().fence(); }

}  // namespace dit::cpu
