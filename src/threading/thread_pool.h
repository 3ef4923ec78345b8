// A persistent pool of worker threads. ParallelFor splits [0, n) into chunks and
// runs them on the pool plus the calling thread; no thread is created per call.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace gemma {

class ThreadPool {
 public:
  // num_threads counts the calling thread: 1 means no workers, everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls body(begin, end, thread_index) over disjoint ranges covering [0, n),
  // each range a multiple of `grain` except possibly the last. Blocks until all
  // ranges are done. thread_index < num_threads(), so callers can keep
  // per-thread scratch. Not reentrant: body must not call ParallelFor.
  void ParallelFor(size_t n, size_t grain,
                   const std::function<void(size_t begin, size_t end, int thread_index)>& body);

 private:
  struct Shared;
  int num_threads_;
  std::unique_ptr<Shared> shared_;
};

// fn(i) for every i < n, the indices split across the pool (a model's
// per-token loops: norms, activations, residual adds).
template <class Fn>
void ForEachIndex(ThreadPool& pool, int n, const Fn& fn) {
  pool.ParallelFor(static_cast<size_t>(n), 1, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) fn(static_cast<int>(i));
  });
}

}  // namespace gemma
