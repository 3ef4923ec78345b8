#include <algorithm>

#include "server/protocol/request_internal.h"

namespace gemma::protocol::request_internal {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxTools = 128;
constexpr size_t kMaxInputs = 2048;
constexpr int kMaxTokens = 1 << 30;

// Runs a nested Fields and keeps its first error in the outer one.
void Absorb(Fields& outer, const Fields& inner) {
  if (!inner.ok()) outer.Fail(inner.error());
}

std::string Index(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

bool ValidFunctionName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

void ParseContent(Fields& f, const json& content, const std::string& param, ChatMessage* out) {
  if (content.is_string()) {
    out->content = {content.get<std::string>()};
    return;
  }
  if (!content.is_array()) {
    f.Fail(InvalidRequest("'" + param + "' must be a string or an array of content parts, not " +
                              JsonTypeName(content),
                          param));
    return;
  }
  out->content_is_parts = true;
  for (size_t i = 0; i < content.size() && f.ok(); ++i) {
    const std::string part_param = Index(param, i);
    const json& part = content[i];
    Fields pf(part, part_param + ".");
    if (!part.is_object()) {
      f.Fail(InvalidRequest("'" + part_param + "' must be an object", part_param));
      return;
    }
    std::string type;
    pf.Require("type");
    pf.String("type", &type);
    if (pf.ok() && type == "text") {
      std::string text;
      pf.Require("text");
      pf.String("text", &text);
      out->content.push_back(std::move(text));
    } else if (pf.ok() && type == "refusal") {
      // An assistant's refusal in history: not model input.
    } else if (pf.ok()) {
      const bool media = type == "image_url" || type == "input_audio" || type == "image" ||
                         type == "file" || type == "input_image" || type == "video_url";
      pf.Fail(InvalidRequest(
          media ? "content parts of type '" + type + "' are not supported: this server takes text"
                : "unknown content part type '" + type + "'",
          part_param + ".type"));
    }
    Absorb(f, pf);
  }
}

void ParseToolCall(Fields& f, const json& call, const std::string& param, ToolCall* out) {
  if (!call.is_object()) {
    f.Fail(InvalidRequest("'" + param + "' must be an object", param));
    return;
  }
  Fields cf(call, param + ".");
  cf.String("id", &out->id);
  std::string type = "function";
  cf.String("type", &type);
  if (cf.ok() && type != "function") {
    cf.Fail(InvalidRequest("'" + param + ".type' must be \"function\"", param + ".type"));
  }
  const json* function = cf.Require("function");
  if (cf.ok() && !function->is_object()) {
    cf.Fail(InvalidRequest("'" + param + ".function' must be an object", param + ".function"));
  }
  if (cf.ok()) {
    Fields ff(*function, param + ".function.");
    ff.Require("name");
    ff.String("name", &out->name);
    if (const json* args = ff.Get("arguments")) {
      if (args->is_string()) {
        out->arguments = args->get<std::string>();
      } else if (args->is_object()) {  // Ollama sends an object
        out->arguments = DumpJson(*args);
      } else {
        ff.Fail(
            InvalidRequest("'" + param + ".function.arguments' must be a JSON string or an object",
                           param + ".function.arguments"));
      }
    }
    Absorb(cf, ff);
  }
  Absorb(f, cf);
}

void ParseMessage(Fields& top, const json& m, size_t index, Dialect dialect, ChatMessage* out) {
  const std::string param = Index("messages", index);
  if (!m.is_object()) {
    top.Fail(InvalidRequest("'" + param + "' must be an object", param));
    return;
  }
  Fields f(m, param + ".");
  std::string role;
  f.Require("role");
  f.String("role", &role);
  if (!f.ok()) {
    Absorb(top, f);
    return;
  }
  if (role == "system") {
    out->role = Role::kSystem;
  } else if (role == "developer") {
    out->role = Role::kDeveloper;
  } else if (role == "user") {
    out->role = Role::kUser;
  } else if (role == "assistant") {
    out->role = Role::kAssistant;
  } else if (role == "tool") {
    out->role = Role::kTool;
  } else {
    f.Fail(InvalidRequest("'" + param +
                              ".role' must be system, developer, user, assistant or "
                              "tool, not '" +
                              role + "'",
                          param + ".role"));
    Absorb(top, f);
    return;
  }

  if (const json* content = f.Get("content")) {
    ParseContent(f, *content, param + ".content", out);
  } else if (dialect == Dialect::kOpenAi && out->role != Role::kAssistant) {
    f.Fail(InvalidRequest("'" + param + ".content' is required", param + ".content"));
  }

  for (const char* key : {"reasoning_content", "reasoning", "thinking"}) {
    std::string reasoning;
    f.String(key, &reasoning);
    if (out->reasoning.empty()) out->reasoning = std::move(reasoning);
  }
  if (const json* calls = f.Get("tool_calls"); calls != nullptr && f.ok()) {
    if (!calls->is_array()) {
      f.Fail(InvalidRequest("'" + param + ".tool_calls' must be an array", param + ".tool_calls"));
    } else if (out->role == Role::kAssistant) {
      for (size_t i = 0; i < calls->size() && f.ok(); ++i) {
        ToolCall call;
        ParseToolCall(f, (*calls)[i], Index(param + ".tool_calls", i), &call);
        out->tool_calls.push_back(std::move(call));
      }
    }
  }
  f.String("tool_call_id", &out->tool_call_id);
  f.String("name", &out->name);
  f.String("tool_name", &out->name);  // Ollama
  if (const json* images = f.Get("images");
      images != nullptr && f.ok() && (!images->is_array() || !images->empty())) {
    f.Fail(
        InvalidRequest("image input is not supported: this server takes text", param + ".images"));
  }
  Absorb(top, f);
}

}  // namespace

void ParseMessages(Fields& fields, Dialect dialect, bool allow_empty,
                   std::vector<ChatMessage>* out) {
  const json* messages = allow_empty ? fields.Get("messages") : fields.Require("messages");
  if (!fields.ok() || messages == nullptr) return;
  if (!messages->is_array()) {
    fields.Fail(InvalidRequest(
        "'messages' must be an array, not " + std::string(JsonTypeName(*messages)), "messages"));
    return;
  }
  if (messages->empty() && !allow_empty) {
    fields.Fail(InvalidRequest("'messages' must contain at least one message", "messages"));
    return;
  }
  for (size_t i = 0; i < messages->size() && fields.ok(); ++i) {
    ChatMessage message;
    ParseMessage(fields, (*messages)[i], i, dialect, &message);
    out->push_back(std::move(message));
  }
}

void ParseTools(Fields& fields, std::vector<ToolDefinition>* out) {
  const json* tools = fields.Get("tools");
  if (!fields.ok() || tools == nullptr) return;
  if (!tools->is_array()) {
    fields.Fail(InvalidRequest("'tools' must be an array", "tools"));
    return;
  }
  if (tools->size() > kMaxTools) {
    fields.Fail(
        InvalidRequest("at most " + std::to_string(kMaxTools) + " tools are allowed", "tools"));
    return;
  }
  for (size_t i = 0; i < tools->size() && fields.ok(); ++i) {
    const std::string param = Index("tools", i);
    const json& tool = (*tools)[i];
    if (!tool.is_object()) {
      fields.Fail(InvalidRequest("'" + param + "' must be an object", param));
      return;
    }
    Fields tf(tool, param + ".");
    std::string type = "function";
    tf.String("type", &type);
    if (tf.ok() && type != "function") {
      tf.Fail(InvalidRequest("tools of type '" + type + "' are not supported; use \"function\"",
                             param + ".type"));
    }
    const json* function = tf.Require("function");
    if (tf.ok() && !function->is_object()) {
      tf.Fail(InvalidRequest("'" + param + ".function' must be an object", param + ".function"));
    }
    ToolDefinition definition;
    if (tf.ok()) {
      Fields ff(*function, param + ".function.");
      ff.Require("name");
      ff.String("name", &definition.name);
      if (ff.ok() && !ValidFunctionName(definition.name)) {
        ff.Fail(InvalidRequest("'" + param +
                                   ".function.name' must be 1 to 64 letters, digits, "
                                   "underscores, dots or dashes",
                               param + ".function.name"));
      }
      ff.String("description", &definition.description);
      if (const json* parameters = ff.Get("parameters"); parameters != nullptr && ff.ok()) {
        if (!parameters->is_object()) {
          ff.Fail(InvalidRequest("'" + param + ".function.parameters' must be a JSON schema object",
                                 param + ".function.parameters"));
        } else {
          definition.parameters = *parameters;
        }
      }
      std::optional<bool> strict;
      ff.Bool("strict", &strict);
      definition.function = *function;
      Absorb(tf, ff);
    }
    if (tf.ok()) {
      for (const ToolDefinition& earlier : *out) {
        if (earlier.name == definition.name) {
          tf.Fail(InvalidRequest("two tools are named '" + definition.name + "'",
                                 param + ".function.name"));
        }
      }
    }
    Absorb(fields, tf);
    out->push_back(std::move(definition));
  }
}

void ParseToolChoice(Fields& fields, const std::vector<ToolDefinition>& tools,
                     ChatRequest* request) {
  const json* choice = fields.Get("tool_choice");
  if (!fields.ok() || choice == nullptr) return;
  if (choice->is_string()) {
    const std::string mode = choice->get<std::string>();
    if (mode == "auto") {
      request->tool_choice = ToolChoice::kAuto;
    } else if (mode == "none") {
      request->tool_choice = ToolChoice::kNone;
    } else if (mode == "required") {
      request->tool_choice = ToolChoice::kRequired;
    } else {
      fields.Fail(InvalidRequest(
          "'tool_choice' must be \"none\", \"auto\", \"required\" or a function, not '" + mode +
              "'",
          "tool_choice"));
      return;
    }
  } else if (choice->is_object()) {
    Fields cf(*choice, "tool_choice.");
    const json* function = cf.Require("function");
    if (cf.ok() && !function->is_object()) {
      cf.Fail(InvalidRequest("'tool_choice.function' must be an object", "tool_choice.function"));
    }
    if (cf.ok()) {
      Fields ff(*function, "tool_choice.function.");
      ff.Require("name");
      ff.String("name", &request->tool_choice_name);
      Absorb(cf, ff);
    }
    Absorb(fields, cf);
    if (!fields.ok()) return;
    request->tool_choice = ToolChoice::kFunction;
    const bool declared = std::any_of(tools.begin(), tools.end(), [&](const ToolDefinition& t) {
      return t.name == request->tool_choice_name;
    });
    if (!declared) {
      fields.Fail(InvalidRequest("'tool_choice' names the function '" + request->tool_choice_name +
                                     "', which is not in 'tools'",
                                 "tool_choice"));
      return;
    }
  } else {
    fields.Fail(InvalidRequest("'tool_choice' must be a string or an object", "tool_choice"));
    return;
  }
  if (tools.empty() && (request->tool_choice == ToolChoice::kRequired ||
                        request->tool_choice == ToolChoice::kFunction)) {
    fields.Fail(InvalidRequest("'tool_choice' requires 'tools'", "tool_choice"));
  }
}

namespace {

void ParseSeed(Fields& fields, SamplingOptions* out) {
  const json* seed = fields.Get("seed");
  if (!fields.ok() || seed == nullptr) return;
  if (seed->is_number_unsigned()) {
    out->seed = seed->get<uint64_t>();
    return;
  }
  std::optional<int64_t> value;
  fields.Integer("seed", -1, INT64_MAX, &value);
  if (value && *value >= 0) out->seed = static_cast<uint64_t>(*value);
}

void ParseTopK(Fields& fields, SamplingOptions* out) {
  std::optional<int> top_k;
  fields.Int("top_k", -1, kMaxTokens, &top_k);
  if (top_k) out->top_k = std::max(*top_k, 0);
}

void ParseLogitBias(Fields& fields, SamplingOptions* out) {
  const json* bias = fields.Get("logit_bias");
  if (!fields.ok() || bias == nullptr) return;
  if (!bias->is_object()) {
    fields.Fail(
        InvalidRequest("'logit_bias' must be an object mapping token ids to biases", "logit_bias"));
    return;
  }
  for (const auto& [key, value] : bias->items()) {
    int64_t id = -1;
    const bool numeric =
        !key.empty() && key.size() <= 10 &&
        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) id = std::stoll(key);
    if (!numeric || id > INT32_MAX) {
      fields.Fail(
          InvalidRequest("'logit_bias' keys must be token ids, not '" + key + "'", "logit_bias"));
      return;
    }
    if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
      fields.Fail(InvalidRequest("'logit_bias." + key + "' must be a number from -100 to 100",
                                 "logit_bias"));
      return;
    }
    out->logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
  }
}

}  // namespace

