// gemma info: what a model file holds and what running it takes.
#include <algorithm>
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

// A layer's facts beyond its heads and widths, where it has them (Gemma 3n, 4).
std::string LayerExtras(const LayerInfo& l) {
  std::string s;
  if (l.rope_partial_factor != 1) {
    const int pairs = l.head_dim / 2;
    char rope[96];
    std::snprintf(rope, sizeof(rope), ", rope %g on %d/%d pairs", l.rope_theta,
                  static_cast<int>(l.rope_partial_factor * static_cast<float>(pairs)), pairs);
    s += rope;
  }
  if (l.k_eq_v) s += ", K = V";
  if (l.value_norm) s += ", v norm";
  if (l.layer_scalar) s += ", layer scalar";
  if (l.per_layer_input) s += ", per-layer input";
  if (l.altup_streams > 0) s += ", AltUp x" + std::to_string(l.altup_streams);
  if (l.laurel_rank > 0) s += ", LAuReL " + std::to_string(l.laurel_rank);
  if (l.activation_sparsity) {
    char sparse[64];
    std::snprintf(sparse, sizeof(sparse), ", sparse gate (mean + %.4g sd)",
                  l.activation_sparsity_stddevs);
    s += sparse;
  }
  if (l.num_experts > 0) {
    s += ", experts " + std::to_string(l.num_experts) + " top-" +
         std::to_string(l.num_experts_per_token) + " x " +
         std::to_string(l.expert_intermediate_size);
  }
  return s;
}

}  // namespace

