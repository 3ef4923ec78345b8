// Loading golden reference cases (tests/data/golden/<case>/, copied from the
// shared golden set) and the metrics their tolerances are stated in.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gemma::testing {

std::string GoldenDir(const std::string& case_name);

nlohmann::json LoadCaseJson(const std::string& case_name);
// Raw little-endian f32 file; fails the test (ADD_FAILURE) if missing.
std::vector<float> LoadF32(const std::string& path);

struct LogitComparison {
  double max_abs = 0;  // max |ours - expected|
  double max_rel = 0;  // max over rows of max|diff| / max|expected| (the golden README's metric)
  double top1 = 0;     // fraction of rows whose argmax agrees
  double kl_mean = 0;  // mean over rows of KL(P_expected || P_ours), nats
  // Rows whose expected top-2 gap is >= kDecisiveGap and whose argmax
  // differs: a flip there is an error, not a near-tie going either way.
  int decisive_flips = 0;
  std::vector<int> decisive_rows;  // those rows
};

// Logit units: about 1/8 of a golden model's logit standard deviation (~4),
// above the ~0.3-0.6 per-row errors only where they line up against a gap.
constexpr double kDecisiveGap = 0.5;

LogitComparison CompareLogits(const std::vector<float>& ours, const std::vector<float>& expected,
                              int vocab);

}  // namespace gemma::testing
