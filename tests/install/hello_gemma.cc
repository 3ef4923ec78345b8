// A program built against an installed libgemma, once through find_package
// and once through pkg-config (run_install_test.cmake). It opens the model
// named on the command line, completes a prompt greedily and prints what it
// got; a missing file must come back as a "not found" Status.
#include <iostream>
#include <string>
#include <string_view>

#include "gemma/gemma.h"

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
  return pieces > 0 ? 0 : 1;
}
