// libgemma's public API: open a Gemma model (a .gguf file or a Hugging Face
// checkpoint folder), run sessions over it, chat with it.
//
//   auto model = gemma::Model::Open("gemma-3-1b-it-q4_0.gguf");
//   if (!model.ok()) { /* model.status().message() says why */ }
//   gemma::Chat chat(**model);
//   chat.Send("Hello!", {}, [](std::string_view piece) { std::cout << piece; return true; });
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gemma/sampling.h"
#include "gemma/status.h"

namespace gemma {

struct ModelOptions {
  int threads = 0;         // 0: one per core
  int context_length = 0;  // 0: the model's limit, capped at 8192
  // Element type of the KV cache: "auto" (default), "f32", "f16", "bf16", "q8_0",
  // "q4_0". auto: f32 for models with 16/32-bit float weights, f16 (llama.cpp's
  // default) for quantized ones; info().kv_cache_type says which. Attention
  // multiplies f32/f16 rows with f32 queries and probabilities.
  std::string kv_cache_type = "auto";
  // Most prompt tokens processed in one step (like llama.cpp's ubatch);
  // sliding-window layers keep window + batch_size - 1 cache slots.
  int batch_size = 256;
  // Sequences that run at the same time (sessions, or a server's requests);
  // each can reach context_length.
  int parallel = 1;
  // Positions of KV memory shared by all sequences; 0: context_length *
  // parallel (every sequence can be full at once). Less saves memory; a
  // sequence that does not fit then waits (server) or fails (Session).
  int64_t kv_size = 0;
  // Keep the sliding-window layers' blocks that a window has left, for a
  // while, so that a later prompt with the same beginning reuses them too (a
  // server wants this; a single conversation does not need it).
  bool prefix_cache = false;
  // Tokenizer to use instead of the model's own (a tokenizer.json or
  // tokenizer.model); needed for HF folders that ship neither.
  std::string tokenizer_path;
  // false (default): on CPUs with AVX2 or AVX-512 VNNI, repack Q4_0/Q4_1/Q5_0/Q5_1/
  // Q8_0/Q2_K..Q6_K (and, with AVX512_BF16, BF16) weights at load; activations
  // are rounded to 8-bit blocks for the integer dot products, as llama.cpp
  // does, and split into two bf16 values (hi + lo, ~16 bits) for the BF16
  // ones, which llama.cpp rounds to one; with AVX512_BF16 and a bf16 KV cache
  // (not the default), attention rounds queries and probabilities to bf16.
  // true keeps f32 activations everywhere: slower, but exact f32 arithmetic
  // on the file's weights (what the golden tests need). docs/numerics.md.
  bool exact = false;
  // MatFormer mix-n-match (Gemma 3n E4B): load a smaller nested model out
  // of the weights, e.g. "e2b" (the official E2B: every feed-forward width
  // 8192, layers 20-24 skipped) or "ffn=8192,16384,... skip=20-24" (one
  // width or one per layer; skipped layers and ranges). "" (default): the
  // whole model.
  std::string matformer;
  // SIMD code path: "" (default) picks the best this CPU runs; a Highway
  // target name ("AVX2", "AVX3_DL", "SCALAR") caps it, for the whole
  // process (to see what a CPU without AVX-512 runs). When empty, the
  // GEMMA_SIMD environment variable does the same.
  std::string simd;
};

struct TensorSummary {
  std::string name;
  std::string type;            // ggml type name, e.g. "q4_0", "bf16"
  std::vector<int64_t> shape;  // outermost first: {rows, cols}
  size_t bytes = 0;
};

// One decoder layer as the engine runs it (`gemma info` lists them).
struct LayerInfo {
  std::string attention;   // "global" or "sliding"
  int sliding_window = 0;  // keys a sliding layer sees, itself included; 0 for global
  int num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0, intermediate_size = 0;
  int kv_source_layer = -1;  // the earlier layer whose KV it attends over; -1: its own
  float query_scale = 0, rope_theta = 0, rope_linear_factor = 1;
  float rope_partial_factor = 1;  // the fraction of frequency pairs that rotate
  bool qk_norm = false;           // q/k RMSNorm per head
  bool value_norm = false;        // v RMSNorm per head (no gain)
  bool k_eq_v = false;            // V = the key projection (no v_proj)
  bool layer_scalar = false;      // output times a learned scalar
  bool per_layer_input = false;   // adds its per-layer embedding after the MLP
  // Mixture of experts beside the MLP: experts, experts per token (top-k)
  // and an expert's width; 0 experts: none.
  int num_experts = 0, num_experts_per_token = 0, expert_intermediate_size = 0;
  // Gemma 3n: AltUp streams it runs inside (0: none), its LAuReL rank (0:
  // none), and its MLP's activation sparsity cut-off in standard deviations
  // (activation_sparsity false: a plain MLP).
  int altup_streams = 0, laurel_rank = 0;
  bool activation_sparsity = false;
  float activation_sparsity_stddevs = 0;
};

struct ModelInfo {
  std::string path;
  std::string format;        // "gguf" or "safetensors"
  std::string architecture;  // "gemma", "gemma2", "gemma3", "gemma3n", "gemma4"
  int vocab_size = 0, hidden_size = 0, num_layers = 0;
  int num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0, intermediate_size = 0;
  int context_length = 0;          // the model's limit
  int active_context = 0;          // what this instance allocated
  int sliding_window = 0;          // 0: none
  std::vector<int> global_layers;  // the rest are sliding-window layers
  std::vector<LayerInfo> layers;   // per layer (the fields above are layer 0's)
  float query_scale = 0, attn_logit_softcap = 0, final_logit_softcap = 0;
  float rope_theta_global = 0, rope_theta_local = 0, rope_linear_factor = 1;
  size_t weights_bytes = 0;   // tensor bytes in the files (mmapped)
  size_t kv_cache_bytes = 0;  // the KV memory of all sequences (mapped; touched as used)
  std::string kv_cache_type;
  int threads = 0;
  std::string simd;         // SIMD code path in use, e.g. "AVX3_DL", "AVX2"
  size_t packed_bytes = 0;  // weights repacked at load for the integer kernels
  std::vector<TensorSummary> tensors;

