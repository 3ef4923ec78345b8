#include "model/matformer.h"

#include <algorithm>
#include <charconv>

#include "base/error.h"

namespace gemma {
namespace {

int ParseNumber(std::string_view text, std::string_view what) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    Fail("MatFormer: ", what, " \"", text, "\" is not a whole number");
  }
  return value;
}

std::vector<std::string_view> Split(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find_first_of(separators, begin), text.size());
    if (end > begin) parts.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

}  // namespace

MatFormerPlan ParseMatFormerPlan(std::string_view text, const ModelSpec& spec) {
  const int L = spec.num_layers();
  MatFormerPlan plan;
  if (text == "e2b" || text == "E2B") {
    // The official E2B (spec model-configs.md): 30 of E4B's 35 layers, every
    // feed-forward network at 8192 units.
    if (L != 35) Fail("MatFormer: \"e2b\" slices a 35-layer Gemma 3n E4B; this model has ", L);
    plan.ffn_widths.assign(L, 8192);
    plan.skipped_layers = {20, 21, 22, 23, 24};
    return plan;
  }
  bool any = false;
  for (std::string_view part : Split(text, " ;")) {
    any = true;
    const size_t eq = part.find('=');
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    if (key == "ffn") {
      const std::vector<std::string_view> widths = Split(value, ",");
      if (widths.size() != 1 && widths.size() != static_cast<size_t>(L)) {
        Fail("MatFormer: ffn= takes one width or one per layer (", L, "), not ", widths.size());
      }
      plan.ffn_widths.clear();
      for (std::string_view w : widths) plan.ffn_widths.push_back(ParseNumber(w, "width"));
      if (plan.ffn_widths.size() == 1) plan.ffn_widths.assign(L, plan.ffn_widths[0]);
    } else if (key == "skip") {
      for (std::string_view item : Split(value, ",")) {
        const size_t dash = item.find('-');
        const int first = ParseNumber(item.substr(0, dash), "layer");
        const int last =
            dash == std::string_view::npos ? first : ParseNumber(item.substr(dash + 1), "layer");
        if (first < 0 || last < first || last >= L) {
          Fail("MatFormer: skipped layers \"", item, "\" are not within 0..", L - 1);
        }
        for (int layer = first; layer <= last; ++layer) plan.skipped_layers.push_back(layer);
      }
    } else {
      Fail("MatFormer: unknown part \"", part,
           "\" (use e2b, or ffn=WIDTH[,WIDTH...] and skip=LAYERS, e.g. \"ffn=8192 skip=20-24\")");
    }
  }
  if (!any) Fail("MatFormer: empty configuration");
  std::sort(plan.skipped_layers.begin(), plan.skipped_layers.end());
  plan.skipped_layers.erase(std::unique(plan.skipped_layers.begin(), plan.skipped_layers.end()),
                            plan.skipped_layers.end());
  return plan;
}

void ApplyMatFormer(const MatFormerPlan& plan, ModelSpec& spec, ModelWeights& weights) {
  if (plan.empty()) return;
  if (spec.altup_num_inputs == 0) {
    Fail(
        "MatFormer slicing applies to Gemma 3n models (trained with nested feed-forward "
        "widths); this is a ",
        spec.architecture, " model");
  }
  const int L = spec.num_layers();
  if (!plan.ffn_widths.empty()) {
    if (plan.ffn_widths.size() != static_cast<size_t>(L)) {
      Fail("MatFormer: ", plan.ffn_widths.size(), " widths for ", L, " layers");
    }
    for (int i = 0; i < L; ++i) {
      const int width = plan.ffn_widths[i];
      LayerSpec& l = spec.layers[i];
      LayerWeights& w = weights.layers[i];
      if (width <= 0 || width > l.intermediate_size) {
        Fail("MatFormer: layer ", i, "'s feed-forward width ", width, " is not within 1..",
             l.intermediate_size);
      }
      // The down projection keeps its first `width` columns: whole blocks.
      const int block = static_cast<int>(Info(w.down_proj.type).block_elems);
      if (width % block != 0) {
        Fail("MatFormer: layer ", i, "'s feed-forward width ", width, " is not a multiple of ",
             block, " (the ", Name(w.down_proj.type), " block of its down projection)");
      }
      l.intermediate_size = width;
      w.gate_proj.rows = width;
      w.up_proj.rows = width;
      w.down_proj.cols = width;  // row_bytes keeps the file's row stride
    }
  }
  if (!plan.skipped_layers.empty()) {
    std::vector<int> new_index(L, -1);
    int kept = 0;
    for (int i = 0; i < L; ++i) {
      if (!std::binary_search(plan.skipped_layers.begin(), plan.skipped_layers.end(), i)) {
        new_index[i] = kept++;
      }
    }
    if (kept == 0) Fail("MatFormer: every layer is skipped");
    std::vector<LayerSpec> layers;
    std::vector<LayerWeights> layer_weights;
    for (int i = 0; i < L; ++i) {
      if (new_index[i] < 0) continue;
      LayerSpec l = spec.layers[i];
      if (l.kv_source_layer >= 0) {
        if (new_index[l.kv_source_layer] < 0) {
          Fail("MatFormer: layer ", i, " reads the keys and values of layer ", l.kv_source_layer,
               ", which cannot be skipped");
        }
        l.kv_source_layer = new_index[l.kv_source_layer];
      }
      // per_layer_input_slot stays: the tables keep every layer's slice.
      layers.push_back(l);
      layer_weights.push_back(std::move(weights.layers[i]));
    }
    spec.layers = std::move(layers);
    weights.layers = std::move(layer_weights);
  }
  spec.Validate("MatFormer slicing");
}

std::string DescribeMatFormerPlan(const MatFormerPlan& plan) {
  std::string out;
  for (size_t i = 0; i < plan.ffn_widths.size();) {
    size_t j = i;
    while (j < plan.ffn_widths.size() && plan.ffn_widths[j] == plan.ffn_widths[i]) ++j;
    out += out.empty() ? "ffn " : ", ";
    out += std::to_string(plan.ffn_widths[i]);
    out += " x";
    out += std::to_string(j - i);
    i = j;
  }
  for (size_t i = 0; i < plan.skipped_layers.size();) {
    size_t j = i;
    while (j + 1 < plan.skipped_layers.size() &&
           plan.skipped_layers[j + 1] == plan.skipped_layers[j] + 1) {
      ++j;
    }
    out += i == 0 ? (out.empty() ? "skipped layers " : "; skipped layers ") : ",";
    out += std::to_string(plan.skipped_layers[i]);
    if (j > i) {
      out += "-";
      out += std::to_string(plan.skipped_layers[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace gemma
