// The unit of work of a forward step: rows of tokens from one or more
// sequences (as llama.cpp's llama_batch). Each sequence contributes one
// contiguous segment of rows at consecutive positions after the ones its KV
// memory holds; only the rows flagged for logits get them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "memory/kv_memory.h"
#include "model/attention.h"

namespace gemma {

struct Batch {
  std::vector<int32_t> tokens;             // one per row
  std::vector<AttentionSegment> segments;  // the rows of each sequence
  std::vector<int> logit_rows;             // rows whose logits are wanted, ascending

  int rows() const { return static_cast<int>(tokens.size()); }
  void Clear() {
    tokens.clear();
    segments.clear();
    logit_rows.clear();
  }
  // Appends `ids` as the next positions of `seq` (from seq.size()), wanting
  // logits for every row (all_logits) or for the last one (last_logits).
  void Add(const SequenceKv& seq, std::span<const int32_t> ids, bool last_logits,
           bool all_logits = false) {
    const int first = rows();
    segments.push_back({&seq, first, static_cast<int>(ids.size()), seq.size()});
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    if (all_logits) {
      for (int r = first; r < rows(); ++r) logit_rows.push_back(r);
    } else if (last_logits && !ids.empty()) {
      logit_rows.push_back(rows() - 1);
    }
  }
};

}  // namespace gemma
