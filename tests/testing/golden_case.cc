#include "testing/golden_case.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace gemma::testing {

std::string GoldenDir(const std::string& case_name) {
  return std::string(GEMMA_TEST_DATA_DIR) + "/golden/" + case_name;
}

nlohmann::json LoadCaseJson(const std::string& case_name) {
  std::ifstream in(GoldenDir(case_name) + "/case.json");
  if (!in) {
    ADD_FAILURE() << "missing " << GoldenDir(case_name) << "/case.json";
    return {};
  }
  return nlohmann::json::parse(in);
}

std::vector<float> LoadF32(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    ADD_FAILURE() << "missing " << path;
    return {};
  }
  const std::streamsize bytes = in.tellg();
  in.seekg(0);
  std::vector<float> data(static_cast<size_t>(bytes) / sizeof(float));
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size() * 4));
  return data;
}

namespace {

std::vector<double> LogSoftmax(const float* x, int n) {
  const double max = *std::max_element(x, x + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  const double log_sum = std::log(sum) + max;
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = x[i] - log_sum;
  return out;
}

}  // namespace

LogitComparison CompareLogits(const std::vector<float>& ours, const std::vector<float>& expected,
                              int vocab) {
  LogitComparison c;
  if (ours.size() != expected.size() || vocab <= 0 || expected.empty()) {
    ADD_FAILURE() << "logit shapes differ: " << ours.size() << " vs " << expected.size();
    c.max_rel = c.max_abs = c.kl_mean = INFINITY;
    return c;
  }
  const size_t rows = expected.size() / vocab;
  int agree = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = &ours[r * vocab];
    const float* e = &expected[r * vocab];
    double row_abs = 0, row_max = 0;
    for (int i = 0; i < vocab; ++i) {
      const double diff = std::fabs(static_cast<double>(a[i]) - e[i]);
      if (!(diff <= row_abs)) row_abs = diff;  // NaN propagates as a failure
      row_max = std::max(row_max, std::fabs(static_cast<double>(e[i])));
    }
    c.max_abs = std::max(c.max_abs, row_abs);
    const double rel = row_abs / row_max;
    if (!(rel <= c.max_rel)) c.max_rel = rel;
    const auto top = std::max_element(e, e + vocab) - e;
    if (std::max_element(a, a + vocab) - a == top) {
      ++agree;
    } else {
      double second = -INFINITY;
      for (int i = 0; i < vocab; ++i) {
        if (i != top) second = std::max(second, static_cast<double>(e[i]));
      }
      if (e[top] - second >= kDecisiveGap) {
        ++c.decisive_flips;
        c.decisive_rows.push_back(static_cast<int>(r));
      }
    }
    const std::vector<double> lp = LogSoftmax(e, vocab);
    const std::vector<double> lq = LogSoftmax(a, vocab);
    double kl = 0;
    for (int i = 0; i < vocab; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    c.kl_mean += kl / rows;
  }
  c.top1 = static_cast<double>(agree) / rows;
  return c;
}

}  // namespace gemma::testing
