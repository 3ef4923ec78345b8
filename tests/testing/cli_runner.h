// Running the `gemma` program as a user would, for the CLI tests: with
// stdin from a string (a pipe), or inside a pseudo-terminal (line editing,
// Ctrl-C, history), with a timeout so that a hang fails instead of blocking.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gemma::testing {

struct CliOutput {
  int exit_code = -1;  // -1: killed by a signal or the timeout
  std::string text;    // stdout, and stderr unless kept apart
  std::string err;     // stderr when kept apart
};

// `args` are shell-quoted already. stdin is `input` ("" reads /dev/null).
// The program is killed after timeout_s (exit_code -1).
CliOutput RunCli(const std::string& args, const std::string& input = "",
                 bool separate_stderr = false, int timeout_s = 300);

std::string TinyModel();  // models/tiny-gemma3.gguf in the checkout

// The program in a pseudo-terminal: write keys, wait for text.
class PtySession {
 public:
  // `env` entries ("XDG_STATE_HOME=/tmp/x") are added to the environment.
  PtySession(const std::vector<std::string>& args, const std::vector<std::string>& env);
  ~PtySession();  // kills the program if it still runs

  // Waits until `text` appears in the output after what earlier Expects
  // matched; false on timeout or end of output. The terminal's "\r\n" line
  // ends are read as "\n".
  bool Expect(const std::string& text, double timeout_s = 30);
  // Waits for any output after what Expect matched.
  bool ExpectMore(double timeout_s = 30);
  // Types `keys`. settle: first wait until the program has printed nothing
  // for a moment, as a person would (keys typed while the program is still
  // printing its prompt are echoed twice: once by the terminal, before
  // libedit takes it over, and once by libedit).
  void Send(const std::string& keys, bool settle = true);
  // The exit code once the program ends (-1: signal or timeout).
  int Wait(double timeout_s = 30);
  const std::string& output() const { return output_; }

 private:
  bool ReadSome(double timeout_s);
  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  size_t matched_ = 0;  // output_ before this was consumed by Expect
};

}  // namespace gemma::testing
