// What one HTTP response streams: chunks produced on the engine thread (in
// the request's callbacks) and written by the connection's thread. Never
// blocks the producer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace gemma::server {

class Channel {
 public:
  void Push(std::string chunk) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      chunks_.push_back(std::move(chunk));
    }
    cv_.notify_all();
  }
  // No more chunks will come.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // The next chunk; nullopt once closed and drained, or when `timeout`
  // passes first (then *timed_out is set).
  std::optional<std::string> Pop(std::chrono::milliseconds timeout, bool* timed_out) {
    std::unique_lock lock(mu_);
    *timed_out = !cv_.wait_for(lock, timeout, [&] { return closed_ || !chunks_.empty(); });
    if (chunks_.empty()) return std::nullopt;
    std::string chunk = std::move(chunks_.front());
    chunks_.pop_front();
    return chunk;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_ && chunks_.empty();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  bool closed_ = false;
};

}  // namespace gemma::server
