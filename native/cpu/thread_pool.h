// A fixed pool of worker threads for data-parallel loops. The calling thread (the CPU queue's
// executor) takes part, so a pool of N uses N cores. One job runs at a time.
#pragma once
#include <cstdint>
#include <functional>

namespace dit::cpu {

int thread_count();

// Runs fn(task, thread) for task in [0, n_tasks), spread over the pool; returns when all finished.
// thread is in [0, thread_count()), usable to index per-thread scratch.
void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

}  // namespace dit::cpu