  // Tokenizer and prompt format.
  std::string tokenizer;         // where the vocabulary comes from (a path, or the GGUF's metadata)
  int tokenizer_vocab_size = 0;  // its pieces (the embedding may have padding rows beyond)
  int bos_id = -1, eos_id = -1;
  std::string bos_piece, eos_piece;  // "<bos>", "<eos>"
  std::vector<int> stop_ids;  // ids that end an answer (<eos>, <end_of_turn>; Gemma 4: <turn|>...)
  std::vector<std::string> stop_pieces;
  // The turn format Chat renders: "gemma" (<start_of_turn>role ...; Gemma
  // 1-3n), "gemma4-small" or "gemma4-large" (<|turn>role ...; Gemma 4).
  std::string chat_format;
  // The Jinja chat template the model ships (GGUF tokenizer.chat_template,
  // or the HF folder's tokenizer_config.json / chat_template.jinja); "" if none.
  std::string chat_template;
  std::string chat_template_origin;  // the file (and key) it was read from

  // Resident memory (bytes): what stays in RAM while the model runs, so
  // that a short run's peak RSS comes close to resident_bytes (plus the
  // program itself).
  // The packed arena and the KV cache count in whole 2 MiB huge pages.
  size_t resident_weights_bytes = 0;  // the packed arena + mapped_weights_bytes
  size_t mapped_weights_bytes = 0;    // file pages of matrices read in full every token
  // Tables only looked up by row, left in the mapped file and not resident:
  // the per-layer embeddings (Gemma 3n/4), an untied embedding. A token
  // reads one row (a few pages) of them.
  size_t mapped_lookup_bytes = 0;
  size_t resident_other_bytes = 0;  // tokenizer, metadata, norms: measured growth at load
  size_t scratch_bytes = 0;   // the forward pass's buffers for one batch, and a session's logits
  size_t resident_bytes = 0;  // weights + other + the KV memory (kv_cache_bytes) + scratch

