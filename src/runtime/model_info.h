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

// Memory a session's forward pass allocates for a batch of `batch_size`
// tokens: the Transformer's activations (mirrored from its constructor), the
// logits a session keeps and the copy sampling makes, and the kernels'
// per-thread scratch. tests/unit/memory_report_test.cc measures it against
// what a session really allocates, so a change there shows up.
size_t SessionScratchBytes(const ModelSpec& spec, int batch_size, int threads);

// rss_at_open: ResidentSetBytes() when Model::Open began, so that what the
// load added besides the weights (tokenizer, metadata, norm gains) is
// measured rather than guessed. Several models loading at once in one
// process would each count the others' growth.
void DescribeLoad(const Model::Impl& model, const ModelOptions& options, size_t rss_at_open,
                  ModelInfo& info);

}  // namespace gemma
