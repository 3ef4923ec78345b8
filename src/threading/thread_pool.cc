// ThreadPool: persistent workers that spin briefly on a job counter and then
// block on a condition variable.
//
// Protocol for one ParallelFor (a "job"):
//  1. The caller stores the job description (atomics, relaxed) and then the
//     packed word `state` = (epoch + 1, next chunk 0) with release order. Only
//     if some worker is asleep does it take the mutex and notify: workers still
//     spinning from the previous job cost no syscall.
//  2. Everybody (caller included) claims chunks by compare-and-swap on
//     `state`, which succeeds only while the epoch is unchanged and chunks are
//     left, and counts each finished chunk in `done`.
//  3. The caller returns once `done` reaches the number of chunks. It does not
//     wait for workers that never woke up or found nothing left: a worker that
//     is descheduled (more threads than cores, a busy machine) only delays the
//     job if it holds a chunk.
// Why a late worker cannot run a chunk of the wrong job: it reads the job
// description after loading `state` = (e, c) and before its CAS from (e, c);
// if that CAS succeeds, chunk c of job e was unclaimed throughout, so job e was
// not finished and the caller had not yet overwritten the description (it
// does so only after `done` is complete). Epochs only grow, so no ABA.
// One exception needs care: c == num_chunks of job e, the value `state` keeps
// once every chunk is claimed. A worker that loaded it and then read the
// *next* job's larger num_chunks would pass its bounds check, and its CAS from
// (e, c) would succeed while the caller is still writing the new description:
// it ran a chunk that belongs to no job (a stale body, out-of-range indices)
// and counted it in the next job's `done`, which then never equals that job's
// chunk count (the caller spun forever). So the caller first closes job e
// (`state` = (e, kClosed), which no CAS from (e, c) matches) and publishes
// num_chunks with release; a worker reading it with acquire therefore sees
// the closed state, and its CAS fails.
#include "threading/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gemma {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Pause iterations a worker spins before sleeping. A pause is ~10-140 cycles
// depending on the microarchitecture, so this is roughly 0.1-1 ms: long enough
// to bridge the gaps between the ~10 MatMuls of one decoded token, short enough
// not to burn a core for long once the engine goes idle.
constexpr int kWorkerSpins = 1 << 14;
// The caller waiting for workers to finish spins longer before yielding:
// the remaining work is at most one chunk per worker.
constexpr int kCallerSpins = 1 << 16;
// The chunk index of a job that takes no more claims (above any chunk count).
constexpr uint32_t kClosed = 0xFFFFFFFFu;

}  // namespace

struct ThreadPool::Shared {
  // Job description; written by the caller only while no job is in flight.
  std::atomic<const std::function<void(size_t, size_t, int)>*> body{nullptr};
  std::atomic<size_t> n{0};
  std::atomic<size_t> chunk{1};  // items per chunk (a multiple of grain)
  std::atomic<uint32_t> num_chunks{0};

  // (epoch << 32) | next unclaimed chunk index.
  alignas(64) std::atomic<uint64_t> state{0};
  alignas(64) std::atomic<uint32_t> done{0};  // chunks finished in this job
  alignas(64) std::atomic<int> sleepers{0};   // workers blocked on `cv`
  std::atomic<bool> stop{false};
  std::atomic<bool> running{false};  // a job is in flight (detects reentrance)

  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr error;  // first exception a body threw; guarded by mu

  std::vector<std::thread> threads;

  static uint32_t Epoch(uint64_t s) { return static_cast<uint32_t>(s >> 32); }

  // Claims and runs chunks of job `epoch` until none are left (or a newer
  // job has replaced it).
  void RunChunks(uint32_t epoch, int thread_index) {
    uint64_t s = state.load(std::memory_order_acquire);
    for (;;) {
      if (Epoch(s) != epoch) return;
      const uint32_t c = static_cast<uint32_t>(s);
      const auto* fn = body.load(std::memory_order_relaxed);
      const size_t size = chunk.load(std::memory_order_relaxed);
      const size_t total = n.load(std::memory_order_relaxed);
      if (c >= num_chunks.load(std::memory_order_acquire)) return;
      if (!state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        continue;  // s now holds the current value
      }
      const size_t begin = c * size;
      const size_t end = std::min(total, begin + size);
      try {
        (*fn)(begin, end, thread_index);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_acq_rel);
      s = state.load(std::memory_order_acquire);
    }
  }