void ParseOpenAiSampling(Fields& fields, int min_max_tokens, SamplingOptions* out) {
  fields.Number("temperature", 0, 2, &out->temperature);
  fields.Number("top_p", 0, 1, &out->top_p);
  ParseTopK(fields, out);
  fields.Number("min_p", 0, 1, &out->min_p);
  fields.Number("typical_p", 0, 1, &out->typical_p);
  fields.Number("presence_penalty", -2, 2, &out->presence_penalty);
  fields.Number("frequency_penalty", -2, 2, &out->frequency_penalty);
  fields.Number("repeat_penalty", 0, 10, &out->repeat_penalty);
  fields.Int("repeat_last_n", -1, kMaxTokens, &out->repeat_last_n);
  ParseSeed(fields, out);
  fields.Int("max_tokens", min_max_tokens, kMaxTokens, &out->max_tokens);
  fields.Int("max_completion_tokens", min_max_tokens, kMaxTokens, &out->max_tokens);
  fields.StringOrStrings("stop", kMaxStopStrings, &out->stop);
  ParseLogitBias(fields, out);
}

void ParseOllamaOptions(Fields& fields, SamplingOptions* out, std::optional<int>* num_ctx) {
  const json* options = fields.Get("options");
  if (!fields.ok() || options == nullptr) return;
  if (!options->is_object()) {
    fields.Fail(InvalidRequest("'options' must be an object", "options"));
    return;
  }
  Fields of(*options, "options.");
  std::optional<int> num_predict;
  of.Int("num_predict", -2, kMaxTokens, &num_predict);
  if (num_predict && *num_predict >= 0) out->max_tokens = *num_predict;
  of.Number("temperature", 0, 10, &out->temperature);
  ParseTopK(of, out);
  of.Number("top_p", 0, 1, &out->top_p);
  of.Number("min_p", 0, 1, &out->min_p);
  of.Number("typical_p", 0, 1, &out->typical_p);
  of.Number("repeat_penalty", 0, 10, &out->repeat_penalty);
  of.Number("presence_penalty", -10, 10, &out->presence_penalty);
  of.Number("frequency_penalty", -10, 10, &out->frequency_penalty);
  of.Int("repeat_last_n", -1, kMaxTokens, &out->repeat_last_n);
  ParseSeed(of, out);
  of.StringOrStrings("stop", kMaxStopStrings, &out->stop);
  of.Int("num_ctx", 1, kMaxTokens, num_ctx);
  Absorb(fields, of);
}

