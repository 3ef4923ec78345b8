// gemma info: what a model file holds and what running it takes.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace gemma::cli {
namespace {

std::string Mib(size_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f MiB", bytes / 1048576.0);
  return buffer;
}

std::string Shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

Command RegisterInfo(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    bool json = false;
    bool tensors = true;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  app.add_flag("--json", flags->json, "print JSON");
  app.add_flag("!--no-tensors", flags->tensors, "omit the tensor list");
  return [flags]() {
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    const ModelInfo& i = model->info();
    if (flags->json) {
      nlohmann::json j = {{"path", i.path},
                          {"format", i.format},
                          {"architecture", i.architecture},
                          {"vocab_size", i.vocab_size},
                          {"hidden_size", i.hidden_size},
                          {"num_layers", i.num_layers},
                          {"num_attention_heads", i.num_attention_heads},
                          {"num_key_value_heads", i.num_key_value_heads},
                          {"head_dim", i.head_dim},
                          {"intermediate_size", i.intermediate_size},
                          {"context_length", i.context_length},
                          {"active_context", i.active_context},
                          {"sliding_window", i.sliding_window},
                          {"global_layers", i.global_layers},
                          {"query_scale", i.query_scale},
                          {"attn_logit_softcap", i.attn_logit_softcap},
                          {"final_logit_softcap", i.final_logit_softcap},
                          {"rope_theta_global", i.rope_theta_global},
                          {"rope_theta_local", i.rope_theta_local},
                          {"rope_linear_factor", i.rope_linear_factor},
                          {"weights_bytes", i.weights_bytes},
                          {"kv_cache_bytes", i.kv_cache_bytes},
                          {"kv_cache_type", i.kv_cache_type},
                          {"simd", i.simd},
                          {"packed_bytes", i.packed_bytes}};
      if (flags->tensors) {
        nlohmann::json list = nlohmann::json::array();
        for (const TensorSummary& t : i.tensors) {
          list.push_back(
              {{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.bytes}});
        }
        j["tensors"] = list;
      }
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::map<std::string, int> type_counts;
    for (const TensorSummary& t : i.tensors) ++type_counts[t.type];
    std::cout << "model:         " << i.path << " (" << i.format << ")\n"
              << "architecture:  " << i.architecture << "\n"
              << "vocab:         " << i.vocab_size << "\n"
              << "hidden:        " << i.hidden_size << "\n"
              << "layers:        " << i.num_layers << "\n"
              << "heads:         " << i.num_attention_heads << " query, " << i.num_key_value_heads
              << " key/value, head_dim " << i.head_dim << "\n"
              << "ffn:           " << i.intermediate_size << "\n"
              << "context:       " << i.context_length << " (allocated " << i.active_context
              << ")\n";
    if (i.sliding_window > 0) {
      std::cout << "sliding window " << i.sliding_window << "; global layers:";
      for (int l : i.global_layers) std::cout << " " << l;
      std::cout << "\n";
    }
    std::cout << "query scale:   " << i.query_scale << "\n";
    if (i.attn_logit_softcap > 0) std::cout << "attn softcap:  " << i.attn_logit_softcap << "\n";
    if (i.final_logit_softcap > 0) std::cout << "final softcap: " << i.final_logit_softcap << "\n";
    std::cout << "rope theta:    global " << i.rope_theta_global;
    if (i.rope_linear_factor != 1) std::cout << " (linear x" << i.rope_linear_factor << ")";
    if (i.rope_theta_local > 0) std::cout << ", local " << i.rope_theta_local;
    std::cout << "\n";
    std::cout << "tensor types: ";
    for (const auto& [type, count] : type_counts) std::cout << " " << type << ":" << count;
    std::cout << "\nmemory:        weights " << Mib(i.weights_bytes) << " (mmapped), KV cache "
              << Mib(i.kv_cache_bytes) << " (" << i.kv_cache_type << ") per session at "
              << i.active_context << " tokens\n"
              << "kernels:       " << i.simd << ", ";
    if (i.packed_bytes > 0) {
      std::cout << Mib(i.packed_bytes) << " of weights repacked\n";
    } else {
      std::cout << "file layout (float kernels)\n";
    }
    if (flags->tensors) {
      std::cout << "\ntensors:\n";
      for (const TensorSummary& t : i.tensors) {
        std::printf("  %-40s %-6s %-18s %s\n", t.name.c_str(), t.type.c_str(),
                    Shape(t.shape).c_str(), Mib(t.bytes).c_str());
      }
    }
    return 0;
  };
}

}  // namespace gemma::cli
