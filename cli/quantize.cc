// gemma quantize IN OUT TYPE: a GGUF (any type) or a Hugging Face folder to a
// GGUF file of TYPE, with llama.cpp's per-tensor mixes.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.h"
#include "gemma/tools.h"

namespace gemma::cli {

Command RegisterQuantize(CLI::App& app) {
  struct Flags {
    std::string input, output, type;
    int threads = 0;
    bool allow_requantize = false;
  };
  auto flags = std::make_shared<Flags>();
  app.add_option("input", flags->input, "a .gguf file or a Hugging Face checkpoint folder")
      ->required();
  app.add_option("output", flags->output, "the .gguf file to write")->required();
  app.add_option(
         "type", flags->type,
         "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_m, q5_k_m, q6_k, bf16, f16 or f32 (either case)")
      ->required();
  app.add_option("-t,--threads", flags->threads, "threads (default: one per core)")
      ->check(NumberIn(0, 4096, "use 0 (one per core) or a number of threads"));
  app.add_flag("--allow-requantize", flags->allow_requantize,
               "quantize weights that are already quantized (the rounding of both steps adds "
               "up; better start from the f16/bf16 original)");
  return [flags]() {
    const int threads =
        flags->threads > 0 ? flags->threads : static_cast<int>(std::thread::hardware_concurrency());
    const auto start = std::chrono::steady_clock::now();
    const Status status = QuantizeModel(
        flags->input, flags->output, flags->type, threads,
        [](const QuantizeProgress& p) {
          std::fprintf(stderr, "\r[%3zu/%3zu] %-48s", p.tensors_done, p.tensors_total,
                       p.tensor.c_str());
          if (p.tensors_done == p.tensors_total) {
            std::fprintf(stderr, "\n%.1f MiB -> %.1f MiB\n", p.bytes_in / 1048576.0,
                         p.bytes_out / 1048576.0);
          }
        },
        flags->allow_requantize);
    if (!status.ok()) {
      std::cerr << "\nerror: " << status.message() << "\n";
      return 1;
    }
    std::fprintf(stderr, "wrote %s in %.1f s\n", flags->output.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
  };
}

}  // namespace gemma::cli
