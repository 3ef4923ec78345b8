// MatMul and DequantizeRow entry points: validate, then route to the weight
// type's family (each a dynamic-dispatch TU, see matmul_families.h).
#include "kernels/ops.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/mapped_file.h"
#include "hwy/targets.h"
#include "kernels/matmul_families.h"
#include "kernels/packed_matmul.h"
#include "kernels/scratch.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

enum class Family { kNone, kFloat, kLegacy, kKQuant };

Family FamilyOf(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return Family::kFloat;
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
      return Family::kLegacy;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return Family::kKQuant;
    default:
      return Family::kNone;
  }
}

Family CheckedFamily(const WeightMatrix& w, const char* op) {
  const Family f = FamilyOf(w.type);
  if (f == Family::kNone) Fail(op, ": unsupported weight type ", Name(w.type));
  if (w.cols % Info(w.type).block_elems != 0) {
    Fail(op, ": ", w.cols, " columns is not a multiple of the ", Name(w.type), " block size");
  }
  return f;
}

}  // namespace

bool MatMulSupports(DType type) { return FamilyOf(type) != Family::kNone; }

namespace {

// MatMul and MatMulHead: one validation, then the packed kernels (precise_head:
// the second pass over the activations' rounding error) or the type's family.
// Weights packed for a better SIMD target than the one now chosen (the cap
// lowered after loading) run from the file's blocks, which stay mapped.
// The weight checks plus an output row wide enough for w's rows.
Family CheckedOutput(const WeightMatrix& w, int64_t y_stride) {
  const Family f = CheckedFamily(w, "MatMul");
  if (y_stride < w.rows) Fail("MatMul: output stride ", y_stride, " < rows ", w.rows);
  return f;
}

void RunMatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
               int64_t y_stride, ThreadPool& pool, bool precise_head) {
  const Family f = CheckedOutput(w, y_stride);
  if (w.packed != nullptr && PackedMatMulSupports(w)) {
    return kernels::MatMulPackedWeights(w, x, num_tokens, y, y_stride, pool, precise_head);
  }
  switch (f) {
    case Family::kFloat:
      return kernels::MatMulFloat(w, x, num_tokens, y, y_stride, pool);
    case Family::kLegacy:
      return kernels::MatMulLegacy(w, x, num_tokens, y, y_stride, pool);
    case Family::kKQuant:
      return kernels::MatMulKQuant(w, x, num_tokens, y, y_stride, pool);
    case Family::kNone:
      break;
  }
}

}  // namespace

void MatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, int64_t y_stride,
            ThreadPool& pool) {
  RunMatMul(w, x, num_tokens, y, y_stride, pool, /*precise_head=*/false);
}

void MatMulSameInput(std::span<const MatMulOutput> outputs, const float* x, int64_t num_tokens,
                     ThreadPool& pool) {
  // Packed outputs go out in runs of one weight type (each run one rounding
  // of x); anything else one MatMul at a time.
  std::vector<kernels::PackedOutput> run;
  const auto flush = [&] {
    if (!run.empty()) kernels::MatMulPackedSameInput(run, x, num_tokens, pool);
    run.clear();
  };
  for (const MatMulOutput& o : outputs) {
    const WeightMatrix& w = *o.w;
    CheckedOutput(w, o.y_stride);
    if (w.cols != outputs.front().w->cols) {
      Fail("MatMulSameInput: ", w.cols, " columns where the input has ", outputs.front().w->cols);
    }
    if (w.packed != nullptr && PackedMatMulSupports(w)) {
      if (!run.empty() && run.front().w->type != w.type) flush();
      run.push_back({&w, o.y, o.y_stride});
    } else {
      RunMatMul(w, x, num_tokens, o.y, o.y_stride, pool, /*precise_head=*/false);
    }
  }
  flush();
}

bool MatMulHeadForSaves(const WeightMatrix& w) {
  const bool type_ok = w.type == DType::kQ4_0 || w.type == DType::kQ5_0 || w.type == DType::kQ8_0;
  return type_ok && w.packed != nullptr && PackedMatMulSupports(w);
}

