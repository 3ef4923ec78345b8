#include "server/constrain/partition_refinement.h"

#include <algorithm>
#include <numeric>

namespace gemma::constrain {
namespace {

// Elements 0..n-1 grouped into sets, each set a contiguous run of `elems_`.
// Mark() moves an element to the front of its set's run; Split() then cuts
// every set with marked elements in two, the smaller part taking a new id.
class RefinablePartition {
 public:
  // One set per run of equal keys (elements in key order).
  explicit RefinablePartition(const std::vector<int32_t>& keys) {
    const int32_t n = static_cast<int32_t>(keys.size());
    elems_.resize(n);
    std::iota(elems_.begin(), elems_.end(), 0);
    std::stable_sort(elems_.begin(), elems_.end(),
                     [&keys](int32_t a, int32_t b) { return keys[a] < keys[b]; });
    loc_.resize(n);
    set_of_.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      loc_[elems_[i]] = i;
      if (i == 0 || keys[elems_[i]] != keys[elems_[i - 1]]) {
        first_.push_back(i);
        past_.push_back(i);
        marked_.push_back(0);
      }
      set_of_[elems_[i]] = static_cast<int32_t>(first_.size()) - 1;
      past_.back() = i + 1;
    }
  }

  int32_t sets() const { return static_cast<int32_t>(first_.size()); }
  int32_t set_of(int32_t e) const { return set_of_[e]; }
  int32_t begin(int32_t s) const { return first_[s]; }
  int32_t end(int32_t s) const { return past_[s]; }
  int32_t at(int32_t i) const { return elems_[i]; }

  void Mark(int32_t e) {
    const int32_t s = set_of_[e];
    const int32_t i = loc_[e];
    const int32_t j = first_[s] + marked_[s];
    if (i < j) return;  // marked already
    std::swap(elems_[i], elems_[j]);
    loc_[elems_[i]] = i;
    loc_[elems_[j]] = j;
    if (marked_[s]++ == 0) touched_.push_back(s);
  }

  void Split() {
    for (const int32_t s : touched_) {
      const int32_t j = first_[s] + marked_[s];
      marked_[s] = 0;
      if (j == past_[s]) continue;  // every element marked: nothing to cut
      const auto z = static_cast<int32_t>(first_.size());
      if (j - first_[s] <= past_[s] - j) {  // the marked part is the smaller
        first_.push_back(first_[s]);
        past_.push_back(j);
        first_[s] = j;
      } else {
        first_.push_back(j);
        past_.push_back(past_[s]);
        past_[s] = j;
      }
      marked_.push_back(0);
      for (int32_t i = first_[z]; i < past_[z]; ++i) set_of_[elems_[i]] = z;
    }
    touched_.clear();
  }

 private:
  std::vector<int32_t> elems_, loc_, set_of_;
  std::vector<int32_t> first_, past_, marked_;
  std::vector<int32_t> touched_;
};

}  // namespace

std::vector<int32_t> CoarsestStablePartition(const std::vector<int32_t>& initial_class,
                                             const std::vector<LabelledTransition>& transitions) {
  const auto n = static_cast<int32_t>(initial_class.size());
  if (n == 0) return {};
  RefinablePartition blocks(initial_class);
  std::vector<int32_t> labels(transitions.size());
  for (size_t t = 0; t < transitions.size(); ++t) labels[t] = transitions[t].label;
  // Cords: transitions of one label whose targets lie in one block.
  RefinablePartition cords(labels);
  // Transitions into each state, as ranges of `incoming`.
  std::vector<int32_t> incoming_begin(n + 1, 0), incoming(transitions.size());
  for (const LabelledTransition& t : transitions) ++incoming_begin[t.to + 1];
  std::partial_sum(incoming_begin.begin(), incoming_begin.end(), incoming_begin.begin());
  {
    std::vector<int32_t> fill(incoming_begin.begin(), incoming_begin.end() - 1);
    for (size_t t = 0; t < transitions.size(); ++t) {
      incoming[fill[transitions[t].to]++] = static_cast<int32_t>(t);
    }
  }
  // Hopcroft's "all but one half": the blocks of the initial classes other
  // than the first, and the smaller part of every later split, are splitters;
  // the cords' labels stand for the block of all states.
  int32_t next_block = 1, next_cord = 0;
  while (next_cord < cords.sets()) {
    for (int32_t i = cords.begin(next_cord); i < cords.end(next_cord); ++i) {
      blocks.Mark(transitions[cords.at(i)].from);
    }
    blocks.Split();
    ++next_cord;
    for (; next_block < blocks.sets(); ++next_block) {
      for (int32_t i = blocks.begin(next_block); i < blocks.end(next_block); ++i) {
        const int32_t q = blocks.at(i);
        for (int32_t k = incoming_begin[q]; k < incoming_begin[q + 1]; ++k) cords.Mark(incoming[k]);
      }
      cords.Split();
    }
  }
  // Number the blocks by their first state.
  std::vector<int32_t> number(blocks.sets(), -1), out(n);
  int32_t next = 0;
  for (int32_t q = 0; q < n; ++q) {
    int32_t& id = number[blocks.set_of(q)];
    if (id < 0) id = next++;
    out[q] = id;
  }
  return out;
}

}  // namespace gemma::constrain
