// gemma bench: prompt-processing (pp) and text-generation (tg) speed in the
// columns and JSON field names of llama.cpp's llama-bench, so the numbers of
// both engines can be read side by side by one script.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"

namespace gemma::cli {
namespace {

struct TestResult {
  int n_prompt = 0, n_gen = 0, n_depth = 0, threads = 0;
  std::vector<double> samples_ts;  // tokens per second of each repetition
  double Mean() const {
    double s = 0;
    for (double v : samples_ts) s += v;
    return samples_ts.empty() ? 0 : s / samples_ts.size();
  }
  double Stddev() const {
    if (samples_ts.size() < 2) return 0;
    const double mean = Mean();
    double s = 0;
    for (double v : samples_ts) s += (v - mean) * (v - mean);
    return std::sqrt(s / (samples_ts.size() - 1));  // sample stddev, as llama-bench
  }
  std::string Name() const {
    std::string name =
        n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
    if (n_depth > 0) name += " @ d" + std::to_string(n_depth);
    return name;
  }
};

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stoi(item));
  return values;
}

// Deterministic token ids spread over the vocabulary (llama-bench uses random ids).
std::vector<int32_t> BenchTokens(int count, int vocab, uint32_t seed) {
  std::vector<int32_t> ids(count);
  uint32_t x = seed * 2654435761u + 1;
  for (int32_t& id : ids) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    id = static_cast<int32_t>(x % static_cast<uint32_t>(vocab));
  }
  return ids;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// The dominant weight type, as llama-bench's model_type shows the file type.
std::string MainType(const ModelInfo& info) {
  std::map<std::string, size_t> bytes;
  for (const TensorSummary& t : info.tensors) {
    if (t.shape.size() == 2) bytes[t.type] += t.bytes;
  }
  std::string best;
  size_t most = 0;
  for (const auto& [type, n] : bytes) {
    if (n > most) most = n, best = type;
  }
  std::string upper;
  for (char c : best) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

size_t ParamCount(const ModelInfo& info) {
  size_t n = 0;
  for (const TensorSummary& t : info.tensors) {
    size_t e = 1;
    for (int64_t d : t.shape) e *= static_cast<size_t>(d);
    n += e;
  }
  return n;
}

std::string SizeLabel(size_t params) {
  char buffer[32];
  if (params >= 950000000) {
    std::snprintf(buffer, sizeof(buffer), "%.1fB", params / 1e9);
  } else if (params >= 1000000) {
    std::snprintf(buffer, sizeof(buffer), "%.0fM", params / 1e6);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.0fK", params / 1e3);
  }
  return buffer;
}

}  // namespace

