// Prometheus metrics of the server (/metrics): the engine's counters and
// gauges, and histograms of time to first token, inter-token latency and
// end-to-end latency, recorded per request.
#pragma once

#include <array>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "gemma/engine.h"

namespace gemma::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void Observe(double value);
  // The text exposition lines for `name` (buckets, sum, count).
  std::string Format(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void RequestArrived() { ++http_requests_; }
  void RequestFailed(int status) {
    if (status >= 500)
      ++errors_5xx_;
    else
      ++errors_4xx_;
  }
  Histogram& time_to_first_token() { return ttft_; }
  Histogram& inter_token_latency() { return itl_; }
  Histogram& end_to_end_latency() { return e2e_; }
  // The exposition text, with the engine's state read now.
  std::string Format(const EngineStats& engine) const;

 private:
  std::atomic<int64_t> http_requests_{0}, errors_4xx_{0}, errors_5xx_{0};
  Histogram ttft_, itl_, e2e_;
};

}  // namespace gemma::server
