// gemma perplexity: perplexity of a text file in chunks of --ctx tokens (as
// llama-perplexity: each chunk starts with BOS and only its second half is
// scored), and with --kl-base the KL divergence and top-1 agreement against
// another model's (or another KV type's) saved distributions. The tool to
// judge a quantization or a KV cache type.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "gemma/tools.h"

namespace gemma::cli {
namespace {

constexpr char kMagic[8] = {'G', 'E', 'M', 'M', 'A', 'K', 'L', '1'};
constexpr int kMinPerplexityContext = 3;

// Scored positions' log-probabilities, stored as f16 (as llama.cpp keeps its
// KL base compact); the token ids let a comparison check it saw the same text.
struct KlBase {
  int32_t vocab = 0;
  int32_t ctx = 0;
  std::vector<int32_t> tokens;
  std::vector<uint16_t> log_probs;  // [positions, vocab]
};

bool WriteKlBase(const std::string& path, const KlBase& base) {
  std::ofstream out(path, std::ios::binary);
  const int64_t positions = static_cast<int64_t>(base.log_probs.size() / base.vocab);
  const int64_t n_tokens = static_cast<int64_t>(base.tokens.size());
  out.write(kMagic, 8);
  out.write(reinterpret_cast<const char*>(&base.vocab), 4);
  out.write(reinterpret_cast<const char*>(&base.ctx), 4);
  out.write(reinterpret_cast<const char*>(&n_tokens), 8);
  out.write(reinterpret_cast<const char*>(&positions), 8);
  out.write(reinterpret_cast<const char*>(base.tokens.data()), n_tokens * 4);
  out.write(reinterpret_cast<const char*>(base.log_probs.data()),
            static_cast<std::streamsize>(base.log_probs.size() * 2));
  return static_cast<bool>(out);
}

bool ReadKlBase(const std::string& path, KlBase& base, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  int64_t n_tokens = 0, positions = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&base.vocab), 4);
  in.read(reinterpret_cast<char*>(&base.ctx), 4);
  in.read(reinterpret_cast<char*>(&n_tokens), 8);
  in.read(reinterpret_cast<char*>(&positions), 8);
  if (!in || std::memcmp(magic, kMagic, 8) != 0 || base.vocab <= 0 || n_tokens < 0 ||
      positions < 0) {
    error = path + ": not a gemma KL base file";
    return false;
  }
  const uint64_t expected =
      32 + static_cast<uint64_t>(n_tokens) * 4 +
      static_cast<uint64_t>(positions) * static_cast<uint64_t>(base.vocab) * 2;
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) != expected || ec) {
    error = path + ": truncated or corrupt KL base file";
    return false;
  }
  base.tokens.resize(n_tokens);
  base.log_probs.resize(static_cast<size_t>(positions) * base.vocab);
  in.read(reinterpret_cast<char*>(base.tokens.data()), n_tokens * 4);
  in.read(reinterpret_cast<char*>(base.log_probs.data()),
          static_cast<std::streamsize>(base.log_probs.size() * 2));
  return static_cast<bool>(in);
}

void LogSoftmax(std::span<const float> logits, std::vector<double>& out) {
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(l - max);
  const double log_sum = max + std::log(sum);
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_sum;
}

}  // namespace

