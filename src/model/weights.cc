#include "model/weights.h"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <variant>

#include "base/error.h"
#include "base/mapped_file.h"
#include "io/model_source.h"
#include "kernels/packed_matmul.h"
#include "model/tensor_rows.h"
#include "threading/thread_pool.h"

namespace gemma {

// Sets the member a row binds to: matrices keep the file's bytes (mapped),
// norm gains become f32 copies of the effective gain.
ModelWeights BindWeights(const ModelSource& source, const ModelSpec& spec) {
  ModelWeights w;
  w.layers.resize(spec.num_layers());
  for (const ModelTensor& t : ListModelTensors(source, spec)) {
    LayerWeights* layer = t.layer >= 0 ? &w.layers[t.layer] : nullptr;
    std::visit(
        [&](auto member) {
          using Member = decltype(member);
          if constexpr (std::is_same_v<Member, WeightMatrix ModelWeights::*>) {
            w.*member = AsMatrix(t);
          } else if constexpr (std::is_same_v<Member, std::vector<float> ModelWeights::*>) {
            w.*member = EffectiveGain(t);
          } else if constexpr (std::is_same_v<Member, WeightMatrix LayerWeights::*>) {
            layer->*member = AsMatrix(t);
          } else if constexpr (std::is_same_v<Member, std::vector<WeightMatrix> LayerWeights::*>) {
            layer->*member = ExpertSlices(t);
          } else if constexpr (std::is_same_v<Member, std::vector<WeightMatrix> ModelWeights::*>) {
            if (t.shape.size() == 3) {
              w.*member = ExpertSlices(t);
            } else {
              (w.*member).push_back(AsMatrix(t));
            }
          } else {
            layer->*member = EffectiveGain(t);
          }
        },
        t.row->member);
  }
  // Tied: the head multiplies by the embedding's rows.
  if (w.output_head.data == nullptr) w.output_head = w.embedding;
  // AltUp: one projection per stream but the active one, each way (HF
  // checkpoints store them apart, GGUF as one 3-D tensor).
  const size_t streams = spec.altup_num_inputs > 0 ? spec.altup_num_inputs - 1 : 0;
  if (w.altup_projections.size() != streams || w.altup_unembed_projections.size() != streams) {
    Fail(source.path, ": expected ", streams,
         " AltUp projections each way ('altup_proj.weight' / 'altup_unembd_proj.weight', or "
         "'altup_projections.N.weight' / 'altup_unembed_projections.N.weight'), found ",
         w.altup_projections.size(), " and ", w.altup_unembed_projections.size());
  }
  return w;
}

namespace {

// Every matrix the forward pass multiplies by (the embedding is only looked
// up by row; a tied output head is the same bytes, listed as the head).
template <class Weights>  // ModelWeights or const ModelWeights
auto MultipliedMatrices(Weights& weights) {
  using Matrix = std::conditional_t<std::is_const_v<Weights>, const WeightMatrix, WeightMatrix>;
  std::vector<Matrix*> matrices = {&weights.output_head, &weights.per_layer_model_projection};
  for (Matrix& m : weights.altup_projections) matrices.push_back(&m);
  for (Matrix& m : weights.altup_unembed_projections) matrices.push_back(&m);
  for (auto& l : weights.layers) {
    for (Matrix* m :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj,
          &l.per_layer_input_gate, &l.per_layer_projection, &l.laurel_left, &l.laurel_right}) {
      matrices.push_back(m);
    }
    for (Matrix& m : l.expert_gate_up) matrices.push_back(&m);
    for (Matrix& m : l.expert_down) matrices.push_back(&m);
  }
  return matrices;
}

// Each matrix starts on its own page inside the arena: aligned for any
// vector load, and at most 4 KiB of padding per matrix.
constexpr size_t kArenaAlignment = 4096;

// Groups per pool task while packing, and bytes per file read within one.
constexpr size_t kPackGrain = 64;
constexpr size_t kPackReadBytes = size_t{1} << 20;

// Packs groups [g0, g1) of m into out (the whole packed copy) from its rows
// read into a buffer with file reads (CopyRows), not through the mapping:
// faults there map whole page-cache folios (up to 2 MiB), and the small
// tensors between matrices would stay resident around them (docs/kernels.md,
// "Peak RSS"). The buffer lives for the call only, so nothing of it stays.
void PackFromFileReads(const WeightMatrix& m, int64_t g0, int64_t g1, uint8_t* out) {
  WeightMatrix one_group = m;
  one_group.rows = kPackRows;
  const size_t group_bytes = PackedBytes(one_group);
  const size_t group_file_bytes = kPackRows * m.row_bytes;
  const auto per_read =
      static_cast<int64_t>(std::max<size_t>(1, kPackReadBytes / group_file_bytes));
  const auto buffer = std::make_unique<uint8_t[]>(static_cast<size_t>(std::min(per_read, g1 - g0)) *
                                                  group_file_bytes);
  for (int64_t g = g0; g < g1; g += per_read) {
    const int64_t count = std::min(per_read, g1 - g);
    const int64_t r0 = g * kPackRows;
    const int64_t rows = std::min(count * kPackRows, m.rows - r0);
    CopyRows(m, r0, rows, buffer.get());
    WeightMatrix chunk = m;
    chunk.data = buffer.get();
    chunk.rows = rows;
    chunk.file = nullptr;
    PackGroups(chunk, 0, count, out + static_cast<size_t>(g) * group_bytes);
  }
}

}  // namespace

