// `gemma logits --dump-stages DIR` and `--compare-hidden FILE`: the forward
// pass's named intermediates (Session::set_stage_observer), written out or
// held against a reference's residual stream, so a mismatch can be traced to
// the layer and step where it begins.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gemma/gemma.h"

namespace gemma::cli {

// Every stage of the steps it observes, rows appended in order (a long
// prompt runs in several steps).
class StageRecorder {
 public:
  void Observe(const StageValues& values);

  struct Stage {
    std::string name;
    int layer = -1;
    int first_position = 0;
    int rows = 0, width = 0;
    std::vector<float> values;  // [rows, width]
  };
  // In the order each stage was first seen.
  const std::vector<Stage>& stages() const { return stages_; }
  const Stage* Find(const std::string& name, int layer) const;

  // Writes DIR/stages.json (each stage: name, layer, first position, rows,
  // width, file) and one raw little-endian f32 file per stage. Returns an
  // error message, or "" on success.
  std::string Write(const std::string& dir) const;

  // Holds the residual stream against a reference file of [S, T, H] f32:
  // S = L + 2 (the embedding, each layer's output, the final norm's output)
  // or L + 1 (without the final norm), T the prompt's tokens. Prints each
  // stage's largest difference relative to the reference stage's largest
  // value to `out` and marks the first above `tolerance`. Returns 0 when
  // every stage is within it, 2 when one is not, 1 (after saying why on
  // `err`) when the file cannot be read or does not fit.
  int CompareHidden(const std::string& path, int num_layers, double tolerance, std::ostream& out,
                    std::ostream& err) const;

 private:
  std::vector<Stage> stages_;
  std::map<std::pair<int, std::string>, size_t> index_;  // (layer, name) -> stages_
};

}  // namespace gemma::cli
