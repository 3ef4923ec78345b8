// The HTTP side of `gemma serve` (include/gemma/serve.h): routes, API keys,
// CORS, errors in OpenAI's envelope, streaming through cpp-httplib's chunked
// content providers, and model loading in the background (/health says 503
// until it is done).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "gemma/serve.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/protocol/api_error.h"
#include "server/protocol/ollama_responses.h"
#include "server/protocol/openai_responses.h"
#include "server/protocol/requests.h"

namespace gemma {

namespace server {
std::string_view ChatPageHtml();  // web_page.cc (generated from web/index.html)
}

using namespace gemma::server;  // NOLINT: this file is the server's wiring
using protocol::ApiError;

namespace {

constexpr const char* kVersion = "0.1.0";

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool IsOllamaRoute(const std::string& path) { return StartsWith(path, "/api/"); }

// Routes that need the API key (everything but /health and the page).
bool IsProtected(const std::string& path) {
  return path != "/health" && path != "/v1/health" && path != "/" && path != "/index.html" &&
         path != "/favicon.ico";
}

void Reply(httplib::Response& res, const ApiError& e, bool ollama) {
  res.status = e.http_status;
  res.set_content(protocol::DumpJson(ollama ? e.ToOllamaJson() : e.ToOpenAiJson()),
                  "application/json");
  if (e.http_status == 503) res.set_header("Retry-After", "1");
}

}  // namespace

struct ApiServer::Impl {
  ServeOptions options;
  httplib::Server http;
  int port = 0;
  Metrics metrics;

  // Loading.
  std::thread loader;
  std::mutex load_mu;
  std::condition_variable load_cv;
  bool load_done = false;
  Status load_status;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::unique_ptr<Model> model;
  std::unique_ptr<Engine> engine;
  ServerContext ctx;
  size_t model_file_bytes = 0;

