#include "testing/cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace gemma::testing {
namespace {

namespace fs = std::filesystem;

std::string TempFile(const std::string& stem) {
  static int counter = 0;
  return (fs::temp_directory_path() /
          (stem + std::to_string(::getpid()) + "_" + std::to_string(++counter)))
      .string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

std::string TinyModel() { return std::string(GEMMA_REPO_DIR) + "/models/tiny-gemma3.gguf"; }

CliOutput RunCli(const std::string& args, const std::string& input, bool separate_stderr,
                 int timeout_s) {
  // timeout(1) turns a hang into a failed test rather than a stuck suite.
  std::string command = "timeout -s KILL " + std::to_string(timeout_s) + " " +
                        std::string(GEMMA_CLI_PATH) + " " + args;
  const std::string err_file = TempFile("gemma_cli_err_");
  command += separate_stderr ? " 2>" + err_file : " 2>&1";
  std::string input_file;
  if (!input.empty()) {
    input_file = TempFile("gemma_cli_input_");
    std::ofstream(input_file, std::ios::binary) << input;
    command += " < " + input_file;
  } else {
    command += " < /dev/null";
  }
  CliOutput out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.text.append(buffer.data(), n);
  const int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) && WEXITSTATUS(status) != 137 ? WEXITSTATUS(status) : -1;
  if (separate_stderr) {
    out.err = ReadFile(err_file);
    fs::remove(err_file);
  }
  if (!input_file.empty()) fs::remove(input_file);
  return out;
}

PtySession::PtySession(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  struct winsize size {};
  size.ws_row = 40;
  size.ws_col = 200;
  pid_ = forkpty(&master_, nullptr, nullptr, &size);
  if (pid_ == 0) {
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    setenv("TERM", "xterm", 1);
    std::vector<char*> argv;
    static const std::string program = GEMMA_CLI_PATH;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
}

PtySession::~PtySession() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

bool PtySession::ReadSome(double timeout_s) {
  struct pollfd p {
    master_, POLLIN, 0
  };
  if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return false;
  char buffer[4096];
  const ssize_t n = read(master_, buffer, sizeof(buffer));
  if (n <= 0) return false;  // EIO once the program has closed the terminal
  for (ssize_t i = 0; i < n; ++i) {
    if (buffer[i] != '\r') output_ += buffer[i];
  }
  return true;
}

bool PtySession::Expect(const std::string& text, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const size_t at = output_.find(text, matched_);
    if (at != std::string::npos) {
      matched_ = at + text.size();
      return true;
    }
    const double left =
        std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || !ReadSome(left)) return false;
  }
}

bool PtySession::ExpectMore(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (output_.size() <= matched_) {
    const double left =
        std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || !ReadSome(left)) return false;
  }
  return true;
}

void PtySession::Send(const std::string& keys, bool settle) {
  if (settle) {
    while (ReadSome(0.15)) {
    }
  }
  if (write(master_, keys.data(), keys.size()) < 0) return;
}

int PtySession::Wait(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    ReadSome(0.05);  // keep draining, or a full terminal buffer blocks the program
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      while (ReadSome(0.05)) {
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
  }
  return -1;
}

}  // namespace gemma::testing
