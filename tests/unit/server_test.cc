// The HTTP server in-process (also run under ThreadSanitizer): concurrent
// streamed and whole requests over loopback get their own answers, equal to
// the same request alone; a client that leaves mid-stream frees its sequence;
// Stop() ends everything. The JavaScript suites (tests/e2e/) cover the API
// surface with the official clients.
#include <httplib.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "gemma/serve.h"

namespace gemma {
namespace {

const std::string kModel = std::string(GEMMA_REPO_DIR) + "/models/tiny-gemma3.gguf";

std::unique_ptr<ApiServer> Start(int parallel) {
  ServeOptions options;
  options.model_path = kModel;
  options.port = 0;
  options.quiet = true;
  options.model.parallel = parallel;
  options.model.threads = 2;
  options.model.context_length = 512;
  auto server = ApiServer::Create(options);
  EXPECT_TRUE(server.ok()) << server.status().message();
  if (!server.ok()) return nullptr;
  EXPECT_TRUE((*server)->WaitUntilReady().ok());
  return std::move(server).value();
}

nlohmann::json ChatBody(int i, bool stream) {
  return {{"messages", {{{"role", "user"}, {"content", "question number " + std::to_string(i)}}}},
          {"max_tokens", 12 + i % 5},
          {"temperature", 0},
          {"logit_bias", {{"1", -100}, {"5", -100}}},  // no early <eos>/<end_of_turn>
          {"stream", stream}};
}

// The content of a response, streamed (SSE) or whole.
std::string Content(const std::string& body, bool stream) {
  if (!stream) return nlohmann::json::parse(body)["choices"][0]["message"]["content"];
  std::string content;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") break;
    const auto chunk = nlohmann::json::parse(data);
    for (const auto& c : chunk["choices"]) {
      if (c["delta"].contains("content") && c["delta"]["content"].is_string()) {
        content += c["delta"]["content"].get<std::string>();
      }
    }
  }
  return content;
}

TEST(Server, ConcurrentRequestsGetTheirOwnAnswers) {
  auto server = Start(4);
  ASSERT_TRUE(server);
  std::thread listener([&] { server->Listen(); });
  const int port = server->port();
  // Alone first.
  std::vector<std::string> alone(8);
  for (int i = 0; i < 8; ++i) {
    httplib::Client client("127.0.0.1", port);
    auto res = client.Post("/v1/chat/completions", ChatBody(i, false).dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    alone[i] = Content(res->body, false);
  }
  // Then all at once, half of them streamed.
  std::vector<std::string> together(8);
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", port);
      const bool stream = i % 2 == 1;
      auto res = client.Post("/v1/chat/completions", ChatBody(i, stream).dump(), "application/json");
      if (res && res->status == 200) together[i] = Content(res->body, stream);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(together[i], alone[i]) << "request " << i;
  server->Stop();
  listener.join();
}

TEST(Server, ClientThatLeavesFreesItsSequence) {
  auto server = Start(1);
  ASSERT_TRUE(server);
  std::thread listener([&] { server->Listen(); });
  const int port = server->port();
  {
    httplib::Client client("127.0.0.1", port);
    nlohmann::json body = ChatBody(1, true);
    body["max_tokens"] = 100000;  // would run to the end of the context
    int chunks = 0;
    // Reads a few chunks, then returns false: the client closes the connection.
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 4; };
    client.send(req);
  }
  // The next request runs (parallel 1): the first one's sequence was freed.
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto res = client.Post("/v1/chat/completions", ChatBody(2, false).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gemma_requests_running 0"), std::string::npos) << metrics->body;
  server->Stop();
  listener.join();
}

TEST(Server, StopEndsRunningStreams) {
  auto server = Start(2);
  ASSERT_TRUE(server);
  std::thread listener([&] { server->Listen(); });
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server->port());
    nlohmann::json body = ChatBody(1, true);
    body["max_tokens"] = 100000;
    c.Post("/v1/chat/completions", body.dump(), "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server->Stop();
  listener.join();
  client.join();  // returned: the stream ended
}

}  // namespace
}  // namespace gemma
