// RMSNorm, GeluTanhMul, SoftCap, Softmax, Dot, DotsF64 and AddScaled on every compiled
// SIMD target against the double-precision references of kernels/ref/.
// Lengths cover a partial vector alone, whole vectors plus a tail, and Gemma
// widths. Each tolerance is derived next to its assertion (eps = FLT_EPSILON,
// the f32 ulp of 1: one rounding costs at most eps / 2 relative).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ref/ops_ref.h"

namespace gemma {
namespace {

constexpr double kEps = FLT_EPSILON;
constexpr int64_t kLengths[] = {1, 3, 7, 16, 33, 100, 257, 2304};

std::vector<float> Random(int64_t n, float sigma, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

class ElementwiseTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(ElementwiseTest);

TEST_P(ElementwiseTest, Dot) {
  std::mt19937 rng(1);
  for (int64_t n : kLengths) {
    const std::vector<float> a = Random(n, 1.0f, rng), b = Random(n, 1.0f, rng);
    double abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(a[i]) * b[i]);
    // At most n sequential FMAs per lane plus ~4 reduction adds, each adding
    // eps/2 relative to a partial sum bounded by sum |a b|.
    EXPECT_NEAR(Dot(a.data(), b.data(), n), ref::DotRef(a.data(), b.data(), n),
                (n + 8) * kEps * abs_sum)
        << n;
  }
}

// DotsF64 promises one summation order (the MoE router's logits must not
// depend on the target or the batch): written out here in plain doubles, it
// must give the same bits on every target and for any number of vectors.
TEST_P(ElementwiseTest, DotsF64IsTheFixedOrderSumForAnyTargetAndTile) {
  std::mt19937 rng(11);
  constexpr int64_t kRows = 5;
  for (int64_t cols : {1, 3, 16, 33, 100, 2816}) {
    const std::vector<float> w = Random(kRows * cols, 1.0f, rng);
    std::vector<std::vector<float>> xs;
    for (int t = 0; t < kDotsF64Tile; ++t) xs.push_back(Random(cols, 3.0f, rng));
    std::vector<float> want(kDotsF64Tile * kRows);
    for (int t = 0; t < kDotsF64Tile; ++t) {
      for (int64_t r = 0; r < kRows; ++r) {
        double p[16] = {};
        for (int64_t c = 0; c < cols; ++c) {
          p[c % 16] += static_cast<double>(w[r * cols + c]) * static_cast<double>(xs[t][c]);
        }
        for (int width = 8; width > 0; width /= 2) {
          for (int j = 0; j < width; ++j) p[j] += p[j + width];
        }
        want[t * kRows + r] = static_cast<float>(p[0]);
      }
    }
    for (int num_x = 1; num_x <= kDotsF64Tile; ++num_x) {
      for (int first = 0; first + num_x <= kDotsF64Tile; ++first) {
        const float* x[kDotsF64Tile];
        for (int t = 0; t < num_x; ++t) x[t] = xs[first + t].data();
        std::vector<float> got(num_x * kRows);
        DotsF64(w.data(), kRows, cols, x, num_x, got.data());
        for (int t = 0; t < num_x; ++t) {
          for (int64_t r = 0; r < kRows; ++r) {
            EXPECT_EQ(got[t * kRows + r], want[(first + t) * kRows + r])
                << "cols " << cols << ", vector " << first + t << " of " << num_x << ", row " << r;
          }
        }
      }
    }
  }
}

TEST_P(ElementwiseTest, AddScaled) {
  std::mt19937 rng(2);
  for (int64_t n : kLengths) {
    const std::vector<float> x = Random(n, 1.0f, rng);
    std::vector<float> out = Random(n, 1.0f, rng);
    std::vector<double> want(static_cast<size_t>(n));
    ref::AddScaledRef(-0.37f, x.data(), out.data(), n, want.data());
    const std::vector<float> before = out;
    AddScaled(-0.37f, x.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // One fused multiply-add (one rounding), or a multiply and an add where
      // the target lacks FMA: eps/2 (|a x| + |result|).
      const double tol = kEps * (0.37 * std::fabs(x[i]) + std::fabs(want[i])) / 2 + 1e-30;
      ASSERT_NEAR(out[i], want[i], tol) << n << " " << i;
    }
  }
}

TEST_P(ElementwiseTest, RMSNorm) {
  std::mt19937 rng(3);
  for (int64_t n : kLengths) {
    const std::vector<float> x = Random(n, 2.0f, rng), gain = Random(n, 1.0f, rng);
    std::vector<double> want(static_cast<size_t>(n));
    ref::RMSNormRef(x.data(), gain.data(), 1e-6f, n, want.data());
    std::vector<float> out(static_cast<size_t>(n));
    RMSNorm(x.data(), gain.data(), 1e-6f, n, out.data());
    // In place (out aliases x) gives the same result.
    std::vector<float> inplace = x;
    RMSNorm(inplace.data(), gain.data(), 1e-6f, n, inplace.data());
    for (int64_t i = 0; i < n; ++i) {
      // sum of squares: (n + 8) eps relative (as Dot; all terms positive);
      // / n, + eps, sqrt (halves the relative error) and the reciprocal add
      // ~2 eps; two multiplies 1 eps: relative ((n + 8) / 2 + 4) eps.
      const double tol = ((n + 8) / 2.0 + 4) * kEps * std::fabs(want[i]) + 1e-30;
      ASSERT_NEAR(out[i], want[i], tol) << n << " " << i;
      ASSERT_EQ(inplace[i], out[i]);
    }
  }
}

TEST_P(ElementwiseTest, GeluTanhMul) {
  std::mt19937 rng(4);
  for (int64_t n : kLengths) {
    std::vector<float> gate = Random(n, 3.0f, rng);
    if (n > 4) {  // the extremes: tanh saturates
      gate[0] = -30.0f;
      gate[1] = 30.0f;
      gate[2] = 0.0f;
    }
    std::vector<float> x = Random(n, 1.0f, rng);
    const std::vector<float> x_in = x;
    std::vector<double> want(static_cast<size_t>(n));
    ref::GeluTanhMulRef(gate.data(), x.data(), n, want.data());
    GeluTanhMul(gate.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // The tanh argument u carries ~3 roundings (3 eps |u| absolute), which
      // move tanh by at most 3 eps |u| sech^2(u) <= 1.4 eps; Highway's Tanh
      // adds 4 ulp (4 eps). So 1 + tanh is off by <= 6 eps absolute - large
      // relative to gelu when g << 0, hence an absolute bound: 0.5 |g| * 6 eps
      // times |x|, plus 4 eps relative for the remaining multiplies.
      const double g = gate[i];
      const double tol = kEps * (3.0 * std::fabs(g * x_in[i]) + 4.0 * std::fabs(want[i])) + 1e-30;
      ASSERT_NEAR(x[i], want[i], tol) << n << " " << i << " gate " << g;
    }
  }
}

TEST_P(ElementwiseTest, SoftCap) {
  std::mt19937 rng(5);
  for (int64_t n : kLengths) {
    std::vector<float> x = Random(n, 40.0f, rng);
    const std::vector<float> in = x;
    std::vector<double> want(static_cast<size_t>(n));
    ref::SoftCapRef(30.0f, x.data(), n, want.data());
    SoftCap(30.0f, x.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // x / cap: eps/2 relative on the argument v, moving tanh by <= eps/2 |v|
      // (times cap: eps/2 |x|); Tanh 4 ulp and the multiply by cap: 5 eps
      // relative to the result.
      const double tol = kEps * (0.5 * std::fabs(in[i]) + 5.0 * std::fabs(want[i])) + 1e-30;
      ASSERT_NEAR(x[i], want[i], tol) << n << " " << i;
      ASSERT_LE(std::fabs(x[i]), 30.0f);
    }
  }
}

TEST_P(ElementwiseTest, ExpShifted) {
  std::mt19937 rng(7);
  for (int64_t n : kLengths) {
    const std::vector<float> x = Random(n, 5.0f, rng);
    float max = -INFINITY;
    for (float v : x) max = std::max(max, v);
    std::vector<float> out(static_cast<size_t>(n), -1.0f);
    const float sum = ExpShifted(x.data(), max, out.data(), n);
    double want_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(static_cast<double>(x[i]) - max);
      want_sum += want;
      // x - max rounds by eps/2 |x - max| (absolute, so relative after exp);
      // Exp itself is good to 1 ulp.
      ASSERT_NEAR(out[i], want, kEps * want * (0.5 * std::fabs(x[i] - max) + 2) + 1e-30)
          << n << " " << i;
    }
    // Each term as above, then (n + 8) eps for the lane sums and reduction.
    EXPECT_NEAR(sum, want_sum, kEps * want_sum * (0.5 * 40 + n + 10)) << n;
  }
}

TEST_P(ElementwiseTest, Softmax) {
  std::mt19937 rng(6);
  for (int64_t n : kLengths) {
    std::vector<float> x = Random(n, 5.0f, rng);
    if (n > 8) {
      x[3] = -INFINITY;  // a masked position
      x[5] = -200.0f;    // underflows to 0
    }
    const std::vector<float> in = x;
    std::vector<double> want(static_cast<size_t>(n));
    ref::SoftmaxRef(x.data(), n, want.data());
    Softmax(x.data(), n);
    float max = -INFINITY;
    for (float v : in) max = std::max(max, v);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum += x[i];
      if (in[i] < max - 80.0f) {  // exp below ~1e-35: flushed or tiny
        ASSERT_LE(x[i], 1e-30f);
        continue;
      }
      // x - max: eps/2 |x - max| absolute in the exponent, i.e. that much
      // relative after exp; Exp 1 ulp; the sum (n + 8) eps relative; the
      // final multiply by 1 / sum 2 eps.
      const double tol = kEps * want[i] * (0.5 * std::fabs(in[i] - max) + n + 12) + 1e-30;
      ASSERT_NEAR(x[i], want[i], tol) << n << " " << i;
    }
    EXPECT_NEAR(sum, 1.0, (n + 12) * kEps);
  }
}

}  // namespace
}  // namespace gemma
