#include "io/chat_template.h"

#include <filesystem>

#include "base/error.h"
#include "base/mapped_file.h"
#include "io/json_fields.h"
#include "io/model_source.h"
#include "io/paths.h"

namespace gemma {

ChatTemplate ReadChatTemplate(const ModelSource& source) {
  ChatTemplate result;
  if (source.format == ModelFormat::kGguf) {
    if (const auto text = source.gguf->GetString("tokenizer.chat_template")) {
      result.text = *text;
      result.origin = source.path + " (tokenizer.chat_template)";
    }
    return result;
  }
  // transformers >= 4.43 may save the template as its own file.
  const std::string jinja = (std::filesystem::path(source.path) / "chat_template.jinja").string();
  if (StatPath(jinja) != PathType::kMissing) {
    RequireRegularFile(jinja);
    result.text = ReadFileToString(jinja);
    result.origin = jinja;
    return result;
  }
  if (source.tokenizer_config_path.empty()) return result;
  const std::string& path = source.tokenizer_config_path;
  const nlohmann::json config = ParseJsonText(ReadFileToString(path), path);
  const JsonObject top(config, path);
  if (!top.Has("chat_template") || top.json()["chat_template"].is_null()) return result;
  if (top.json()["chat_template"].is_string()) {
    result.text = *top.String("chat_template");
    result.origin = path + " (chat_template)";
    return result;
  }
  // Several named templates: [{"name": "default", "template": "..."}, {"name": "tool_use"...}].
  const nlohmann::json* list = top.Array("chat_template");
  for (size_t i = 0; i < list->size(); ++i) {
    const JsonObject entry = ArrayElementObject(top, "chat_template", i);
    const std::string name = entry.String("name").value_or("");
    if (name == "default" || (i == 0 && list->size() == 1)) {
      const std::optional<std::string> text = entry.String("template");
      if (!text) entry.Fail("template", "is missing");
      result.text = *text;
      result.origin = path + " (chat_template '" + name + "')";
      return result;
    }
  }
  if (!list->empty()) top.Fail("chat_template", "lists no template named 'default'");
  return result;
}

}  // namespace gemma