  void Load();
  void Routes();
  void Log(const httplib::Request& req, const httplib::Response& res);
  bool Authorized(const httplib::Request& req) const;
  // Parses the body (both ways) or answers 400.
  bool ParseBody(const httplib::Request& req, httplib::Response& res, nlohmann::json* body,
                 nlohmann::ordered_json* raw);
  void Generate(const httplib::Request& req, httplib::Response& res, ApiStyle style);
  void Embeddings(const httplib::Request& req, httplib::Response& res, bool ollama, bool legacy);
  nlohmann::json ModelInfoJson() const;
  protocol::OllamaModel OllamaModelCard() const;
};

void ApiServer::Impl::Load() {
  Status status;
  ModelOptions mo = options.model;
  mo.prefix_cache = true;
  auto opened = Model::Open(options.model_path, mo);
  if (!opened.ok()) {
    status = opened.status();
  } else {
    model = std::move(opened).value();
    auto started = Engine::Start(*model, options.engine);
    if (!started.ok()) {
      status = started.status();
    } else {
      engine = std::move(started).value();
      const ModelInfo& info = model->info();
      ctx.model = model.get();
      ctx.engine = engine.get();
      ctx.metrics = &metrics;
      ctx.options = &options;
      ctx.model_id = options.model_alias;
      if (ctx.model_id.empty()) {
        ctx.model_id = std::filesystem::path(options.model_path).filename().string();
        if (ctx.model_id.empty()) ctx.model_id = "gemma";
      }
      ctx.format = protocol::DetectChatFormat(info.architecture, info.chat_template, ctx.model_id);
      std::vector<int32_t> end_ids = model->EndOfGenerationIds();
      for (const std::string& marker : protocol::StopMarkers(ctx.format)) {
        const int32_t id = model->PieceToId(marker);
        if (id >= 0) {
          ctx.stop_ids.push_back(id);
          if (std::find(end_ids.begin(), end_ids.end(), id) == end_ids.end()) end_ids.push_back(id);
        }
      }
      std::vector<std::string> bytes;
      std::vector<constrain::TokenKind> kinds;
      for (const VocabularyEntry& e : model->Vocabulary()) {
        bytes.push_back(e.bytes);
        kinds.push_back(e.kind == VocabularyEntry::Kind::kText   ? constrain::TokenKind::kText
                        : e.kind == VocabularyEntry::Kind::kByte ? constrain::TokenKind::kByte
                                                                 : constrain::TokenKind::kControl);
      }
      // A token that ends the generation is never text to a grammar, whatever
      // its piece type: <end_of_turn> may be a normal or user-defined piece,
      // and as text it would be allowed inside a JSON string and end the
      // answer there.
      for (const int32_t id : end_ids) {
        if (id >= 0 && static_cast<size_t>(id) < kinds.size()) {
          kinds[id] = constrain::TokenKind::kControl;
        }
      }
      try {
        ctx.vocab = constrain::VocabIndex::Build(std::move(bytes), std::move(kinds), end_ids);
      } catch (const std::exception& e) {
        status = Status(StatusCode::kInternal, std::string("vocabulary index: ") + e.what());
      }
      std::error_code ec;
      model_file_bytes = std::filesystem::is_regular_file(options.model_path, ec)
                             ? std::filesystem::file_size(options.model_path, ec)
                             : info.weights_bytes;
    }
  }
  {
    std::lock_guard lock(load_mu);
    load_status = status;
    load_done = true;
    ready = status.ok();
  }
  load_cv.notify_all();
  if (!options.quiet) {
    if (status.ok()) {
      std::fprintf(
          stderr, "gemma serve: %s ready (%s format, %d sequences x %d tokens) on http://%s:%d\n",
          ctx.model_id.c_str(), protocol::ChatFormatName(ctx.format), options.model.parallel,
          model->info().active_context, options.host.c_str(), port);
    } else {
      std::fprintf(stderr, "gemma serve: cannot load %s: %s\n", options.model_path.c_str(),
                   status.message().c_str());
    }
  }
  if (!status.ok()) http.stop();
}

bool ApiServer::Impl::Authorized(const httplib::Request& req) const {
  if (options.api_keys.empty()) return true;
  std::string key;
  const std::string auth = req.get_header_value("Authorization");
  if (StartsWith(auth, "Bearer ")) key = auth.substr(7);
  if (key.empty()) key = req.get_header_value("X-Api-Key");
  return !key.empty() &&
         std::find(options.api_keys.begin(), options.api_keys.end(), key) != options.api_keys.end();
}

bool ApiServer::Impl::ParseBody(const httplib::Request& req, httplib::Response& res,
                                nlohmann::json* body, nlohmann::ordered_json* raw) {
  const bool ollama = IsOllamaRoute(req.path);
  *body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body->is_discarded() || !body->is_object()) {
    Reply(res, protocol::InvalidRequest("the request body must be a JSON object"), ollama);
    return false;
  }
  *raw = nlohmann::ordered_json::parse(req.body, nullptr, false);
  return true;
}

