// A program built against an installed libgemma, once through find_package
// and once through pkg-config (run_install_test.cmake). It opens the model
// named on the command line, completes a prompt greedily and prints what it
// got; a missing file must come back as a "not found" Status. Then it serves
// the model (gemma/serve.h) on a free loopback port and asks /health over a
// plain socket, so the server's part of the library links and runs too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "gemma/gemma.h"
#include "gemma/serve.h"

namespace {

// The whole answer to "GET path" on 127.0.0.1:port, or "" if none came.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, n);
    }
  }
  close(fd);
  return answer;
}

// Serves the model on a free port until /health has answered.
bool ServeOnce(const std::string& model_path) {
  gemma::ServeOptions options;
  options.model_path = model_path;
  options.port = 0;
  options.quiet = true;
  options.model.threads = 1;
  auto server = gemma::ApiServer::Create(options);
  if (!server.ok()) {
    std::cerr << "serve: " << server.status().message() << "\n";
    return false;
  }
  if (const gemma::Status ready = (*server)->WaitUntilReady(); !ready.ok()) {
    std::cerr << "serve: " << ready.message() << "\n";
    return false;
  }
  std::thread listener([&] { (void)(*server)->Listen(); });
  // The port is bound and listening since Create(): the request waits in the
  // backlog until Listen() serves it, so Stop() comes after a running loop.
  const std::string health = HttpGet((*server)->port(), "/health");
  (*server)->Stop();
  listener.join();
  if (health.rfind("HTTP/1.1 200", 0) != 0 || health.find(R"("status":"ok")") == std::string::npos) {
    std::cerr << "serve: /health answered: " << health << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hello_gemma MODEL\n";
    return 2;
  }
  const auto missing = gemma::Model::Open(std::string(argv[1]) + ".missing");
  if (missing.ok() || missing.status().code() != gemma::StatusCode::kNotFound) {
    std::cerr << "a missing model file should be 'not found'\n";
    return 1;
  }
  gemma::ModelOptions options;
  options.threads = 1;
  auto model = gemma::Model::Open(argv[1], options);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return 1;
  }
  gemma::GenerateOptions generate;
  generate.max_tokens = 4;
  int pieces = 0;
  const auto answer = gemma::Complete(**model, "Hello", generate, [&](std::string_view) {
    ++pieces;
    return true;
  });
  if (!answer.ok()) {
    std::cerr << "error: " << answer.status().message() << "\n";
    return 1;
  }
  std::cout << "architecture " << (*model)->info().architecture << ", " << pieces
            << " pieces streamed\n";
  if (pieces == 0) return 1;
  if (!ServeOnce(argv[1])) return 1;
  std::cout << "served /health\n";
  return 0;
}