void ParseResponseFormat(Fields& fields, ResponseFormat* out) {
  const json* format = fields.Get("response_format");
  if (!fields.ok() || format == nullptr) return;
  if (!format->is_object()) {
    fields.Fail(InvalidRequest("'response_format' must be an object", "response_format"));
    return;
  }
  Fields rf(*format, "response_format.");
  std::string type;
  rf.Require("type");
  rf.String("type", &type);
  const auto schema_ok = [](const json& s) { return s.is_object() || s.is_boolean(); };
  if (rf.ok() && type == "text") {
    out->type = ResponseFormatType::kText;
  } else if (rf.ok() && type == "json_object") {
    out->type = ResponseFormatType::kJsonObject;
    if (const json* schema = rf.Get("schema")) {  // llama-server's extension
      if (!schema_ok(*schema)) {
        rf.Fail(InvalidRequest("'response_format.schema' must be a JSON schema (an object)",
                               "response_format.schema"));
      } else {
        out->type = ResponseFormatType::kJsonSchema;
        out->schema = *schema;
      }
    }
  } else if (rf.ok() && type == "json_schema") {
    out->type = ResponseFormatType::kJsonSchema;
    const json* spec = rf.Get("json_schema");
    if (spec == nullptr && rf.Get("schema") != nullptr) spec = format;  // schema at the top
    if (spec == nullptr) {
      rf.Fail(InvalidRequest("'response_format.json_schema' is required",
                             "response_format.json_schema"));
    } else if (!spec->is_object()) {
      rf.Fail(InvalidRequest("'response_format.json_schema' must be an object",
                             "response_format.json_schema"));
    } else {
      const std::string prefix =
          spec == format ? "response_format." : "response_format.json_schema.";
      Fields sf(*spec, prefix);
      const json* schema = sf.Require("schema");
      if (sf.ok() && !schema_ok(*schema)) {
        sf.Fail(InvalidRequest("'" + prefix + "schema' must be a JSON schema (an object)",
                               prefix + "schema"));
      } else if (sf.ok()) {
        out->schema = *schema;
      }
      sf.String("name", &out->name);
      sf.Bool("strict", &out->strict);
      Absorb(rf, sf);
    }
  } else if (rf.ok()) {
    rf.Fail(
        InvalidRequest("'response_format.type' must be text, json_object or json_schema, "
                       "not '" +
                           type + "'",
                       "response_format.type"));
  }
  Absorb(fields, rf);
}