void ApiServer::Impl::Generate(const httplib::Request& req, httplib::Response& res,
                               ApiStyle style) {
  const bool ollama = style == ApiStyle::kOllamaChat || style == ApiStyle::kOllamaGenerate;
  nlohmann::json body;
  nlohmann::ordered_json raw;
  if (!ParseBody(req, res, &body, &raw)) return;
  protocol::Expected<Prepared> prepared = protocol::InvalidRequest("unreachable");
  if (style == ApiStyle::kOpenAiChat || style == ApiStyle::kOllamaChat) {
    auto parsed = style == ApiStyle::kOpenAiChat ? protocol::ParseOpenAiChatRequest(body)
                                                 : protocol::ParseOllamaChatRequest(body);
    if (!parsed.ok()) return Reply(res, parsed.error(), ollama);
    if (style == ApiStyle::kOllamaChat && parsed.value().messages.empty()) {
      // Ollama's "load the model" request: answer done at once.
      protocol::OllamaStats stats;
      res.set_content(protocol::DumpJson(protocol::OllamaChatFinal(
                          ctx.model_id, protocol::FormatRfc3339(std::chrono::system_clock::now()),
                          "load", stats, {})),
                      "application/json");
      return;
    }
    prepared = PrepareChat(ctx, parsed.value(), raw, style);
  } else {
    auto parsed = style == ApiStyle::kOpenAiCompletion
                      ? protocol::ParseOpenAiCompletionRequest(body)
                      : protocol::ParseOllamaGenerateRequest(body);
    if (!parsed.ok()) return Reply(res, parsed.error(), ollama);
    prepared = PrepareCompletion(ctx, parsed.value(), raw, style);
  }
  if (!prepared.ok()) return Reply(res, prepared.error(), ollama);
  auto started = Generation::Start(ctx, std::move(prepared).value());
  if (!started.ok()) return Reply(res, started.error(), ollama);
  std::shared_ptr<Generation> gen = started.value();
  const bool sse = std::string(gen->content_type()) == "text/event-stream";
  const bool streaming = sse || std::string(gen->content_type()) == "application/x-ndjson";
  if (!streaming) {
    // Whole answers are written once done; while the engine works, a space
    // every two seconds (JSON allows leading whitespace) finds a client that
    // left, so that its sequence is freed.
    res.set_chunked_content_provider(
        "application/json",
        [gen, waited = 0](size_t, httplib::DataSink& sink) mutable {
          if (gen->WaitFor(std::chrono::milliseconds(100))) {
            int status = 200;
            const std::string body = gen->Body(&status);
            sink.write(body.data(), body.size());
            sink.done();
            return true;
          }
          if (++waited % 20 == 0 && !sink.write(" ", 1)) {
            gen->Cancel();
            return false;
          }
          return true;
        },
        [gen](bool success) {
          if (!success) gen->Cancel();
        });
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      gen->content_type(),
      [gen, sse, idle = 0](size_t, httplib::DataSink& sink) mutable {
        bool timed_out = false;
        std::optional<std::string> chunk =
            gen->channel().Pop(std::chrono::milliseconds(100), &timed_out);
        if (chunk) {
          idle = 0;
          if (!sink.write(chunk->data(), chunk->size())) {
            gen->Cancel();
            return false;
          }
          return true;
        }
        if (timed_out) {
          // An SSE comment now and then finds a client that left while its
          // request waited.
          if (sse && ++idle % 10 == 0 && !sink.write(": ping\n\n", 8)) {
            gen->Cancel();
            return false;
          }
          return true;
        }
        sink.done();
        return true;
      },
      [gen](bool success) {
        if (!success) gen->Cancel();
      });
}

void ApiServer::Impl::Embeddings(const httplib::Request& req, httplib::Response& res, bool ollama,
                                 bool legacy) {
  nlohmann::json body;
  nlohmann::ordered_json raw;
  if (!ParseBody(req, res, &body, &raw)) return;
  protocol::Expected<protocol::EmbeddingRequest> parsed = protocol::InvalidRequest("unreachable");
  if (legacy) {
    // Ollama's old /api/embeddings: {"model", "prompt"} -> {"embedding": [...]}.
    if (!body.contains("prompt") || !body["prompt"].is_string()) {
      return Reply(res, protocol::InvalidRequest("prompt must be a string", "prompt"), true);
    }
    nlohmann::json converted = body;
    converted["input"] = body["prompt"];
    parsed = protocol::ParseOllamaEmbedRequest(converted);
  } else {
    parsed = ollama ? protocol::ParseOllamaEmbedRequest(body)
                    : protocol::ParseOpenAiEmbeddingRequest(body);
  }
  if (!parsed.ok()) return Reply(res, parsed.error(), ollama);
  const protocol::EmbeddingRequest& r = parsed.value();
  if (r.inputs.empty())
    return Reply(res, protocol::InvalidRequest("input is empty", "input"), ollama);
  const int hidden = model->info().hidden_size;
  if (r.dimensions && (*r.dimensions < 1 || *r.dimensions > hidden)) {
    return Reply(
        res,
        protocol::InvalidRequest("dimensions must be 1.." + std::to_string(hidden), "dimensions"),
        ollama);
  }
  const auto start = Clock::now();
  std::vector<std::vector<float>> vectors;
  int tokens_total = 0;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    std::vector<int32_t> tokens =
        r.inputs[i].is_tokens ? r.inputs[i].tokens : model->Tokenize(r.inputs[i].text, true, false);
    const int ctx_len = model->info().active_context;
    if (static_cast<int>(tokens.size()) > ctx_len) {
      if (!(ollama && r.truncate)) {
        return Reply(
            res,
            ErrorFromStatus(
                Status(StatusCode::kOutOfRange,
                       "input " + std::to_string(i) + " has " + std::to_string(tokens.size()) +
                           " tokens, but the context holds " + std::to_string(ctx_len)),
                ctx_len),
            ollama);
      }
      tokens.resize(ctx_len);
    }
    tokens_total += static_cast<int>(tokens.size());
    auto v = Embed(*model, tokens);
    if (!v.ok()) return Reply(res, ErrorFromStatus(v.status(), ctx_len), ollama);
    std::vector<float> vec = std::move(v).value();
    if (r.dimensions && *r.dimensions < hidden) {  // truncate, then unit length again
      vec.resize(*r.dimensions);
      double norm = 0;
      for (float x : vec) norm += static_cast<double>(x) * x;
      norm = std::sqrt(norm);
      if (norm > 0) {
        for (float& x : vec) x = static_cast<float>(x / norm);
      }
    }
    vectors.push_back(std::move(vec));
  }
  if (legacy) {
    res.set_content(protocol::DumpJson({{"embedding", vectors[0]}}), "application/json");
  } else if (ollama) {
    protocol::OllamaStats stats;
    stats.prompt_eval_count = tokens_total;
    stats.total_duration =
        static_cast<int64_t>(std::chrono::duration<double>(Clock::now() - start).count() * 1e9);
    res.set_content(protocol::DumpJson(protocol::OllamaEmbed(ctx.model_id, vectors, stats)),
                    "application/json");
  } else {
    res.set_content(protocol::DumpJson(protocol::BuildEmbeddings(ctx.model_id, vectors,
                                                                 r.encoding_format, tokens_total)),
                    "application/json");
  }
}

nlohmann::json ApiServer::Impl::ModelInfoJson() const {
  const ModelInfo& i = model->info();
  const std::string a = i.architecture;
  return {{"general.architecture", a},
          {"general.file_type", i.format},
          {a + ".block_count", i.num_layers},
          {a + ".context_length", i.context_length},
          {a + ".embedding_length", i.hidden_size},
          {a + ".feed_forward_length", i.intermediate_size},
          {a + ".attention.head_count", i.num_attention_heads},
          {a + ".attention.head_count_kv", i.num_key_value_heads},
          {a + ".attention.sliding_window", i.sliding_window},
          {"tokenizer.ggml.vocab_size", i.vocab_size}};
}

protocol::OllamaModel ApiServer::Impl::OllamaModelCard() const {
  const ModelInfo& i = model->info();
  protocol::OllamaModel m;
  m.name = ctx.model_id;
  m.modified_at = protocol::FormatRfc3339(std::chrono::system_clock::now());
  m.size = static_cast<int64_t>(model_file_bytes);
  m.family = i.architecture;
  size_t params = 0;
  std::map<std::string, size_t> types;
  for (const TensorSummary& t : i.tensors) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    params += n;
    types[t.type] += t.bytes;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), params >= 1e9 ? "%.1fB" : "%.0fM",
                params >= 1e9 ? params / 1e9 : params / 1e6);
  m.parameter_size = buf;
  std::string level;
  size_t most = 0;
  for (const auto& [type, bytes] : types) {
    if (bytes > most) {
      most = bytes;
      level = type;
    }
  }
  std::transform(level.begin(), level.end(), level.begin(), ::toupper);
  m.quantization_level = level;
  return m;
}

