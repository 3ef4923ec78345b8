#include "server/metrics.h"

#include <cstdio>
#include <sstream>

namespace gemma::server {

void Histogram::Observe(double value) {
  std::lock_guard lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

std::string Histogram::Format(const std::string& name, const std::string& help) const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
  }
  cumulative += counts_.back();
  out << name << "_bucket{le=\"+Inf\"} " << cumulative << "\n";
  out << name << "_sum " << sum_ << "\n" << name << "_count " << count_ << "\n";
  return out.str();
}

Metrics::Metrics()
    : ttft_({0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      itl_({0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5}),
      e2e_({0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}) {}

std::string Metrics::Format(const EngineStats& e) const {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << value << "\n";
  };
  metric("gemma_requests_running", "gauge", "Requests in the running batch.", e.running);
  metric("gemma_requests_waiting", "gauge", "Requests queued for a free sequence.", e.waiting);
  metric("gemma_requests_total", "counter", "Requests the engine finished.",
         static_cast<double>(e.requests_total));
  metric("gemma_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         static_cast<double>(e.prompt_tokens_total));
  metric("gemma_generation_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(e.generated_tokens_total));
  metric("gemma_prefix_cache_queries_total", "counter", "Prompts looked up in the prefix cache.",
         static_cast<double>(e.prefix_queries_total));
  metric("gemma_prefix_cache_hit_tokens_total", "counter",
         "Prompt tokens whose keys and values were reused.",
         static_cast<double>(e.cached_tokens_total));
  metric("gemma_engine_steps_total", "counter", "Forward steps run.",
         static_cast<double>(e.steps_total));
  metric("gemma_kv_cache_usage_ratio", "gauge",
         "Fraction of the global layers' KV blocks in use by sequences.", e.kv_used_fraction);
  metric("gemma_parallel_sequences", "gauge", "Sequences that can run at once.", e.parallel);
  metric("gemma_context_length", "gauge", "Tokens per sequence.", e.context_length);
  metric("gemma_http_requests_total", "counter", "HTTP requests received.",
         static_cast<double>(http_requests_.load()));
  metric("gemma_http_errors_4xx_total", "counter", "HTTP requests answered with 4xx.",
         static_cast<double>(errors_4xx_.load()));
  metric("gemma_http_errors_5xx_total", "counter", "HTTP requests answered with 5xx.",
         static_cast<double>(errors_5xx_.load()));
  out << ttft_.Format("gemma_time_to_first_token_seconds",
                      "From receiving a request to its first generated token.");
  out << itl_.Format("gemma_inter_token_latency_seconds", "Between consecutive generated tokens.");
  out << e2e_.Format("gemma_e2e_request_latency_seconds",
                     "From receiving a generation request to its last byte.");
  return out.str();
}

}  // namespace gemma::server