  void WorkerLoop(int thread_index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t e = Epoch(state.load(std::memory_order_acquire));
      for (int spin = 0; e == seen && spin < kWorkerSpins; ++spin) {
        CpuRelax();
        e = Epoch(state.load(std::memory_order_acquire));
      }
      if (e == seen) {
        std::unique_lock<std::mutex> lock(mu);
        // seq_cst pairs with the caller's state store / sleepers load: either
        // the caller sees us asleep and notifies, or we see its new epoch.
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        cv.wait(lock, [&] {
          return Epoch(state.load(std::memory_order_seq_cst)) != seen ||
                 stop.load(std::memory_order_acquire);
        });
        sleepers.fetch_sub(1, std::memory_order_relaxed);
        e = Epoch(state.load(std::memory_order_acquire));
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = e;
      RunChunks(e, thread_index);
    }
  }
};

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(std::max(1, num_threads)), shared_(std::make_unique<Shared>()) {
  shared_->threads.reserve(static_cast<size_t>(num_threads_ - 1));
  for (int i = 1; i < num_threads_; ++i) {
    shared_->threads.emplace_back([s = shared_.get(), i] { s->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  Shared& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop.store(true, std::memory_order_seq_cst);
  }
  s.cv.notify_all();
  for (std::thread& t : s.threads) t.join();
}

void ThreadPool::ParallelFor(size_t n, size_t grain,
                             const std::function<void(size_t, size_t, int)>& body) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  const size_t units = (n + grain - 1) / grain;
  if (num_threads_ == 1 || units == 1) {
    body(0, n, 0);
    return;
  }
  Shared& s = *shared_;
  if (s.running.exchange(true, std::memory_order_acq_rel)) {
    // Reentrant or concurrent use would deadlock or corrupt the job; running
    // inline keeps results correct (thread index 0 is the caller's anyway).
    body(0, n, 0);
    return;
  }
  // About sixteen chunks per thread where there are units enough (the big
  // MatMuls): the caller waits on average half a chunk for the last one, so
  // four chunks per thread left it spinning ~6% of a decode step; claiming
  // a chunk (one CAS) stays negligible. Small jobs keep four.
  const size_t per_thread = units >= static_cast<size_t>(num_threads_) * 64 ? 16 : 4;
  const size_t target_chunks = static_cast<size_t>(num_threads_) * per_thread;
  const size_t units_per_chunk = std::max<size_t>(1, units / target_chunks);
  const size_t chunk = units_per_chunk * grain;
  const uint32_t num_chunks = static_cast<uint32_t>((n + chunk - 1) / chunk);
  const uint32_t epoch = Shared::Epoch(s.state.load(std::memory_order_relaxed)) + 1;
  // Close the previous job before its description changes (see the top).
  s.state.store((static_cast<uint64_t>(epoch - 1) << 32) | kClosed, std::memory_order_relaxed);
  s.body.store(&body, std::memory_order_relaxed);
  s.n.store(n, std::memory_order_relaxed);
  s.chunk.store(chunk, std::memory_order_relaxed);
  s.num_chunks.store(num_chunks, std::memory_order_release);
  s.done.store(0, std::memory_order_relaxed);
  s.state.store(static_cast<uint64_t>(epoch) << 32, std::memory_order_seq_cst);
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) {
    // Taking the mutex orders this notify after a worker's predicate check.
    { std::lock_guard<std::mutex> lock(s.mu); }
    s.cv.notify_all();
  }

  s.RunChunks(epoch, 0);

  for (int spin = 0; s.done.load(std::memory_order_acquire) != num_chunks; ++spin) {
    if (spin < kCallerSpins) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
  s.running.store(false, std::memory_order_release);
  if (s.error) {
    std::exception_ptr e;
    std::swap(e, s.error);
    std::rethrow_exception(e);
  }
}

}  // namespace gemma