void ApiServer::Impl::Log(const httplib::Request& req, const httplib::Response& res) {
  if (res.status >= 400) metrics.RequestFailed(res.status);
  if (options.quiet) return;
  std::fprintf(stderr, "%s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
}

void ApiServer::Impl::Routes() {
  http.set_payload_max_length(options.max_body_bytes);
  http.new_task_queue = [n = options.http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(std::max(4, n)));
  };
  http.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { Log(req, res); });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    metrics.RequestArrived();
    const bool ollama = IsOllamaRoute(req.path);
    if (!options.cors_origin.empty()) {
      const std::string origin = req.get_header_value("Origin");
      if (options.cors_origin == "*" || origin == options.cors_origin) {
        res.set_header("Access-Control-Allow-Origin", options.cors_origin == "*" ? "*" : origin);
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      }
    }
    if (req.method == "OPTIONS") {
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (IsProtected(req.path) && !Authorized(req)) {
      Reply(res, protocol::AuthenticationError("invalid or missing API key"), ollama);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!ready && IsProtected(req.path)) {
      ApiError e;
      e.http_status = 503;
      e.type = "unavailable_error";
      e.message = "the model is loading";
      Reply(res, e, ollama);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote the error
    const bool ollama = IsOllamaRoute(req.path);
    ApiError e;
    e.http_status = res.status;
    if (res.status == 404) {
      e = protocol::NotFoundError("no route " + req.method + " " + req.path);
    } else if (res.status == 413) {
      e.type = "invalid_request_error";
      e.message = "the request body is too large";
    } else if (res.status == 400) {
      e = protocol::InvalidRequest("malformed HTTP request");
    } else {
      e.type = res.status >= 500 ? "server_error" : "invalid_request_error";
      e.message = "HTTP " + std::to_string(res.status);
    }
    e.http_status = res.status;
    res.set_content(protocol::DumpJson(ollama ? e.ToOllamaJson() : e.ToOpenAiJson()),
                    "application/json");
  });
  http.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = std::string("internal error: ") + e.what();
        } catch (...) {
        }
        const ApiError e = protocol::ServerError(what);
        Reply(res, e, IsOllamaRoute(req.path));
      });

  auto health = [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(load_mu);
    if (ready) {
      res.set_content(R"({"status":"ok"})", "application/json");
    } else if (!load_done) {
      res.status = 503;
      res.set_content(R"({"status":"loading model"})", "application/json");
    } else {
      res.status = 500;
      res.set_content(protocol::DumpJson({{"status", "error"}, {"message", load_status.message()}}),
                      "application/json");
    }
  };
  http.Get("/health", health);
  http.Get("/v1/health", health);
  auto page = [](const httplib::Request&, httplib::Response& res) {
    const std::string_view html = ChatPageHtml();
    res.set_content(std::string(html), "text/html; charset=utf-8");
  };
  http.Get("/", page);
  http.Get("/index.html", page);

  auto models = [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(protocol::DumpJson(protocol::BuildModelList({{ctx.model_id, 0, "gemma"}})),
                    "application/json");
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != ctx.model_id) {
      return Reply(
          res, protocol::NotFoundError("no model '" + std::string(req.matches[1]) + "'", "model"),
          false);
    }
    res.set_content(protocol::DumpJson(protocol::ModelJson({ctx.model_id, 0, "gemma"})),
                    "application/json");
  });

  for (const char* path : {"/v1/chat/completions", "/chat/completions"}) {
    http.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
      Generate(req, res, ApiStyle::kOpenAiChat);
    });
  }
  for (const char* path : {"/v1/completions", "/completions"}) {
    http.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
      Generate(req, res, ApiStyle::kOpenAiCompletion);
    });
  }
  for (const char* path : {"/v1/embeddings", "/embeddings"}) {
    http.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
      Embeddings(req, res, false, false);
    });
  }
  http.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, ApiStyle::kOllamaChat);
  });
  http.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, ApiStyle::kOllamaGenerate);
  });
  http.Post("/api/embed", [this](const httplib::Request& req, httplib::Response& res) {
    Embeddings(req, res, true, false);
  });
  http.Post("/api/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    Embeddings(req, res, true, true);
  });
  http.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(protocol::DumpJson(protocol::OllamaTags({OllamaModelCard()})),
                    "application/json");
  });
  http.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body;
    nlohmann::ordered_json raw;
    if (!ParseBody(req, res, &body, &raw)) return;
    auto name = protocol::ParseOllamaShowRequest(body);
    if (!name.ok()) return Reply(res, name.error(), true);
    std::vector<std::string> capabilities = {"completion", "tools"};
    if (protocol::IsGemma4(ctx.format)) capabilities.push_back("thinking");
    res.set_content(
        protocol::DumpJson(protocol::OllamaShow(OllamaModelCard(), ModelInfoJson(), capabilities,
                                                model->info().chat_template)),
        "application/json");
  });
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(protocol::DumpJson(protocol::OllamaVersion(kVersion)), "application/json");
  });

  http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body;
    nlohmann::ordered_json raw;
    if (!ParseBody(req, res, &body, &raw)) return;
    if (!body.contains("content") || !body["content"].is_string()) {
      return Reply(res, protocol::InvalidRequest("content must be a string", "content"), false);
    }
    const bool add_special = body.value("add_special", false);
    const bool parse_special = body.value("parse_special", true);
    const bool with_pieces = body.value("with_pieces", false);
    const std::vector<int32_t> ids =
        model->Tokenize(body["content"].get<std::string>(), add_special, parse_special);
    nlohmann::json tokens = nlohmann::json::array();
    for (int32_t id : ids) {
      if (with_pieces) {
        tokens.push_back({{"id", id}, {"piece", TextStream::TokenText(*model, id)}});
      } else {
        tokens.push_back(id);
      }
    }
    res.set_content(protocol::DumpJson({{"tokens", tokens}}), "application/json");
  });
  http.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body;
    nlohmann::ordered_json raw;
    if (!ParseBody(req, res, &body, &raw)) return;
    const int vocab = model->info().vocab_size;
    std::vector<int32_t> ids;
    if (!body.contains("tokens") || !body["tokens"].is_array()) {
      return Reply(res, protocol::InvalidRequest("tokens must be an array of ids", "tokens"),
                   false);
    }
    for (const auto& t : body["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab) {
        return Reply(res,
                     protocol::InvalidRequest(
                         "tokens must be ids in 0.." + std::to_string(vocab - 1), "tokens"),
                     false);
      }
      ids.push_back(t.get<int32_t>());
    }
    res.set_content(protocol::DumpJson({{"content", model->Detokenize(ids)}}), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.Format(engine->stats()), "text/plain; version=0.0.4");
  });
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() {
  Stop();
  if (impl_->loader.joinable()) impl_->loader.join();
}