size_t PackWeightsForKernels(const ModelSource& source, ModelWeights& weights, ThreadPool& pool) {
  // One arena for every packed matrix, so that huge pages round only its end
  // (a buffer per matrix rounded each to 2 MiB: 300 MiB more for Gemma 3 1B).
  std::vector<std::pair<WeightMatrix*, size_t>> planned;  // matrix, offset in the arena
  size_t total = 0;
  for (WeightMatrix* m : MultipliedMatrices(weights)) {
    // Absent (K = V or KV-sharing layers, no per-layer inputs).
    if (m->data == nullptr || !PackedMatMulSupports(*m)) continue;
    planned.emplace_back(m, total);
    total += (PackedBytes(*m) + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  }
  if (planned.empty()) return 0;
  weights.packed = AllocateHugeBuffer(total);
  if (!weights.packed) {
    FailWith(StatusCode::kResourceExhausted, source.path, ": out of memory repacking the weights (",
             total >> 20, " MiB; --exact uses the file's layout and needs no copy)");
  }
  weights.packed_bytes = total;
  // Not a structured binding: clang before 16 cannot capture one in a lambda.
  for (const auto& plan : planned) {
    WeightMatrix* const m = plan.first;
    uint8_t* out = weights.packed.get() + plan.second;
    const int64_t groups = (m->rows + kPackRows - 1) / kPackRows;
    pool.ParallelFor(static_cast<size_t>(groups), kPackGrain, [&](size_t g0, size_t g1, int) {
      PackFromFileReads(*m, static_cast<int64_t>(g0), static_cast<int64_t>(g1), out);
    });
    m->packed = out;
  }
  return total;
}

size_t MappedBytesReadPerToken(const ModelWeights& weights) {
  std::vector<const void*> counted;
  size_t total = 0;
  for (const WeightMatrix* m : MultipliedMatrices(weights)) {
    if (m->packed != nullptr || m->data == nullptr) continue;
    if (std::find(counted.begin(), counted.end(), m->data) != counted.end()) continue;
    counted.push_back(m->data);
    total += m->row_bytes * static_cast<size_t>(m->rows);
  }
  return total;
}

size_t MappedRowLookupBytes(const ModelWeights& weights) {
  auto bytes = [](const WeightMatrix& m) { return m.row_bytes * static_cast<size_t>(m.rows); };
  size_t total = bytes(weights.per_layer_embedding);
  if (weights.embedding.data != weights.output_head.data) total += bytes(weights.embedding);
  return total;
}

}  // namespace gemma