void ParseOllamaFormat(Fields& fields, ResponseFormat* out) {
  const json* format = fields.Get("format");
  if (!fields.ok() || format == nullptr) return;
  if (format->is_string()) {
    const std::string value = format->get<std::string>();
    if (value.empty()) return;
    if (value == "json") {
      out->type = ResponseFormatType::kJsonObject;
      return;
    }
    fields.Fail(InvalidRequest("'format' must be \"json\" or a JSON schema, not '" + value + "'",
                               "format"));
  } else if (format->is_object()) {
    out->type = ResponseFormatType::kJsonSchema;
    out->schema = *format;
  } else {
    fields.Fail(InvalidRequest("'format' must be \"json\" or a JSON schema", "format"));
  }
}

void ParseThinking(Fields& fields, std::optional<bool>* out) {
  // Ollama's think: a boolean or an effort level.
  if (const json* think = fields.Get("think"); think != nullptr && fields.ok()) {
    if (think->is_boolean()) {
      *out = think->get<bool>();
    } else if (think->is_string() &&
               (*think == "low" || *think == "medium" || *think == "high" || *think == "max")) {
      *out = true;
    } else {
      fields.Fail(
          InvalidRequest("'think' must be true, false, \"low\", \"medium\", \"high\" or "
                         "\"max\"",
                         "think"));
    }
  }
  // OpenAI's reasoning_effort (or reasoning.effort): "none" turns thinking off.
  const json* effort = fields.Get("reasoning_effort");
  std::string effort_param = "reasoning_effort";
  if (const json* reasoning = fields.Get("reasoning");
      effort == nullptr && reasoning != nullptr && reasoning->is_object()) {
    if (const auto e = reasoning->find("effort"); e != reasoning->end() && !e->is_null()) {
      effort = &*e;
      effort_param = "reasoning.effort";
    }
  }
  if (effort != nullptr && fields.ok()) {
    static constexpr std::string_view kLevels[] = {"minimal", "low",   "medium",
                                                   "high",    "xhigh", "max"};
    if (*effort == "none") {
      *out = false;
    } else if (effort->is_string() && std::find(std::begin(kLevels), std::end(kLevels),
                                                effort->get<std::string>()) != std::end(kLevels)) {
      *out = true;
    } else {
      fields.Fail(InvalidRequest(
          "'" + effort_param + "' must be none, minimal, low, medium, high, xhigh or max",
          effort_param));
    }
  }
  // chat_template_kwargs.enable_thinking (llama-server, vLLM) decides last.
  if (const json* kwargs = fields.Get("chat_template_kwargs"); kwargs != nullptr && fields.ok()) {
    if (!kwargs->is_object()) {
      fields.Fail(
          InvalidRequest("'chat_template_kwargs' must be an object", "chat_template_kwargs"));
      return;
    }
    Fields kf(*kwargs, "chat_template_kwargs.");
    kf.Bool("enable_thinking", out);
    Absorb(fields, kf);
  }
}

