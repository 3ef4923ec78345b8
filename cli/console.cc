#include "console.h"

#include <histedit.h>
#include <langinfo.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace gemma::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) { g_interrupted = 1; }

// UTF-8 <-> wchar_t (UCS-4 on the platforms we build for), done here rather
// than through the C locale, which may be "C" in containers and then refuses
// every non-ASCII character.
void AppendUtf8(std::string& out, wchar_t wc) {
  const auto c = static_cast<uint32_t>(wc);
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::wstring Utf8ToWide(const std::string& text) {
  std::wstring out;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const int extra = b < 0x80 ? 0 : b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= text.size()) {
      out += static_cast<wchar_t>(0xFFFD);
      ++i;
      continue;
    }
    uint32_t c = extra == 0 ? b : b & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k)
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out += static_cast<wchar_t>(c);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

// Reads one byte from stdin; -1 with errno EINTR when Ctrl-C was pressed.
int ReadByte() {
  for (;;) {
    unsigned char byte;
    const ssize_t n = ::read(STDIN_FILENO, &byte, 1);
    if (n == 1) return byte;
    if (n == 0) return -2;  // end of input
    if (errno == EINTR) {
      if (g_interrupted) return -1;
      continue;
    }
    return -2;
  }
}

// libedit's character reader: UTF-8 from stdin, and an error return on
// Ctrl-C so that el_wgets gives up the line (libedit itself would retry).
int ReadCharacter(EditLine*, wchar_t* out) {
  *out = 0;
  const int first = ReadByte();
  if (first == -1) return -1;
  if (first == -2) return 0;
  const int extra = first < 0x80    ? 0
                    : first >= 0xF0 ? 3
                    : first >= 0xE0 ? 2
                    : first >= 0xC0 ? 1
                                    : 0;
  uint32_t c = extra == 0 ? static_cast<uint32_t>(first) : first & (0x3F >> extra);
  for (int k = 0; k < extra; ++k) {
    const int next = ReadByte();
    if (next == -1) return -1;
    if (next == -2) return 0;
    c = (c << 6) | (next & 0x3F);
  }
  *out = static_cast<wchar_t>(first >= 0x80 && extra == 0 ? 0xFFFD : c);
  return 1;
}

char* PromptOf(EditLine* el);

}  // namespace

void InstallInterruptHandler() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR
  sigaction(SIGINT, &action, nullptr);
}

bool Interrupted() { return g_interrupted != 0; }
void ClearInterrupt() { g_interrupted = 0; }

std::string DefaultHistoryPath() {
  namespace fs = std::filesystem;
  fs::path dir;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    dir = fs::path(state) / "gemma";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    dir = fs::path(home) / ".local" / "state" / "gemma";
  } else {
    return "";
  }
  return (dir / "history").string();
}

struct LineReader::Editor {
  EditLine* el = nullptr;
  HistoryW* history = nullptr;
  std::string history_path;
  std::string prompt;
};

namespace {

char* PromptOf(EditLine* el) {
  LineReader::Editor* editor = nullptr;
  el_get(el, EL_CLIENTDATA, &editor);
  return editor->prompt.data();
}

}  // namespace

LineReader::LineReader(const std::string& history_path) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return;
  // libedit converts between wide and multibyte text through the locale;
  // a UTF-8 one keeps non-ASCII input intact.
  std::setlocale(LC_CTYPE, "");
  if (std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
  editor_ = std::make_unique<Editor>();
  editor_->el = el_init("gemma", stdin, stdout, stderr);
  if (editor_->el == nullptr) {
    editor_.reset();
    return;
  }
  el_set(editor_->el, EL_CLIENTDATA, editor_.get());
  el_set(editor_->el, EL_PROMPT, &PromptOf);
  el_set(editor_->el, EL_EDITOR, "emacs");
  el_set(editor_->el, EL_SIGNAL, 0);
  el_set(editor_->el, EL_GETCFN, &ReadCharacter);
  editor_->history = history_winit();
  HistEventW event;
  history_w(editor_->history, &event, H_SETSIZE, 1000);
  history_w(editor_->history, &event, H_SETUNIQUE, 1);
  el_wset(editor_->el, EL_HIST, history_w, editor_->history);
  el_source(editor_->el, nullptr);  // the user's ~/.editrc, as other libedit programs
  editor_->history_path = history_path;
  if (!history_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(history_path).parent_path(), ec);
    history_w(editor_->history, &event, H_LOAD, history_path.c_str());  // absent at first: fine
  }
}

