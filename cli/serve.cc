// gemma serve: the OpenAI- and Ollama-compatible HTTP server (gemma/serve.h).
#include "gemma/serve.h"

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"

namespace gemma::cli {

Command RegisterServe(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    SamplingFlags sampling;
    ServeOptions serve;
    std::vector<std::string> api_keys;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  flags->sampling.Register(app);
  ServeOptions& s = flags->serve;
  s.model.parallel = 4;
  app.add_option("--host", s.host, "address to listen on")->capture_default_str();
  app.add_option("--port", s.port, "port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--parallel,--np", s.model.parallel, "requests served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--kv-size", s.model.kv_size,
                 "KV positions shared by all requests (default: --ctx x --parallel)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--api-key", flags->api_keys,
                 "require this key (Authorization: Bearer KEY); repeat or comma-separate for more")
      ->delimiter(',');
  app.add_option("--alias", s.model_alias, "the model id clients see (default: the file name)");
  app.add_option("--queue", s.engine.max_waiting, "requests that may wait; more get HTTP 503")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prefill-chunk", s.engine.prefill_chunk,
                 "prompt tokens per step while others generate (lower: steadier streams)")
      ->capture_default_str()
      ->check(CLI::Range(1, 8192));
  app.add_option("--cors", s.cors_origin, "allowed browser origin for other sites ('*' for any)");
  app.add_option("--http-threads", s.http_threads, "connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(4, 4096));
  app.add_flag("--quiet", s.quiet, "no request log");
  return [flags]() {
    ServeOptions options = flags->serve;
    options.model = flags->model.Options();
    options.model.parallel = flags->serve.model.parallel;
    options.model.kv_size = flags->serve.model.kv_size;
    options.model_path = flags->model.path();
    options.defaults = flags->sampling.options.sampling;
    options.default_max_tokens = flags->sampling.options.max_tokens;
    options.api_keys = flags->api_keys;
    // SIGINT/SIGTERM go to one thread that stops the server cleanly (every
    // thread started from here on inherits the blocked mask).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client that left must not kill the server
    auto created = ApiServer::Create(options);
    if (!created.ok()) {
      std::cerr << "error: " << created.status().message() << "\n";
      return 1;
    }
    ApiServer& server = **created;
    std::cerr << "gemma serve: listening on http://" << options.host << ":" << server.port()
              << " (loading " << options.model_path << ")\n";
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::cerr << "\ngemma serve: stopping\n";
      server.Stop();
    });
    const Status status = server.Listen();
    pthread_kill(waiter.native_handle(), SIGTERM);  // wakes it if Listen ended first
    waiter.join();
    if (!status.ok()) {
      std::cerr << "error: " << status.message() << "\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace gemma::cli