Command RegisterInfo(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    bool json = false;
    bool tensors = true;
    bool template_text = false;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  app.add_flag("--json", flags->json, "print JSON");
  app.add_flag("!--no-tensors", flags->tensors, "omit the tensor list");
  app.add_flag("--template", flags->template_text, "print the chat template in full");
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
                          {"matformer", i.matformer},
                          {"threads", i.threads},
                          {"packed_bytes", i.packed_bytes},
                          {"tokenizer", i.tokenizer},
                          {"tokenizer_vocab_size", i.tokenizer_vocab_size},
                          {"bos", {{"id", i.bos_id}, {"piece", i.bos_piece}}},
                          {"eos", {{"id", i.eos_id}, {"piece", i.eos_piece}}},
                          {"stop_ids", i.stop_ids},
                          {"stop_pieces", i.stop_pieces},
                          {"chat_format", i.chat_format},
                          {"chat_template", i.chat_template},
                          {"chat_template_origin", i.chat_template_origin},
                          {"resident_bytes", i.resident_bytes},
                          {"resident_weights_bytes", i.resident_weights_bytes},
                          {"mapped_weights_bytes", i.mapped_weights_bytes},
                          {"mapped_lookup_bytes", i.mapped_lookup_bytes},
                          {"resident_other_bytes", i.resident_other_bytes},
                          {"scratch_bytes", i.scratch_bytes},
                          {"warnings", i.warnings}};
      for (const LayerInfo& l : i.layers) {
        j["layers"].push_back({{"attention", l.attention},
                               {"sliding_window", l.sliding_window},
                               {"num_attention_heads", l.num_attention_heads},
                               {"num_key_value_heads", l.num_key_value_heads},
                               {"head_dim", l.head_dim},
                               {"intermediate_size", l.intermediate_size},
                               {"kv_source_layer", l.kv_source_layer},
                               {"query_scale", l.query_scale},
                               {"rope_theta", l.rope_theta},
                               {"rope_linear_factor", l.rope_linear_factor},
                               {"rope_partial_factor", l.rope_partial_factor},
                               {"qk_norm", l.qk_norm},
                               {"value_norm", l.value_norm},
                               {"k_eq_v", l.k_eq_v},
                               {"layer_scalar", l.layer_scalar},
                               {"per_layer_input", l.per_layer_input},
                               {"num_experts", l.num_experts},
                               {"num_experts_per_token", l.num_experts_per_token},
                               {"expert_intermediate_size", l.expert_intermediate_size},
                               {"altup_streams", l.altup_streams},
                               {"laurel_rank", l.laurel_rank},
                               {"activation_sparsity", l.activation_sparsity},
                               {"activation_sparsity_stddevs", l.activation_sparsity_stddevs}});
      }
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
    if (!i.matformer.empty()) std::cout << "matformer:     " << i.matformer << "\n";
    std::cout << "query scale:   " << i.query_scale << "\n";
    if (i.attn_logit_softcap > 0) std::cout << "attn softcap:  " << i.attn_logit_softcap << "\n";
    if (i.final_logit_softcap > 0) std::cout << "final softcap: " << i.final_logit_softcap << "\n";
    std::cout << "rope theta:    global " << i.rope_theta_global;
    if (i.rope_linear_factor != 1) std::cout << " (linear x" << i.rope_linear_factor << ")";
    if (i.rope_theta_local > 0) std::cout << ", local " << i.rope_theta_local;
    std::cout << "\n";
    std::map<std::string, std::string> kinds;  // layers alike but for their index: one line
    for (size_t k = 0; k < i.layers.size(); ++k) {
      const LayerInfo& l = i.layers[k];
      kinds[l.attention + (l.sliding_window ? " " + std::to_string(l.sliding_window) : "") +
            ", heads " + std::to_string(l.num_attention_heads) + "/" +
            std::to_string(l.num_key_value_heads) + " x " + std::to_string(l.head_dim) + ", ffn " +
            std::to_string(l.intermediate_size) +
            (l.kv_source_layer >= 0 ? ", KV of " + std::to_string(l.kv_source_layer) : "") +
            LayerExtras(l)] += " " + std::to_string(k);
    }
    for (const auto& [kind, list] : kinds) std::cout << "layers" << list << ": " << kind << "\n";
    std::cout << "tensor types: ";
    for (const auto& [type, count] : type_counts) std::cout << " " << type << ":" << count;
    std::cout << "\ntokenizer:     " << i.tokenizer << ", " << i.tokenizer_vocab_size << " pieces\n"
              << "special:       BOS " << i.bos_id << " " << i.bos_piece << ", EOS " << i.eos_id
              << " " << i.eos_piece << "; an answer stops at";
    for (size_t k = 0; k < i.stop_ids.size(); ++k) {
      std::cout << (k ? "," : "") << " " << i.stop_ids[k] << " " << i.stop_pieces[k];
    }
    std::cout << "\nchat format:   " << i.chat_format
              << " turns (<start_of_turn>user ... <end_of_turn>), rendered by the engine\n"
              << "chat template: ";
    if (i.chat_template.empty()) {
      std::cout << "none in the model files\n";
    } else {
      std::cout << i.chat_template_origin << ", " << i.chat_template.size() << " bytes"
                << (flags->template_text ? ":\n" + i.chat_template + "\n"
                                         : " (--template prints it)\n");
    }
    std::cout << "file:          " << Mib(i.weights_bytes) << " of tensors (mapped)";
    if (i.mapped_lookup_bytes > 0) {
      std::cout << ", of which " << Mib(i.mapped_lookup_bytes)
                << " looked up by row (per-layer embeddings; not resident)";
    }
    std::cout << "\n"
              << "resident:      " << Mib(i.resident_bytes) << " with the KV cache full ("
              << Mib(i.resident_bytes - std::min(i.resident_bytes, i.kv_cache_bytes))
              << " before it fills): weights " << Mib(i.resident_weights_bytes) << " ("
              << Mib(i.packed_bytes) << " repacked, " << Mib(i.mapped_weights_bytes)
              << " read from the mapping), KV cache " << Mib(i.kv_cache_bytes) << " ("
              << i.kv_cache_type << ", " << i.active_context << " tokens), scratch "
              << Mib(i.scratch_bytes) << ", tokenizer and the rest " << Mib(i.resident_other_bytes)
              << "\n"
              << "kernels:       " << i.simd << ", " << i.threads << " threads, ";
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
