// The parts of ModelInfo that Describe (engine.cc) does not fill: the
// tokenizer, special and stop tokens, the chat template, resident memory and
// load warnings. Kept apart so the engine's call site is one line.
#pragma once

#include <cstddef>

#include "gemma/gemma.h"

namespace gemma {

struct ModelSpec;

// The process's resident set now (bytes, from /proc/self/statm; 0 where
// unavailable).
size_t ResidentSetBytes();

// The resident set split into anonymous memory (heap, the packed arena) and
// pages of mapped files (RssAnon / RssFile of /proc/self/status; zeros
// where unavailable).
struct ResidentSet {
  size_t anon = 0, file = 0;
};
ResidentSet ResidentSetParts();

// Memory the forward pass allocates for steps of up to `batch_size` rows.
struct ScratchBytes {
  // The model's executor (one per model, shared by its sessions): its
  // activations of one step, mirrored from Transformer's constructor, which
  // allocates (and zeroes) them at load.
  size_t activations = 0;
  // Each pool thread's kernel scratch, allocated at the first step: a step's
  // widest input in 8 bits with its block scales and sums (about 1.5 bytes a
  // value), and with experts on several threads each thread's expert rows.
  size_t kernels = 0;
  // A session's logits and the copy Sample filters.
  size_t logits = 0;
  size_t total() const { return activations + kernels + logits; }
};
// tests/unit/memory_report_test.cc measures these against what the executor
// and a first step really allocate, so a change there shows up.
ScratchBytes EstimateScratch(const ModelSpec& spec, int batch_size, int threads);

// rss_at_open: ResidentSetParts() when Model::Open began, so that what the
// load added besides the weights (tokenizer, metadata, norm gains) is
// measured rather than guessed. Several models loading at once in one
// process would each count the others' growth.
void DescribeLoad(const Model::Impl& model, const ModelOptions& options,
                  const ResidentSet& rss_at_open, ModelInfo& info);

}  // namespace gemma