LineReader::~LineReader() {
  if (!editor_) return;
  el_end(editor_->el);
  history_wend(editor_->history);
}

LineReader::Status LineReader::Read(const std::string& prompt, std::string& line) {
  if (!editor_) return ReadPlain(prompt, line);
  editor_->prompt = prompt;
  int count = 0;
  const wchar_t* text = el_wgets(editor_->el, &count);
  if (text == nullptr) {
    if (Interrupted()) {
      el_reset(editor_->el);  // back to a clean line and a cooked terminal
      std::cout << "^C\n" << std::flush;
      return Status::kInterrupted;
    }
    std::cout << "\n" << std::flush;
    return Status::kEndOfInput;
  }
  line.clear();
  for (int i = 0; i < count && text[i] != L'\n'; ++i) AppendUtf8(line, text[i]);
  return Status::kLine;
}

LineReader::Status LineReader::ReadPlain(const std::string& prompt, std::string& line) {
  std::cout << prompt << std::flush;
  for (;;) {
    const size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return Status::kLine;
    }
    if (end_of_input_) {
      if (pending_.empty()) return Status::kEndOfInput;
      line = std::move(pending_);
      pending_.clear();
      return Status::kLine;
    }
    char buffer[4096];
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n > 0) {
      pending_.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      if (Interrupted()) return Status::kInterrupted;
    } else {
      end_of_input_ = true;
    }
  }
}

void LineReader::Remember(const std::string& line) {
  if (!editor_ || line.empty()) return;
  HistEventW event;
  const std::wstring wide = Utf8ToWide(line);
  history_w(editor_->history, &event, H_ENTER, wide.c_str());
  if (!editor_->history_path.empty()) {
    history_w(editor_->history, &event, H_SAVE, editor_->history_path.c_str());
  }
}

bool MessageAssembler::Feed(const std::string& line) {
  if (complete_) Clear();
  auto ends_with_quotes = [](const std::string& s) {
    return s.size() >= 3 && s.compare(s.size() - 3, 3, "\"\"\"") == 0;
  };
  if (in_block_) {
    if (ends_with_quotes(line)) {
      if (line.size() > 3) lines_.push_back(line.substr(0, line.size() - 3));
      in_block_ = false;
      complete_ = true;
    } else {
      lines_.push_back(line);
    }
    return complete_;
  }
  if (!continued_ && line.compare(0, 3, "\"\"\"") == 0) {
    const std::string rest = line.substr(3);
    if (ends_with_quotes(rest)) {  // """one line"""
      lines_.push_back(rest.substr(0, rest.size() - 3));
      complete_ = true;
      return true;
    }
    in_block_ = true;
    if (!rest.empty()) lines_.push_back(rest);
    return false;
  }
  if (!line.empty() && line.back() == '\\') {
    lines_.push_back(line.substr(0, line.size() - 1));
    continued_ = true;
    return false;
  }
  lines_.push_back(line);
  continued_ = false;
  complete_ = true;
  return true;
}

std::string MessageAssembler::Take() {
  std::string message;
  for (size_t i = 0; i < lines_.size(); ++i) message += (i ? "\n" : "") + lines_[i];
  Clear();
  return message;
}

void MessageAssembler::Clear() {
  lines_.clear();
  in_block_ = continued_ = complete_ = false;
}

}  // namespace gemma::cli
