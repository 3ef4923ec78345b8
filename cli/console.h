// The terminal side of `gemma chat` and `gemma run`: Ctrl-C as a request to
// stop (not a kill), line input with editing and history kept across runs
// (libedit), and multi-line messages ("""-blocks as in Ollama, a trailing
// backslash to continue a line).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace gemma::cli {

// SIGINT sets a flag instead of killing the process, so that an answer can
// stop at the next token and the conversation survive. Install once the
// model is loaded (Ctrl-C during loading still exits).
void InstallInterruptHandler();
// Whether Ctrl-C was pressed since the last ClearInterrupt().
bool Interrupted();
void ClearInterrupt();

// Where the chat history is kept: $XDG_STATE_HOME/gemma/history, else
// ~/.local/state/gemma/history; "" when neither variable is set.
std::string DefaultHistoryPath();

class LineReader {
 public:
  enum class Status { kLine, kEndOfInput, kInterrupted };

  // On a terminal: libedit with history loaded from (and saved to)
  // history_path ("" keeps none). Otherwise plain reads from stdin, which
  // Ctrl-C interrupts as well.
  explicit LineReader(const std::string& history_path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // One line without its newline, in UTF-8.
  Status Read(const std::string& prompt, std::string& line);
  // Adds a line to the history (terminal only) and saves the history file.
  void Remember(const std::string& line);
  bool interactive() const { return editor_ != nullptr; }

  struct Editor;  // libedit state

 private:
  Status ReadPlain(const std::string& prompt, std::string& line);

  std::unique_ptr<Editor> editor_;
  std::string pending_;  // bytes read past the last line (plain mode)
  bool end_of_input_ = false;
};

// Joins typed lines into one message. A line starting with """ opens a
// block that ends at a line ending with """ (text on the opening and closing
// lines is part of the message; """text""" on one line is a whole message);
// outside a block, a line ending with a backslash continues on the next one.
// Lines are joined with newlines.
class MessageAssembler {
 public:
  // Takes one line; true when a message is complete (see Take()).
  bool Feed(const std::string& line);
  // Inside a block or after a continuation: the prompt should say so.
  bool pending() const { return in_block_ || continued_; }
  std::string Take();
  void Clear();

 private:
  std::vector<std::string> lines_;
  bool in_block_ = false;
  bool continued_ = false;
  bool complete_ = false;
};

}  // namespace gemma::cli