Result<std::unique_ptr<ApiServer>> ApiServer::Create(const ServeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.port < 0 || options.port > 65535) return Status::Error("port must be 0..65535");
  impl->Routes();
  if (options.port == 0) {
    impl->port = impl->http.bind_to_any_port(options.host.c_str());
    if (impl->port < 0) impl->port = 0;
  } else {
    impl->port = impl->http.bind_to_port(options.host.c_str(), options.port) ? options.port : 0;
  }
  if (impl->port == 0) {
    return Status(StatusCode::kUnavailable, "cannot listen on " + options.host + ":" +
                                                std::to_string(options.port) +
                                                " (in use, or not an address of this machine)");
  }
  Impl* raw = impl.get();
  raw->loader = std::thread([raw] { raw->Load(); });
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

Status ApiServer::Listen() {
  impl_->http.listen_after_bind();
  if (impl_->loader.joinable()) impl_->loader.join();
  return impl_->load_status;
}

void ApiServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  WaitUntilReady();
  if (impl_->engine) impl_->engine->Shutdown();  // ends every stream
  impl_->http.stop();
}

Status ApiServer::WaitUntilReady() {
  std::unique_lock lock(impl_->load_mu);
  impl_->load_cv.wait(lock, [&] { return impl_->load_done; });
  return impl_->load_status;
}

int ApiServer::port() const { return impl_->port; }

}  // namespace gemma