  // The MatFormer slicing applied (ModelOptions::matformer), e.g.
  // "ffn 8192 x35; skipped layers 20-24"; "" for the whole model.
  std::string matformer;

  std::vector<std::string> warnings;  // what Open adjusted (e.g. threads capped at the CPUs)
};

// One token of the vocabulary as generated text contains it.
struct VocabularyEntry {
  enum class Kind { kText, kByte, kControl };
  // kText: its UTF-8 text ("▁" as a space); kByte: the one raw byte of a
  // byte-fallback piece; kControl (control, unknown, unused): the piece's
  // name, e.g. "<end_of_turn>", never output text.
  std::string bytes;
  Kind kind = Kind::kText;
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Open(const std::string& path,
                                             const ModelOptions& options = {});
  ~Model();

  const ModelInfo& info() const;

  // Text -> ids (no BOS unless add_bos). parse_special: text like
  // "<start_of_turn>" becomes that control token.
  std::vector<int32_t> Tokenize(std::string_view text, bool add_bos = false,
                                bool parse_special = true) const;
  std::string Detokenize(const std::vector<int32_t>& ids) const;
  int32_t tokenizer_bos() const;
  // The id of a piece of the vocabulary ("<end_of_turn>"), or -1.
  int32_t PieceToId(std::string_view piece) const;
  // Every token id's entry (for constrained decoding).
  std::vector<VocabularyEntry> Vocabulary() const;
  // The ids that end a generation.
  const std::vector<int32_t>& EndOfGenerationIds() const;
  // Ids that end a generation (<eos>, <end_of_turn>).
  bool IsEndOfGeneration(int32_t id) const;

  struct Impl;

 private:
  friend struct ModelInternals;  // the library's own access to Impl
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One named intermediate of the forward pass: a debugging aid, to compare a
// run with a reference stage by stage and find the step where they part.
// docs/debugging.md lists the stages and their shapes.
struct StageValues {
  // "embedding", "per_layer_inputs", then per layer "attn_norm", "q", "k",
  // "v", "attn", "attn_out", "ffn_norm", "ffn_hidden", "ffn_out",
  // "layer_out" (and the generation's own: "per_layer_out", "ffn_dense",
  // "moe_norm", "moe_out", "laurel", "altup_active"), then "final_norm"
  // and "logits".
  std::string_view stage;
  int layer = -1;          // the decoder layer; -1 outside the layers
  int first_position = 0;  // the sequence position of the first row
  int rows = 0, width = 0;
  std::span<const float> values;  // [rows, width], row-major; valid during the call only
};
using StageObserver = std::function<void(const StageValues&)>;

// One sequence: a KV cache and the tokens in it. Not thread-safe; create one
// per concurrent conversation.
class Session {
 public:
  explicit Session(Model& model);
  ~Session();
  Session(Session&&) noexcept;

  // Runs tokens through the model after those already in the context. After
  // success, logits() is the next-token distribution. With all_logits, the
  // logits of every appended token ([n, vocab]) are written there.
  Status Append(std::span<const int32_t> tokens, std::vector<float>* all_logits = nullptr);
  std::span<const float> logits() const;
  // Draws the next token from logits() (penalties look at the context tokens).
  int32_t Sample(const SamplingParams& params);
  // Removes tokens after the first `n`, so that a shared prefix is reused.
  // Where sliding-window layers have since overwritten keys the prefix needs
  // (more than a batch of tokens ran past n), the prefix is prefilled again.
  void Truncate(int n);
  void Reset() { Truncate(0); }

  // From now on, every Append hands each stage of its forward steps to
  // `observer`, in the order they are computed, on the calling thread (a
  // long prompt runs in steps of ModelOptions::batch_size rows; the final
  // norm and logits cover the rows whose logits are wanted: the last, or
  // all with all_logits). The logits are the model's, before padding rows
  // are masked. An empty observer stops it.
  void set_stage_observer(StageObserver observer);

  // Saves the tokens, logits and KV cache (with `metadata`, opaque to us), and
  // loads them back. Load refuses a file made with another model or KV type
  // (the session is then unchanged); a corrupt file leaves it empty.
  Status Save(const std::string& path, const std::string& metadata = "") const;
  Status Load(const std::string& path, std::string* metadata = nullptr);