void ParseKeepAliveField(Fields& fields, std::optional<double>* out) {
  const json* keep_alive = fields.Get("keep_alive");
  if (!fields.ok() || keep_alive == nullptr) return;
  *out = ParseKeepAlive(*keep_alive);
  if (!*out) {
    fields.Fail(InvalidRequest(
        "'keep_alive' must be a duration such as \"5m\" or \"1h30m\", or a number of seconds",
        "keep_alive"));
  }
}

void ParseTextOrTokens(Fields& fields, std::string_view key, bool allow_empty_list,
                       bool allow_empty_items, std::vector<TextOrTokens>* out) {
  const json* value = fields.Require(key);
  if (!fields.ok()) return;
  const std::string param(key);
  const auto empty_item = [&](const std::string& where) {
    fields.Fail(InvalidRequest("'" + where + "' must not be empty", where));
  };
  if (value->is_string()) {
    if (value->get<std::string>().empty() && !allow_empty_items) return empty_item(param);
    out->push_back({value->get<std::string>(), {}, false});
    return;
  }
  if (!value->is_array()) {
    fields.Fail(InvalidRequest("'" + param +
                                   "' must be a string, an array of strings or an "
                                   "array of token ids",
                               param));
    return;
  }
  if (value->empty()) {
    if (!allow_empty_list) empty_item(param);
    return;
  }
  if (value->size() > kMaxInputs) {
    fields.Fail(InvalidRequest("'" + param + "' has " + std::to_string(value->size()) +
                                   " entries; at most " + std::to_string(kMaxInputs) +
                                   " are allowed",
                               param));
    return;
  }
  const auto token_list = [&](const json& list, const std::string& where, TextOrTokens* item) {
    item->is_tokens = true;
    for (size_t i = 0; i < list.size(); ++i) {
      const json& id = list[i];
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        fields.Fail(InvalidRequest("'" + Index(where, i) +
                                       "' must be a token id (an integer "
                                       ">= 0)",
                                   Index(where, i)));
        return;
      }
      item->tokens.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
    if (item->tokens.empty() && !allow_empty_items) empty_item(where);
  };
  const json& first = value->front();
  if (first.is_number()) {  // one list of token ids
    TextOrTokens item;
    token_list(*value, param, &item);
    if (fields.ok()) out->push_back(std::move(item));
    return;
  }
  for (size_t i = 0; i < value->size() && fields.ok(); ++i) {
    const json& entry = (*value)[i];
    const std::string where = Index(param, i);
    if (first.is_string() && entry.is_string()) {
      if (entry.get<std::string>().empty() && !allow_empty_items) return empty_item(where);
      out->push_back({entry.get<std::string>(), {}, false});
    } else if (first.is_array() && entry.is_array()) {
      TextOrTokens item;
      token_list(entry, where, &item);
      out->push_back(std::move(item));
    } else {
      fields.Fail(InvalidRequest("'" + where +
                                     "' must be of the same kind as the first entry "
                                     "(all strings or all token-id arrays)",
                                 where));
    }
  }
}

}  // namespace gemma::protocol::request_internal