Command RegisterBench(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string prompts = "512", gens = "128", threads = "", depths = "0";
    int repetitions = 5;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  app.remove_option(app.get_option("--threads"));
  app.add_option("-p,--n-prompt", flags->prompts, "prompt lengths to test (comma-separated)")
      ->capture_default_str();
  app.add_option("-n,--n-gen", flags->gens, "generation lengths to test")->capture_default_str();
  app.add_option("-t,--threads", flags->threads, "thread counts (default: one per core)");
  app.add_option("-d,--n-depth", flags->depths, "tokens already in the KV cache before each test")
      ->capture_default_str();
  app.add_option("-r,--repetitions", flags->repetitions, "repetitions of each test")
      ->capture_default_str()
      ->check(NumberIn(1, 1000, "use 1 to 1000 repetitions"));
  app.add_flag("--json", flags->json, "print a JSON array (llama-bench's field names)");
  return [flags]() {
    std::vector<int> prompts, gens, threads, depths;
    try {
      prompts = ParseList(flags->prompts);
      gens = ParseList(flags->gens);
      depths = ParseList(flags->depths);
      threads = flags->threads.empty() ? std::vector<int>{0} : ParseList(flags->threads);
    } catch (const std::exception&) {
      std::cerr << "error: -p, -n, -t and -d take comma-separated integers\n";
      return 1;
    }
    nlohmann::json results = nlohmann::json::array();
    bool header = false;
    for (int thread_count : threads) {
      ModelFlags model_flags = flags->model;
      model_flags.threads = thread_count;
      const int longest = *std::max_element(depths.begin(), depths.end()) +
                          std::max(*std::max_element(prompts.begin(), prompts.end()),
                                   *std::max_element(gens.begin(), gens.end()));
      if (model_flags.context == 0) model_flags.context = longest;
      std::unique_ptr<Model> model = model_flags.Open();
      if (!model) return 1;
      const ModelInfo& info = model->info();
      const std::string model_type =
          info.architecture + " " + SizeLabel(ParamCount(info)) + " " + MainType(info);
      Session session(*model);
      std::vector<TestResult> tests;
      for (int depth : depths) {
        for (int p : prompts) {
          if (p > 0) tests.push_back({p, 0, depth, info.threads, {}});
        }
        for (int g : gens) {
          if (g > 0) tests.push_back({0, g, depth, info.threads, {}});
        }
      }
      for (TestResult& test : tests) {
        // Fill the cache to the requested depth once; every repetition then
        // starts from there.
        session.Reset();
        if (test.n_depth > 0) {
          const Status s = session.Append(BenchTokens(test.n_depth, info.vocab_size, 99));
          if (!s.ok()) {
            std::cerr << "error: " << s.message() << "\n";
            return 1;
          }
        }
        for (int rep = -1; rep < flags->repetitions; ++rep) {  // rep -1: warm-up
          session.Truncate(test.n_depth);
          const auto start = std::chrono::steady_clock::now();
          Status status;
          if (test.n_prompt > 0) {
            status = session.Append(BenchTokens(test.n_prompt, info.vocab_size, rep + 2));
          } else {
            int32_t next = BenchTokens(1, info.vocab_size, rep + 2)[0];
            for (int i = 0; i < test.n_gen && status.ok(); ++i) {
              status = session.Append(std::span<const int32_t>(&next, 1));
              const std::span<const float> l = session.logits();
              next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
            }
          }
          const double seconds = Seconds(start);
          if (!status.ok()) {
            std::cerr << "error: " << status.message() << "\n";
            return 1;
          }
          if (rep >= 0) test.samples_ts.push_back((test.n_prompt + test.n_gen) / seconds);
        }
        if (flags->json) {
          results.push_back({{"model_filename", info.path},
                             {"model_type", model_type},
                             {"model_size", info.weights_bytes},
                             {"model_n_params", ParamCount(info)},
                             {"n_threads", test.threads},
                             {"n_batch", model_flags.batch_size},
                             {"n_ubatch", model_flags.batch_size},
                             {"type_k", info.kv_cache_type},
                             {"type_v", info.kv_cache_type},
                             {"n_prompt", test.n_prompt},
                             {"n_gen", test.n_gen},
                             {"n_depth", test.n_depth},
                             {"avg_ts", test.Mean()},
                             {"stddev_ts", test.Stddev()},
                             {"samples_ts", test.samples_ts},
                             {"simd", info.simd}});
        } else {
          if (!header) {
            std::printf("| %-30s | %10s | %10s | %-8s | %7s | %15s | %20s |\n", "model", "size",
                        "params", "backend", "threads", "test", "t/s");
            std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: |\n", std::string(30, '-').c_str(),
                        std::string(9, '-').c_str(), std::string(9, '-').c_str(),
                        std::string(8, '-').c_str(), std::string(6, '-').c_str(),
                        std::string(14, '-').c_str(), std::string(19, '-').c_str());
            header = true;
          }
          char size[32], params[32], speed[48];
          std::snprintf(size, sizeof(size), "%.2f MiB", info.weights_bytes / 1048576.0);
          std::snprintf(params, sizeof(params), "%.2f M", ParamCount(info) / 1e6);
          std::snprintf(speed, sizeof(speed), "%.2f ± %.2f", test.Mean(), test.Stddev());
          std::printf("| %-30s | %10s | %10s | %-8s | %7d | %15s | %20s |\n", model_type.c_str(),
                      size, params, "CPU", test.threads, test.Name().c_str(), speed);
          std::fflush(stdout);
        }
      }
    }
    if (flags->json) std::cout << results.dump(2) << "\n";
    return 0;
  };
}

}  // namespace gemma::cli