  const std::vector<int32_t>& tokens() const;
  int position() const;
  int capacity() const;

 private:
  void MaskPaddingRows(float* logits) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct GenerateOptions {
  SamplingParams sampling;
  int max_tokens = 512;  // new tokens per answer; -1: until the end of the turn or the context
  // When a new turn would not fit in the context: false stops with an error
  // (the conversation is kept); true drops the oldest turns and re-prefills
  // the rest.
  bool drop_oldest_turns = false;
};

struct TurnFormat;  // internal: the turn format's data (src/runtime/turn_format.h)

struct ChatOptions {
  std::string system_prompt;
  // Gemma 4's thinking mode: the model thinks in its thought channel before
  // it answers. Off by default, as in the model's chat template; formats
  // without a thinking mode ignore it.
  bool thinking = false;
  // The turn format; "" takes the model's own (ModelInfo::chat_format).
  // "gemma" (Gemma 1-3n), "gemma4-small" (Gemma 4 E2B/E4B), "gemma4-large"
  // (Gemma 4 12B and larger: an empty thought block when thinking is off).
  std::string format;
};

// Multi-turn chat in the model's turn format (spec tokenizer-and-prompts.md
// 7): Gemma 1-3n fold the system prompt into the first user turn; Gemma 4
// gives it a system turn and may think before answering. Each new turn
// prefills only its own tokens, reusing the KV cache of the conversation so
// far (Gemma 4 first rewrites the previous answer to what its template keeps
// in the history: the thoughts are dropped).
class Chat {
 public:
  explicit Chat(Model& model, std::string system_prompt = "");
  Chat(Model& model, ChatOptions options);

  // Streams the answer's text through on_text (return false to stop early).
  // Returns the whole answer. The model's thoughts (Gemma 4, thinking on) are
  // not part of it: they stream through on_thought if given, and are kept in
  // the turn's `thought`. An unknown or unsuitable ChatOptions::format is an
  // error here.
  Result<std::string> Send(std::string_view user_text, const GenerateOptions& options,
                           const std::function<bool(std::string_view)>& on_text);
  Result<std::string> Send(std::string_view user_text, const GenerateOptions& options,
                           const std::function<bool(std::string_view)>& on_text,
                           const std::function<bool(std::string_view)>& on_thought);
  void Reset();

  // Thinking on or off from the next turn on. With Gemma 4 the switch is in
  // the system turn, so a conversation under way is prefilled again.
  void set_thinking(bool on);
  bool thinking() const { return thinking_; }
  // Whether the format has a thinking mode (Gemma 4).
  bool supports_thinking() const;
  // The turn format in use: "gemma", "gemma4-small" or "gemma4-large".
  std::string_view format() const;

  // The conversation (turns and KV cache) to and from a file; Load refuses a
  // file made with another model, and takes the file's system prompt,
  // thinking mode and format.
  Status Save(const std::string& path) const;
  Status Load(const std::string& path);

  struct Turn {
    std::string user, model;
    std::string thought;  // Gemma 4 with thinking on; empty otherwise
  };
  const std::vector<Turn>& history() const { return history_; }
  Session& session() { return session_; }

 private:
  std::vector<int32_t> EncodeTurnsFrom(size_t first_turn) const;
  Status Rebuild(size_t first_turn, size_t reserve);
  std::vector<int32_t> CloseModelTurn();

  Model& model_;
  Session session_;
  std::string system_prompt_;
  const TurnFormat* format_;
  std::string format_error_;  // why ChatOptions::format cannot be used
  bool thinking_ = false;
  bool restart_ = false;  // thinking changed: prefill the conversation again
  std::vector<Turn> history_;
  bool turn_open_ = false;  // the model's last turn still lacks its close marker
  int answer_start_ = -1;   // where the last answer begins in the session
};

// Completion without the chat format: prompt text as is (plus one BOS).
Result<std::string> Complete(Model& model, std::string_view prompt, const GenerateOptions& options,
                             const std::function<bool(std::string_view)>& on_text);

}  // namespace gemma
