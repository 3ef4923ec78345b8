#include "stage_dump.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace gemma::cli {
namespace {

std::string FileName(const StageRecorder::Stage& s) {
  if (s.layer < 0) return s.name + ".f32";
  char layer[32];
  std::snprintf(layer, sizeof layer, "layer%03d.", s.layer);
  return layer + s.name + ".f32";
}

std::vector<float> ReadF32(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    error = "cannot open " + path;
    return {};
  }
  const std::streamoff bytes = in.tellg();
  if (bytes <= 0 || bytes % 4 != 0) {
    error = path + ": " + std::to_string(bytes) + " bytes is not a whole number of f32 values";
    return {};
  }
  std::vector<float> values(static_cast<size_t>(bytes) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), bytes);
  if (!in) error = "cannot read " + path;
  return values;
}

}  // namespace

void StageRecorder::Observe(const StageValues& v) {
  const auto key = std::make_pair(v.layer, std::string(v.stage));
  auto [it, added] = index_.try_emplace(key, stages_.size());
  if (added) {
    stages_.push_back(Stage{key.second, v.layer, v.first_position, 0, v.width, {}});
  }
  Stage& s = stages_[it->second];
  s.rows += v.rows;
  s.values.insert(s.values.end(), v.values.begin(), v.values.end());
}

const StageRecorder::Stage* StageRecorder::Find(const std::string& name, int layer) const {
  const auto it = index_.find({layer, name});
  return it == index_.end() ? nullptr : &stages_[it->second];
}

std::string StageRecorder::Write(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir + ": " + ec.message();
  nlohmann::ordered_json index = nlohmann::ordered_json::array();
  for (const Stage& s : stages_) {
    const std::string file = FileName(s);
    std::ofstream out(std::filesystem::path(dir) / file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(s.values.data()),
              static_cast<std::streamsize>(s.values.size() * sizeof(float)));
    out.close();
    if (!out) return "cannot write " + (std::filesystem::path(dir) / file).string();
    index.push_back({{"stage", s.name},
                     {"layer", s.layer},
                     {"first_position", s.first_position},
                     {"shape", {s.rows, s.width}},
                     {"file", file}});
  }
  std::ofstream out(std::filesystem::path(dir) / "stages.json");
  out << index.dump(1) << "\n";
  out.close();
  if (!out) return "cannot write " + (std::filesystem::path(dir) / "stages.json").string();
  return "";
}

int StageRecorder::CompareHidden(const std::string& path, int num_layers, double tolerance,
                                 std::ostream& out, std::ostream& err) const {
  const Stage* embedding = Find("embedding", -1);
  if (embedding == nullptr) {
    err << "error: no embedding stage was recorded\n";
    return 1;
  }
  std::string error;
  const std::vector<float> reference = ReadF32(path, error);
  if (!error.empty()) {
    err << "error: " << error << "\n";
    return 1;
  }
  const size_t rows = static_cast<size_t>(embedding->rows);
  const size_t stage_size = rows * static_cast<size_t>(embedding->width);
  const size_t stages = reference.size() / stage_size;
  const size_t L = static_cast<size_t>(num_layers);
  if (reference.size() % stage_size != 0 || (stages != L + 1 && stages != L + 2)) {
    err << "error: " << path << " holds " << reference.size() << " values; expected [" << L + 1
        << " or " << L + 2 << ", " << rows << ", " << embedding->width
        << "] (stages x tokens x hidden)\n";
    return 1;
  }
  std::vector<std::pair<std::string, const Stage*>> ours = {{"embedding", embedding}};
  for (int l = 0; l < num_layers; ++l) {
    ours.emplace_back("layer " + std::to_string(l) + " output", Find("layer_out", l));
  }
  if (stages == L + 2) ours.emplace_back("final norm", Find("final_norm", -1));
  bool passed = true;
  out << "stage                 max |diff|   relative (to the stage's largest value)\n";
  for (size_t s = 0; s < stages; ++s) {
    const Stage* stage = ours[s].second;
    if (stage == nullptr || stage->values.size() != stage_size) {
      err << "error: " << ours[s].first << " was not recorded for every token\n";
      return 1;
    }
    double diff = 0, scale = 0;
    for (size_t i = 0; i < stage_size; ++i) {
      const double expected = reference[s * stage_size + i];
      diff = std::max(diff, std::fabs(static_cast<double>(stage->values[i]) - expected));
      scale = std::max(scale, std::fabs(expected));
    }
    const double relative = scale > 0 ? diff / scale : diff;
    // NaN compares false: a stage with NaN fails too.
    const bool within = relative <= tolerance;
    char line[160];
    std::snprintf(line, sizeof line, "%-20s %11.3e   %11.3e%s\n", ours[s].first.c_str(), diff,
                  relative, within ? "" : (passed ? "   <- first above the tolerance" : ""));
    out << line;
    passed = passed && within;
  }
  return passed ? 0 : 2;
}

}  // namespace gemma::cli
