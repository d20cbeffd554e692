// Waiting for another thread's next step without paying a wake-up: spin, yielding the core to
// any other runnable thread, for a short budget; callers block on their condition variable only
// after it runs out. A forward is a chain of small steps a few microseconds apart, and waking a
// thread blocked on a condition variable costs tens of microseconds (thread_pool.cpp, queue.cpp).
#pragma once
#include <chrono>
#include <thread>

namespace dit::cpu {

constexpr std::chrono::microseconds kSpinBudget{200};

// True once ready() holds, false when the budget ran out first.
template <typename Ready>
bool spin_until(const Ready& ready) {
  const auto until = std::chrono::steady_clock::now() + kSpinBudget;
  for (int spin = 1;; spin++) {
    if (ready()) return true;
    if (spin % 64 == 0 && std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
}

}  // namespace dit::cpu
