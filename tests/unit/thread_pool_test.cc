// ThreadPool: coverage and grain of the ranges, thread indices, many short
// jobs back to back (the decode pattern), exceptions, and the hand-off cost.
#include "threading/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace gemma {
namespace {

TEST(ThreadPool, CoversEveryIndexOnceWithGrainAlignedRanges) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (size_t n : {0u, 1u, 5u, 16u, 17u, 100u, 1000u, 4099u}) {
      for (size_t grain : {0u, 1u, 4u, 16u, 64u}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<bool> bad_range{false}, bad_index{false};
        pool.ParallelFor(n, grain, [&](size_t begin, size_t end, int thread) {
          const size_t g = grain == 0 ? 1 : grain;
          if (begin >= end || end > n || begin % g != 0 || (end % g != 0 && end != n)) {
            bad_range = true;
          }
          if (thread < 0 || thread >= threads) bad_index = true;
          for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        });
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain;
        }
        EXPECT_FALSE(bad_range);
        EXPECT_FALSE(bad_index);
      }
    }
  }
}

// With work that takes a while, every worker takes part (dynamic chunking
// hands chunks to whoever is free), and the calling thread is index 0.
TEST(ThreadPool, UsesAllThreads) {
  ThreadPool pool(3);
  std::mutex mu;
  std::set<int> seen;
  std::set<std::thread::id> ids;
  // Each chunk waits (up to 10 s) until every thread has taken one, so a
  // worker the OS schedules late on a loaded machine still gets its share;
  // a pool that never wakes a worker fails after the wait.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pool.ParallelFor(48, 1, [&](size_t, size_t, int thread) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.insert(thread);
      ids.insert(std::this_thread::get_id());
    }
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (ids.size() >= 3) break;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.count(std::this_thread::get_id()));
}

// The same thread index is never used by two threads at once, so per-thread
// scratch indexed by it is safe.
TEST(ThreadPool, ThreadIndexIsExclusive) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> busy(4);
  std::atomic<bool> overlap{false};
  for (int rep = 0; rep < 200; ++rep) {
    pool.ParallelFor(64, 1, [&](size_t, size_t, int thread) {
      if (busy[thread].fetch_add(1) != 0) overlap = true;
      std::this_thread::yield();
      busy[thread].fetch_sub(1);
    });
  }
  EXPECT_FALSE(overlap);
}

// Many tiny jobs back to back, as decode issues them: each must see all of its
// own work done before ParallelFor returns (no lost or late chunks).
TEST(ThreadPool, ManyShortJobs) {
  ThreadPool pool(4);
  std::vector<int> data(257);
  for (int job = 0; job < 20000; ++job) {
    pool.ParallelFor(data.size(), 8, [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) data[i] = job;
    });
    for (int v : data) ASSERT_EQ(v, job);
  }
}

// Back-to-back jobs whose chunk count grows (2 chunks, then 32) on more
// threads than cores: a worker descheduled between reading a finished job's
// claim counter and claiming must not run a chunk of no job nor count it in
// the next one (which made ParallelFor spin forever under gemma serve's
// load). A watchdog turns a hang into a failure instead of a stuck test.
TEST(ThreadPool, GrowingJobsBackToBackRunEachItemOnce) {
  ThreadPool pool(8);
  std::atomic<int> job{0};
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1200 && !finished.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!finished.load()) {
      std::fprintf(stderr, "ParallelFor never returned (job %d)\n", job.load());
      std::abort();
    }
  });
  std::vector<std::atomic<int>> hits(64);
  int bad_jobs = 0;
  for (; job < 200000; ++job) {
    const size_t n = job % 2 ? hits.size() : 2;
    for (size_t i = 0; i < n; ++i) hits[i].store(0, std::memory_order_relaxed);
    std::atomic<bool> out_of_range{false};
    pool.ParallelFor(n, 1, [&](size_t begin, size_t end, int) {
      if (end > n) out_of_range = true;
      for (size_t i = begin; i < end && i < hits.size(); ++i) hits[i].fetch_add(1);
    });
    bool once = !out_of_range;
    for (size_t i = 0; i < n; ++i) once = once && hits[i].load() == 1;
    bad_jobs += once ? 0 : 1;
  }
  finished = true;
  watchdog.join();
  EXPECT_EQ(bad_jobs, 0);
}

// Jobs keep working after the workers have gone to sleep.
TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::atomic<size_t> sum{0};
    pool.ParallelFor(1000, 10, [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999u * 1000u / 2);
  }
}

TEST(ThreadPool, PropagatesExceptions) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.ParallelFor(100, 1,
                                [&](size_t begin, size_t end, int) {
                                  if (begin <= 57 && 57 < end)
                                    throw std::runtime_error("chunk failed");
                                }),
               std::runtime_error);
  // The pool is still usable.
  std::atomic<int> count{0};
  pool.ParallelFor(100, 1, [&](size_t begin, size_t end, int) { count += int(end - begin); });
  EXPECT_EQ(count.load(), 100);
}

// A body that (wrongly) calls ParallelFor runs the inner loop inline rather
// than deadlocking.
TEST(ThreadPool, NestedCallRunsInline) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.ParallelFor(4, 1, [&](size_t, size_t, int) {
    pool.ParallelFor(10, 1, [&](size_t begin, size_t end, int) { count += int(end - begin); });
  });
  EXPECT_EQ(count.load(), 40);
}

// The hand-off must be cheap enough for ~10 calls per decoded token. With
// spinning workers it is ~1 us; the limit allows for a loaded CI machine
// (and sanitizers) and only catches a per-call thread start or sleep.
TEST(ThreadPool, HandOffIsCheap) {
  ThreadPool pool(2);
  std::atomic<size_t> sink{0};
  const int kCalls = 2000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    pool.ParallelFor(64, 1, [&](size_t begin, size_t end, int) { sink += end - begin; });
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kCalls;
  std::printf("ParallelFor hand-off: %.2f us per call (2 threads)\n", us);
  EXPECT_EQ(sink.load(), 64u * kCalls);
  EXPECT_LT(us, 200.0);
}

}  // namespace
}  // namespace gemma
