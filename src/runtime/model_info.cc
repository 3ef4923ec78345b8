#include "runtime/model_info.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/mapped_file.h"
#include "io/chat_template.h"
#include "model/transformer.h"
#include "runtime/engine_impl.h"
#include "runtime/limits.h"
#include "runtime/tokenizer_loader.h"

namespace gemma {

size_t ResidentSetBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long total_pages = 0, resident_pages = 0;
  const int read = std::fscanf(f, "%llu %llu", &total_pages, &resident_pages);
  std::fclose(f);
  if (read != 2) return 0;
  return static_cast<size_t>(resident_pages) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

ResidentSet ResidentSetParts() {
  ResidentSet rss;
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return rss;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "RssAnon: %llu kB", &kb) == 1) rss.anon = static_cast<size_t>(kb) << 10;
    if (std::sscanf(line, "RssFile: %llu kB", &kb) == 1) rss.file = static_cast<size_t>(kb) << 10;
  }
  std::fclose(f);
  return rss;
}

ScratchBytes EstimateScratch(const ModelSpec& spec, int batch_size, int threads) {
  size_t q_width = 0, kv_width = 0, ffn = 0;
  for (const LayerSpec& l : spec.layers) {
    q_width = std::max<size_t>(q_width, size_t{1} * l.num_attention_heads * l.head_dim);
    kv_width = std::max<size_t>(kv_width, size_t{1} * l.num_key_value_heads * l.head_dim);
    ffn = std::max<size_t>(ffn, l.intermediate_size);
  }
  const size_t hidden = spec.hidden_size;
  const size_t rows = static_cast<size_t>(batch_size);
  ScratchBytes s;
  // Transformer: x, normed, proj [n, H]; q, attn_out [n, q]; k, v [n, kv];
  // gate, up [n, F] in f32; positions and segments [n] in int.
  // Per-layer embeddings: inputs and projection [n, L*P], gate and
  // activation [n, P].
  const size_t ple = spec.per_layer_input_size;
  s.activations = rows *
                      (3 * hidden + 2 * q_width + 2 * kv_width + 2 * ffn +
                       2 * ple * spec.layers.size() + 2 * ple) *
                      sizeof(float) +
                  rows * 2 * sizeof(int);
  // Mixture of experts: the f32 routers [E, H] per layer; per row its k
  // choices (expert, weight, output [H]) and the choices bucketed by expert
  // (with E + 1 offsets, and the E experts' order), an expert's gathered rows in and
  // out [H] and gate/up, activation [3 Fe]; the branch's sum.
  size_t top_k = 0, expert_width = 0, experts = 0;
  for (const LayerSpec& l : spec.layers) {
    if (!l.moe()) continue;
    top_k = std::max<size_t>(top_k, l.num_experts_per_token);
    expert_width = std::max<size_t>(expert_width, l.expert_intermediate_size);
    experts = std::max<size_t>(experts, l.num_experts);
    s.activations += size_t{1} * l.num_experts * hidden * sizeof(float);
  }
  if (top_k > 0) {
    s.activations += rows * top_k * (sizeof(int) + (1 + hidden) * sizeof(float)) +
                     rows * top_k * sizeof(int) + (2 * experts + 1) * sizeof(int) +
                     rows * (2 * hidden + 3 * expert_width) * sizeof(float) +
                     rows * hidden * sizeof(float) + spec.layers.size() * experts * sizeof(int64_t);
  }
  // AltUp (Gemma 3n): the streams and their predictions [K, n, H]; LAuReL's
  // output [n, H] and middle [n, rank].
  size_t rank = 0;
  for (const LayerSpec& l : spec.layers) rank = std::max<size_t>(rank, l.laurel_rank);
  const size_t streams = spec.altup_num_inputs;
  s.activations +=
      (2 * streams * rows * hidden + (rank > 0 ? rows * (hidden + rank) : 0)) * sizeof(float);
  const size_t widest = std::max({hidden, q_width, ffn});
  s.kernels = static_cast<size_t>(std::max(threads, 1)) * rows * widest * 3 / 2;
  // Experts run side by side (threads > 1): each thread's rows of one expert
  // (Transformer::ThreadExpertBuffers).
  if (top_k > 0 && threads > 1) {
    s.kernels += static_cast<size_t>(threads) * Transformer::kExpertPieceRows *
                 (2 * hidden + 3 * expert_width) * sizeof(float);
  }
  s.logits = 2 * static_cast<size_t>(spec.vocab_size) * sizeof(float);
  return s;
}

void DescribeLoad(const Model::Impl& m, const ModelOptions& options, const ResidentSet& rss_at_open,
                  ModelInfo& info) {
  const Tokenizer& tokenizer = *m.tokenizer;
  info.tokenizer = TokenizerOrigin(m.source, options.tokenizer_path);
  info.tokenizer_vocab_size = tokenizer.vocab_size();
  info.bos_id = m.spec.bos_id;
  info.eos_id = m.spec.eos_id;
  info.bos_piece = tokenizer.IdToPiece(m.spec.bos_id);
  info.eos_piece = tokenizer.IdToPiece(m.spec.eos_id);
  for (int32_t id : m.end_ids) {
    info.stop_ids.push_back(id);
    info.stop_pieces.push_back(tokenizer.IdToPiece(id));
  }
  const ChatTemplate chat_template = ReadChatTemplate(m.source);
  info.chat_template = chat_template.text;
  info.chat_template_origin = chat_template.origin;

  info.mapped_weights_bytes = MappedBytesReadPerToken(m.weights);
  info.mapped_lookup_bytes = MappedRowLookupBytes(m.weights);
  // The packed arena and the KV cache are allocated in whole huge pages
  // (whole pages when smaller), which become resident whole.
  auto huge_pages = [](size_t bytes) { return HugeBufferBytes(bytes); };
  info.resident_weights_bytes = huge_pages(m.weights.packed_bytes) + info.mapped_weights_bytes;
  // What else the load made resident, measured. Anonymous memory: less the
  // arena (resident in full, every byte was written) and the executor's
  // activations (zeroed when it was made), both reported apart; the KV
  // memory is not touched yet. File pages: the load maps few (tensors are
  // read with file reads, the header's pages are released after parsing),
  // but those of the matrices a token reads in place fault in with their
  // page-cache folios, and mapped_weights_bytes counts those already; so
  // only what exceeds them is added.
  const ResidentSet now = ResidentSetParts();
  auto grown = [](size_t after, size_t before) { return after > before ? after - before : 0; };
  const ScratchBytes scratch = EstimateScratch(m.spec, m.batch_size, m.pool->num_threads());
  const size_t counted = huge_pages(m.weights.packed_bytes) + scratch.activations;
  const size_t anon = grown(now.anon, rss_at_open.anon);
  const size_t file = grown(now.file, rss_at_open.file);
  info.resident_other_bytes =
      (anon > counted ? anon - counted : 0) +
      (file > info.mapped_weights_bytes ? file - info.mapped_weights_bytes : 0);
  info.scratch_bytes = scratch.total();
  info.resident_bytes = info.resident_weights_bytes + info.resident_other_bytes +
                        huge_pages(info.kv_cache_bytes) + info.scratch_bytes;
  if (const ThreadChoice threads = ChooseThreadCount(options.threads); !threads.warning.empty()) {
    info.warnings.push_back(threads.warning);
  }
}

}  // namespace gemma