void MatMulHeadFor(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool, std::span<const HeadRowUse> uses,
                   std::span<const float> row_abs_sums) {
  if (!MatMulHeadForSaves(w)) return MatMulHead(w, x, num_tokens, y, y_stride, pool);
  CheckedOutput(w, y_stride);
  kernels::MatMulPackedHeadFor(w, x, num_tokens, y, y_stride, pool, uses, row_abs_sums);
}

std::vector<float> RowAbsSums(const WeightMatrix& w, ThreadPool& pool) {
  CheckedFamily(w, "RowAbsSums");
  std::vector<float> sums(static_cast<size_t>(w.rows));
  constexpr int64_t kRowsPerRead = 256;
  const int64_t pieces = (w.rows + kRowsPerRead - 1) / kRowsPerRead;
  pool.ParallelFor(static_cast<size_t>(pieces), 1, [&](size_t p0, size_t p1, int) {
    std::vector<uint8_t> bytes(static_cast<size_t>(kRowsPerRead) * w.row_bytes);
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (size_t p = p0; p < p1; ++p) {
      const int64_t r0 = static_cast<int64_t>(p) * kRowsPerRead;
      const int64_t n = std::min(kRowsPerRead, w.rows - r0);
      CopyRows(w, r0, n, bytes.data());
      WeightMatrix piece = w;
      piece.data = bytes.data();
      piece.rows = n;
      piece.packed = nullptr;
      piece.file = nullptr;
      for (int64_t r = 0; r < n; ++r) {
        DequantizeRow(piece, r, row.data());
        double sum = 0.0;
        for (const float v : row) sum += std::fabs(static_cast<double>(v));
        const float f = static_cast<float>(sum);
        sums[static_cast<size_t>(r0 + r)] =
            static_cast<double>(f) >= sum ? f : std::nextafter(f, INFINITY);
      }
    }
  });
  return sums;
}

void MatMulHead(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                int64_t y_stride, ThreadPool& pool) {
  RunMatMul(w, x, num_tokens, y, y_stride, pool, /*precise_head=*/true);
}

void DequantizeRow(const WeightMatrix& w, int64_t r, float* out) {
  switch (CheckedFamily(w, "DequantizeRow")) {
    case Family::kFloat:
      return kernels::DequantizeRowFloat(w, r, out);
    case Family::kLegacy:
      return kernels::DequantizeRowLegacy(w, r, out);
    case Family::kKQuant:
      return kernels::DequantizeRowKQuant(w, r, out);
    case Family::kNone:
      break;
  }
}

void CopyRows(const WeightMatrix& w, int64_t r0, int64_t n, uint8_t* dst) {
  if (r0 < 0 || n < 0 || r0 + n > w.rows) {
    Fail("CopyRows: rows [", r0, ", ", r0 + n, ") of a matrix of ", w.rows);
  }
  const size_t bytes = static_cast<size_t>(n) * w.row_bytes;
  if (w.file != nullptr) return w.file->CopyOut(w.Row(r0), bytes, dst);
  std::memcpy(dst, w.Row(r0), bytes);
}

void LookupRow(const WeightMatrix& w, int64_t r, float* out) {
  WeightMatrix row = w;
  row.rows = 1;
  row.packed = nullptr;
  row.file = nullptr;
  auto* bytes = ThreadScratch<struct LookupRowBytes, uint8_t>(w.row_bytes);
  CopyRows(w, r, 1, bytes);
  row.data = bytes;
  DequantizeRow(row, 0, out);
}

void LimitSimdTarget(std::string_view name) {
  const auto same = [](std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return std::tolower(static_cast<unsigned char>(x)) ==
             std::tolower(static_cast<unsigned char>(y));
    });
  };
  hwy::DisableTargets(0);  // undo an earlier limit, so every target is listed
  std::string known;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    if (same(name, hwy::TargetName(target))) {
      hwy::DisableTargets(target - 1);  // lower bits are the better targets
      // Highway 1.0's SupportedTargets() first points dispatch at the best
      // target the CPU has and only then applies the mask; point it at the
      // capped one again (and call nothing that re-detects afterwards:
      // SimdTargetName asks dispatch itself).
      hwy::GetChosenTarget().Update(hwy::SupportedTargets());
      return;
    }
    if (!known.empty()) known += ", ";
    known += hwy::TargetName(target);
  }
  Fail("SIMD target '", name, "' is not one this CPU and build run (", known, ")");
}

}  // namespace gemma
