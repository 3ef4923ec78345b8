#include "server/protocol/marker_syntax.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "server/protocol/request_fields.h"

namespace gemma::protocol {

namespace {

using json = nlohmann::json;

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

void AppendQuoted(RenderedPrompt& out, std::string_view text, std::string_view quote) {
  out.AppendControl(quote);
  out.AppendText(text);
  out.AppendControl(quote);
}

// The schema type as one upper-case name. JSON schema allows a list
// (["string","null"]): the first non-null entry names the type, and the
// null entry is reported through *nullable.
std::string SchemaType(const json& schema, bool* nullable) {
  const auto it = schema.find("type");
  if (it == schema.end()) return "";
  if (it->is_string()) return Upper(it->get<std::string>());
  std::string first;
  if (it->is_array()) {
    for (const json& entry : *it) {
      if (!entry.is_string()) continue;
      if (entry.get<std::string>() == "null") {
        *nullable = true;
      } else if (first.empty()) {
        first = Upper(entry.get<std::string>());
      }
    }
  }
  return first;
}

// Writes `,` before every item but the first of a brace.
class Separator {
 public:
  void Next(RenderedPrompt& out) {
    if (!first_) out.AppendText(",");
    first_ = false;
  }

 private:
  bool first_ = true;
};

void AppendRequired(RenderedPrompt& out, const json& required, std::string_view quote) {
  out.AppendText("required:[");
  Separator sep;
  for (const json& name : required) {
    if (!name.is_string()) continue;
    sep.Next(out);
    AppendQuoted(out, name.get<std::string>(), quote);
  }
  out.AppendText("]");
}

void AppendProperties(RenderedPrompt& out, const json& properties, std::string_view quote,
                      bool skip_schema_keys);

// One property of a parameters schema, in the template's field order:
// description, enum (strings) or items (arrays), nullable, properties and
// required (objects), type.
void AppendProperty(RenderedPrompt& out, const std::string& name, const json& schema,
                    std::string_view quote) {
  out.AppendText(name + ":{");
  Separator sep;
  bool nullable = false;
  if (const auto n = schema.find("nullable"); n != schema.end() && n->is_boolean()) {
    nullable = n->get<bool>();
  }
  const std::string type = SchemaType(schema, &nullable);
  if (const auto d = schema.find("description");
      d != schema.end() && d->is_string() && !d->get<std::string>().empty()) {
    sep.Next(out);
    out.AppendText("description:");
    AppendQuoted(out, d->get<std::string>(), quote);
  }
  if (type == "STRING") {
    if (const auto e = schema.find("enum"); e != schema.end() && e->is_array() && !e->empty()) {
      sep.Next(out);
      out.AppendText("enum:");
      AppendMarkerValue(out, *e, quote, true);
    }
  } else if (type == "ARRAY") {
    if (const auto items = schema.find("items");
        items != schema.end() && items->is_object() && !items->empty()) {
      sep.Next(out);
      out.AppendText("items:{");
      Separator item_sep;
      for (const auto& [key, value] : items->items()) {  // sorted keys
        if (value.is_null()) continue;
        item_sep.Next(out);
        if (key == "properties") {
          out.AppendText("properties:{");
          if (value.is_object()) AppendProperties(out, value, quote, false);
          out.AppendText("}");
        } else if (key == "required") {
          AppendRequired(out, value, quote);
        } else if (key == "type") {
          bool item_nullable = false;
          out.AppendText("type:");
          AppendQuoted(out, SchemaType(*items, &item_nullable), quote);
        } else {
          out.AppendText(key + ":");
          AppendMarkerValue(out, value, quote, true);
        }
      }
      out.AppendText("}");
    }
  }
  if (nullable) {
    sep.Next(out);
    out.AppendText("nullable:true");
  }
  if (type == "OBJECT") {
    sep.Next(out);
    out.AppendText("properties:{");
    if (const auto p = schema.find("properties"); p != schema.end() && p->is_object()) {
      AppendProperties(out, *p, quote, false);
    } else {
      AppendProperties(out, schema, quote, true);
    }
    out.AppendText("}");
    if (const auto r = schema.find("required"); r != schema.end() && r->is_array() && !r->empty()) {
      sep.Next(out);
      AppendRequired(out, *r, quote);
    }
  }
  if (!type.empty()) {
    sep.Next(out);
    out.AppendText("type:");
    AppendQuoted(out, type, quote);
  }
  out.AppendText("}");
}

// The properties of an object schema, sorted by name. For an object schema
// without "properties" the template lists the schema's own non-schema keys.
void AppendProperties(RenderedPrompt& out, const json& properties, std::string_view quote,
                      bool skip_schema_keys) {
  static constexpr std::string_view kSchemaKeys[] = {"description", "type", "properties",
                                                     "required", "nullable"};
  Separator sep;
  for (const auto& [name, schema] : properties.items()) {
    if (skip_schema_keys &&
        std::find(std::begin(kSchemaKeys), std::end(kSchemaKeys), name) != std::end(kSchemaKeys)) {
      continue;
    }
    if (!schema.is_object()) continue;
    sep.Next(out);
    AppendProperty(out, name, schema, quote);
  }
}

void AppendObjectBody(RenderedPrompt& out, const json& object, std::string_view quote) {
  Separator sep;
  for (const auto& [key, value] : object.items()) {
    sep.Next(out);
    out.AppendText(key + ":");
    AppendMarkerValue(out, value, quote, false);
  }
}

}  // namespace

void AppendMarkerValue(RenderedPrompt& out, const json& value, std::string_view quote,
                       bool quote_keys) {
  switch (value.type()) {
    case json::value_t::string:
      AppendQuoted(out, value.get<std::string>(), quote);
      return;
    case json::value_t::boolean:
      out.AppendText(value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::null:
    case json::value_t::discarded:
      out.AppendText("null");
      return;
    case json::value_t::object: {
      out.AppendText("{");
      Separator sep;
      for (const auto& [key, item] : value.items()) {
        sep.Next(out);
        if (quote_keys) {
          AppendQuoted(out, key, quote);
        } else {
          out.AppendText(key);
        }
        out.AppendText(":");
        AppendMarkerValue(out, item, quote, quote_keys);
      }
      out.AppendText("}");
      return;
    }
    case json::value_t::array: {
      out.AppendText("[");
      Separator sep;
      for (const json& item : value) {
        sep.Next(out);
        AppendMarkerValue(out, item, quote, quote_keys);
      }
      out.AppendText("]");
      return;
    }
    default:  // numbers
      out.AppendText(value.dump());
      return;
  }
}

void AppendMarkerDeclaration(RenderedPrompt& out, const ToolDefinition& tool,
                             std::string_view quote) {
  out.AppendText("declaration:" + tool.name + "{description:");
  AppendQuoted(out, tool.description, quote);
  const json& params = tool.parameters;
  if (params.is_object() && !params.empty()) {
    out.AppendText(",parameters:{");
    Separator sep;
    if (const auto p = params.find("properties");
        p != params.end() && p->is_object() && !p->empty()) {
      sep.Next(out);
      out.AppendText("properties:{");
      AppendProperties(out, *p, quote, false);
      out.AppendText("}");
    }
    if (const auto r = params.find("required"); r != params.end() && r->is_array() && !r->empty()) {
      sep.Next(out);
      AppendRequired(out, *r, quote);
    }
    bool nullable = false;
    if (const std::string type = SchemaType(params, &nullable); !type.empty()) {
      sep.Next(out);
      out.AppendText("type:");
      AppendQuoted(out, type, quote);
    }
    out.AppendText("}");
  }
  if (const auto r = tool.function.find("response");
      tool.function.is_object() && r != tool.function.end() && r->is_object()) {
    out.AppendText(",response:{");
    Separator sep;
    if (const auto d = r->find("description"); d != r->end() && d->is_string()) {
      sep.Next(out);
      out.AppendText("description:");
      AppendQuoted(out, d->get<std::string>(), quote);
    }
    bool nullable = false;
    if (const std::string type = SchemaType(*r, &nullable); !type.empty()) {
      sep.Next(out);
      out.AppendText("type:");
      AppendQuoted(out, type, quote);
    }
    out.AppendText("}");
  }
  out.AppendText("}");
}

void AppendMarkerCall(RenderedPrompt& out, std::string_view name, const json& arguments,
                      std::string_view quote) {
  out.AppendText("call:" + std::string(name) + "{");
  if (arguments.is_object()) AppendObjectBody(out, arguments, quote);
  out.AppendText("}");
}

void AppendMarkerResponse(RenderedPrompt& out, std::string_view name, const json& response,
                          std::string_view quote) {
  out.AppendText("response:" + std::string(name) + "{");
  if (response.is_object()) {
    AppendObjectBody(out, response, quote);
  } else {
    out.AppendText("value:");
    AppendMarkerValue(out, response, quote, false);
  }
  out.AppendText("}");
}

json ToolResultValue(std::string_view text) {
  // (Bounded nesting: the renderer recurses over the value.)
  if (JsonNesting(text) > kMaxJsonNesting) return json(std::string(text));
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_object()) return parsed;
  return json(std::string(text));
}

}  // namespace gemma::protocol