Command RegisterPerplexity(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string text_file;
    std::string kl_base;
    int max_chunks = 0;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app);
  flags->model.context = 512;
  app.get_option("--ctx")->description("tokens per chunk")->default_str("512");
  app.add_option("-f,--file", flags->text_file, "text file to score")->required();
  app.add_option("--kl-base", flags->kl_base,
                 "file of reference distributions: written if it does not exist, else compared "
                 "against (KL divergence, top-1 agreement)");
  app.add_option("--chunks", flags->max_chunks, "score at most this many chunks (0: all)")
      ->check(NumberIn(0, INT_MAX, "use 0 (all) or a number of chunks"));
  return [flags]() {
    // Each chunk scores its second half: positions ctx/2 .. ctx-2 predict
    // the next token, so a chunk of fewer than 3 tokens scores nothing.
    if (flags->model.context != 0 && flags->model.context < kMinPerplexityContext) {
      std::cerr << "error: --ctx " << flags->model.context
                << " is too small to score anything: each chunk scores the tokens of its "
                   "second half, so use --ctx "
                << kMinPerplexityContext << " or more (512 is usual)\n";
      return 1;
    }
    // stat() first: a FIFO would block the reads below.
    if (const std::string error = InputFileError(flags->text_file, "text file", false);
        !error.empty()) {
      std::cerr << "error: " << error << "\n";
      return 1;
    }
    bool base_exists = false;
    if (!flags->kl_base.empty()) {
      if (const std::string error =
              InputFileError(flags->kl_base, "KL base file", /*may_be_missing=*/true, &base_exists);
          !error.empty()) {
        std::cerr << "error: " << error << "\n";
        return 1;
      }
    }
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    std::ifstream in(flags->text_file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    const std::vector<int32_t> tokens = model->Tokenize(text, false, false);
    const int ctx = model->info().active_context;
    if (ctx < kMinPerplexityContext) {
      std::cerr << "error: the context of " << ctx << " tokens is too small to score anything\n";
      return 1;
    }
    const int vocab = model->info().vocab_size;
    int chunks = static_cast<int>(tokens.size()) / ctx;
    if (flags->max_chunks > 0) chunks = std::min(chunks, flags->max_chunks);
    if (chunks == 0) {
      std::cerr << "error: the text has " << tokens.size() << " tokens; at least --ctx " << ctx
                << " are needed\n";
      return 1;
    }

    KlBase base;
    const bool compare = base_exists;
    if (compare) {
      std::string error;
      if (!ReadKlBase(flags->kl_base, base, error)) {
        std::cerr << "error: " << error << "\n";
        return 1;
      }
      const std::vector<int32_t> used(tokens.begin(),
                                      tokens.begin() + static_cast<size_t>(chunks) * ctx);
      if (base.vocab != vocab || base.ctx != ctx || base.tokens != used) {
        std::cerr << "error: " << flags->kl_base
                  << " was made with another vocabulary, --ctx or text\n";
        return 1;
      }
    } else {
      base.vocab = vocab;
      base.ctx = ctx;
      base.tokens.assign(tokens.begin(), tokens.begin() + static_cast<size_t>(chunks) * ctx);
    }

    Session session(*model);
    const int first_scored = ctx / 2;
    double nll = 0, kl_sum = 0;
    int64_t scored = 0, top1_agree = 0;
    std::vector<double> log_probs;
    std::vector<float> logits;
    size_t base_row = 0;
    for (int c = 0; c < chunks; ++c) {
      std::vector<int32_t> chunk(tokens.begin() + static_cast<size_t>(c) * ctx,
                                 tokens.begin() + static_cast<size_t>(c + 1) * ctx);
      chunk[0] = model->tokenizer_bos();  // as llama-perplexity: every chunk starts with BOS
      session.Reset();
      const Status status = session.Append(chunk, &logits);
      if (!status.ok()) {
        std::cerr << "error: " << status.message() << "\n";
        return 1;
      }
      for (int i = first_scored; i + 1 < ctx; ++i) {
        LogSoftmax(std::span<const float>(&logits[static_cast<size_t>(i) * vocab], vocab),
                   log_probs);
        nll -= log_probs[chunk[i + 1]];
        ++scored;
        if (compare) {
          const uint16_t* ref = &base.log_probs[base_row++ * vocab];
          double kl = 0;
          int ref_best = 0, our_best = 0;
          for (int v = 0; v < vocab; ++v) {
            const double lp = Float16ToFloat32(ref[v]);
            kl += std::exp(lp) * (lp - log_probs[v]);
            if (lp > Float16ToFloat32(ref[ref_best])) ref_best = v;
            if (log_probs[v] > log_probs[our_best]) our_best = v;
          }
          kl_sum += kl;
          top1_agree += ref_best == our_best;
        } else if (!flags->kl_base.empty()) {
          for (int v = 0; v < vocab; ++v) {
            base.log_probs.push_back(
                Float32ToFloat16(static_cast<float>(std::max(log_probs[v], -60000.0))));
          }
        }
      }
      std::printf("[%d] ppl %.4f\n", c + 1, std::exp(nll / scored));
      std::fflush(stdout);
    }
    std::printf("perplexity: %.4f over %lld tokens (%d chunks of %d)\n", std::exp(nll / scored),
                static_cast<long long>(scored), chunks, ctx);
    if (compare) {
      std::printf("KL divergence vs %s: mean %.6f nats; top-1 agreement %.4f\n",
                  flags->kl_base.c_str(), kl_sum / scored,
                  static_cast<double>(top1_agree) / scored);
    } else if (!flags->kl_base.empty()) {
      if (!WriteKlBase(flags->kl_base, base)) {
        std::cerr << "error: cannot write " << flags->kl_base << "\n";
        return 1;
      }
      std::printf("saved the distributions to %s\n", flags->kl_base.c_str());
    }
    return 0;
  };
}

}  // namespace gemma::cli
