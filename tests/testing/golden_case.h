// Loading golden reference cases (tests/data/golden/<case>/, copied from the
// shared golden set) and the metrics their tolerances are stated in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gemma::testing {

std::string GoldenDir(const std::string& case_name);
nlohmann::json LoadCaseJson(const std::string& case_name);
// Raw little-endian f32 file; fails the test (ADD_FAILURE) if missing.
std::vector<float> LoadF32(const std::string& path);

struct LogitComparison {
  double max_abs = 0;   // max |ours - expected|
  double max_rel = 0;   // max over rows of max|diff| / max|expected| (the golden README's metric)
  double top1 = 0;      // fraction of rows whose argmax agrees
  double kl_mean = 0;   // mean over rows of KL(P_expected || P_ours), nats
};

LogitComparison CompareLogits(const std::vector<float>& ours, const std::vector<float>& expected,
                              int vocab);

}  // namespace gemma::testing
