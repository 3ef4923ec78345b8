// `gemma serve`: an HTTP server speaking OpenAI's API (/v1/chat/completions,
// /v1/completions, /v1/embeddings, /v1/models) and Ollama's (/api/chat,
// /api/generate, /api/embed, /api/tags, /api/show, /api/version) on one port,
// with /health, /metrics (Prometheus), /tokenize, /detokenize and a chat page
// at /. Requests run through one Engine (continuous batching, prefix cache).
//
//   gemma::ServeOptions options;
//   options.model_path = "gemma-3-1b-it-q4_0.gguf";
//   auto server = gemma::ApiServer::Create(options);
//   (*server)->Listen();  // blocks until Stop()
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gemma/engine.h"
#include "gemma/gemma.h"
#include "gemma/sampling.h"
#include "gemma/status.h"

namespace gemma {

struct ServeOptions {
  std::string model_path;
  ModelOptions model;    // parallel, context, threads, KV type, ...
  EngineOptions engine;  // queue limit, prefill chunk
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see ApiServer::port())
  // Keys that API routes accept as "Authorization: Bearer KEY" (or
  // "X-Api-Key: KEY"); empty: no authentication. /health and the chat page
  // stay open.
  std::vector<std::string> api_keys;
  std::string model_alias;      // the model id clients see; default: the file's name
  std::string cors_origin;      // "" (same origin only), "*" or one origin
  int http_threads = 128;       // connections served at once (streams hold one each)
  SamplingParams defaults;      // sampling when a request does not say
  int default_max_tokens = -1;  // -1: until the end of the turn or the context
  size_t max_body_bytes = 32u << 20;
  bool quiet = false;  // no request log on stderr
};

class ApiServer {
 public:
  // Binds the port and starts loading the model in the background: /health
  // answers 503 until it is loaded. Errors: the port cannot be bound.
  static Result<std::unique_ptr<ApiServer>> Create(const ServeOptions& options);
  ~ApiServer();

  // Serves until Stop(); returns the model's load error, if loading failed.
  Status Listen();
  // Stops accepting, cancels running requests and makes Listen() return.
  // Safe from any thread (not from a signal handler).
  void Stop();
  // Blocks until the model is loaded (or failed to load).
  Status WaitUntilReady();
  int port() const;

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma
