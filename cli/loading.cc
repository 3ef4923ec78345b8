// Loading a model with something to look at: a cold load of a large file is
// mostly reading it from disk, so on a terminal the files are read through
// once first with a percentage shown (into the page cache: no memory of
// ours), then the engine's own load runs with an elapsed-time ticker.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "commands.h"
#include "generate.h"

namespace gemma::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Mib(size_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f MiB", bytes / 1048576.0);
  return buffer;
}

// The files a load reads in full: the .gguf, or a folder's .safetensors.
std::vector<std::pair<std::string, size_t>> ModelFiles(const std::string& path) {
  std::vector<std::pair<std::string, size_t>> files;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    files.emplace_back(path, fs::file_size(path, ec));
  } else if (fs::is_directory(path, ec)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".safetensors" && it->is_regular_file(ec)) {
        files.emplace_back(it->path().string(), it->file_size(ec));
      }
    }
  }
  return files;
}

size_t AvailableMemory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  while (meminfo >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    meminfo.ignore(64, '\n');
  }
  return 0;
}

// Reads the files once so that the load finds them in the page cache,
// showing how far it got. Skipped when they would not fit in memory anyway.
void WarmUp(const std::string& name, const std::vector<std::pair<std::string, size_t>>& files,
            size_t total) {
  if (total < (size_t{64} << 20) || AvailableMemory() < 2 * total) return;
  std::vector<char> buffer(size_t{8} << 20);
  size_t done = 0;
  auto last = Clock::now();
  for (const auto& [file, size] : files) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) {
      done += static_cast<size_t>(n);
      if (Clock::now() - last > std::chrono::milliseconds(100)) {
        std::fprintf(stderr, "\rloading %s: reading %3.0f%% of %s", name.c_str(),
                     100.0 * done / total, Mib(total).c_str());
        last = Clock::now();
      }
    }
    ::close(fd);
  }
}

// Prints the seconds a load has taken, once a second, until stopped.
class Ticker {
 public:
  explicit Ticker(std::string name) : name_(std::move(name)), start_(Clock::now()) {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
        std::fprintf(stderr, "\rloading %s: preparing the weights (%.0f s)   ", name_.c_str(),
                     std::chrono::duration<double>(Clock::now() - start_).count());
      }
    });
  }
  ~Ticker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::string name_;
  Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Model> OpenModel(const std::string& path, const ModelOptions& options,
                                 bool announce, bool verbose) {
  const bool terminal = isatty(STDERR_FILENO);
  const bool show = announce && (terminal || verbose);
  const std::string name =
      fs::path(path).filename().string().empty() ? path : fs::path(path).filename().string();
  const auto start = Clock::now();
  const size_t program_bytes = CurrentResidentBytes();  // the program itself, before the model
  Result<std::unique_ptr<Model>> model = Status();
  {
    if (show && terminal) {
      const auto files = ModelFiles(path);
      size_t total = 0;
      for (const auto& [file, size] : files) total += size;
      WarmUp(name, files, total);
      std::fprintf(stderr, "\rloading %s ...%40s\r", name.c_str(), "");
    }
    std::unique_ptr<Ticker> ticker;
    if (show && terminal) ticker = std::make_unique<Ticker>(name);
    model = Model::Open(path, options);
  }
  if (show && terminal) std::fprintf(stderr, "\r\033[K");  // clear the progress line
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return nullptr;
  }
  const ModelInfo& i = (*model)->info();
  for (const std::string& warning : i.warnings) std::cerr << "warning: " << warning << "\n";
  if (show) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::fprintf(stderr,
                 "loaded %s (%s, %d layers) in %.1f s; %s resident, %s with the KV cache full\n",
                 name.c_str(), i.architecture.c_str(), i.num_layers, seconds,
                 Mib(i.resident_bytes - std::min(i.resident_bytes, i.kv_cache_bytes)).c_str(),
                 Mib(i.resident_bytes).c_str());
    if (verbose) {
      std::fprintf(stderr,
                   "  weights %s (%s repacked, %s mapped), KV cache %s (%s, %d tokens), "
                   "scratch %s, tokenizer and the rest %s\n"
                   "  %s kernels, %d threads; program %s before the load\n",
                   Mib(i.resident_weights_bytes).c_str(), Mib(i.packed_bytes).c_str(),
                   Mib(i.mapped_weights_bytes).c_str(), Mib(i.kv_cache_bytes).c_str(),
                   i.kv_cache_type.c_str(), i.active_context, Mib(i.scratch_bytes).c_str(),
                   Mib(i.resident_other_bytes).c_str(), i.simd.c_str(), i.threads,
                   Mib(program_bytes).c_str());
    }
  }
  return std::move(model).value();
}

}  // namespace gemma::cli
