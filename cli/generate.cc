#include "generate.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "console.h"

namespace gemma::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

void ShowPrompt(const Model& model, const std::vector<int32_t>& ids) {
  std::cerr << "--- prompt (" << ids.size() << " tokens) ---\n"
            << RenderTokens(model, ids) << "\n--- ids:";
  for (int32_t id : ids) std::cerr << " " << id;
  std::cerr << "\n--- end of prompt ---\n" << std::flush;
}

// The length of `text` without a trailing U+FFFD: Detokenize writes one for
// a character whose bytes have not all arrived yet.
size_t StableLength(const std::string& text) {
  size_t n = text.size();
  while (n >= 3 && text.compare(n - 3, 3, "\xEF\xBF\xBD") == 0) n -= 3;
  return n;
}

}  // namespace

Result<std::string> ChatTurn(Model& model, Chat& chat, std::string_view message,
                             const GenerateOptions& options, bool show_prompt, TurnStats& stats) {
  stats = {};
  const int start = chat.session().position();
  const auto t0 = Clock::now();
  Clock::time_point first_piece;
  int prompt_end = -1;
  auto prompt_done = [&] {
    if (prompt_end >= 0) return;
    first_piece = Clock::now();
    prompt_end = chat.session().position();
    if (show_prompt) {
      const std::vector<int32_t>& tokens = chat.session().tokens();
      ShowPrompt(model, std::vector<int32_t>(tokens.begin() + std::min(start, prompt_end),
                                             tokens.begin() + prompt_end));
    }
  };
  // Thoughts (Gemma 4, thinking on) come before the answer: dimmed on a
  // terminal, between "Thinking..." and "...done thinking." lines otherwise
  // (as Ollama prints them).
  const bool terminal = isatty(STDOUT_FILENO) != 0;
  bool in_thought = false;
  auto end_thought = [&] {
    if (!in_thought) return;
    in_thought = false;
    std::cout << (terminal ? "\x1b[0m\n\n" : "\n...done thinking.\n\n") << std::flush;
  };
  auto stream = [&](std::string_view piece, bool thought) {
    prompt_done();
    if (Interrupted()) {
      stats.interrupted = true;
      return false;
    }
    if (thought && !in_thought) {
      in_thought = true;
      std::cout << (terminal ? "\x1b[2m" : "Thinking...\n");
    } else if (!thought) {
      end_thought();
    }
    std::cout << piece << std::flush;
    return true;
  };
  Result<std::string> answer = chat.Send(
      message, options, [&](std::string_view piece) { return stream(piece, false); },
      [&](std::string_view piece) { return stream(piece, true); });
  end_thought();  // a turn stopped while thinking still ends the dim text
  const auto t1 = Clock::now();
  if (prompt_end < 0) {  // no text came (an immediate end of turn, or an error)
    prompt_done();
    first_piece = t1;
  }
  stats.prompt_tokens = std::max(0, prompt_end - start);
  stats.prompt_seconds = Seconds(t0, first_piece);
  stats.answer_tokens = std::max(0, chat.session().position() - prompt_end);
  stats.answer_seconds = Seconds(first_piece, t1);
  stats.context_used = chat.session().position();
  stats.context_size = chat.session().capacity();
  return answer;
}

Result<std::string> RawCompletion(Model& model, std::string_view prompt,
                                  const GenerateOptions& options, bool show_prompt,
                                  TurnStats& stats) {
  stats = {};
  if (Status valid = ValidateSamplingParams(options.sampling); !valid.ok()) return valid;
  Session session(model);
  const std::vector<int32_t> ids = model.Tokenize(prompt, /*add_bos=*/true, /*parse_special=*/true);
  if (show_prompt) ShowPrompt(model, ids);
  const auto t0 = Clock::now();
  if (Status status = session.Append(ids); !status.ok()) return status;
  const auto t1 = Clock::now();
  stats.prompt_tokens = static_cast<int>(ids.size());
  stats.prompt_seconds = Seconds(t0, t1);
  // -n -1: until the end of the text or of the context.
  const int limit =
      options.max_tokens < 0 ? session.capacity() - session.position() : options.max_tokens;
  std::vector<int32_t> generated;
  std::string text;
  size_t shown = 0;
  for (int i = 0; i < limit; ++i) {
    if (Interrupted()) {
      stats.interrupted = true;
      break;
    }
    const int32_t id = session.Sample(options.sampling);
    if (model.IsEndOfGeneration(id)) break;
    generated.push_back(id);
    // Decoding the whole answer again keeps characters split over byte
    // tokens intact; answers are short enough for that to cost nothing.
    text = model.Detokenize(generated);
    if (const size_t stable = StableLength(text); stable > shown) {
      std::cout << text.substr(shown, stable - shown) << std::flush;
      shown = stable;
    }
    if (Status status = session.Append(std::span<const int32_t>(&id, 1)); !status.ok()) {
      return status;
    }
  }
  if (shown < text.size()) std::cout << text.substr(shown) << std::flush;
  stats.answer_tokens = static_cast<int>(generated.size());
  stats.answer_seconds = Seconds(t1, Clock::now());
  stats.context_used = session.position();
  stats.context_size = session.capacity();
  return text;
}

void PrintTurnStats(const TurnStats& s, bool verbose) {
  auto rate = [](int tokens, double seconds) { return seconds > 0 ? tokens / seconds : 0.0; };
  char line[256];
  std::snprintf(line, sizeof(line),
                "[prompt: %d tokens, %.1f tokens/s; answer: %d tokens, %.1f tokens/s%s]",
                s.prompt_tokens, rate(s.prompt_tokens, s.prompt_seconds), s.answer_tokens,
                rate(s.answer_tokens, s.answer_seconds), s.interrupted ? "; stopped" : "");
  std::cerr << line << "\n";
  if (verbose) {
    std::snprintf(line, sizeof(line),
                  "[prompt %.3f s, answer %.3f s; context %d of %d tokens; peak RSS %.1f MiB]",
                  s.prompt_seconds, s.answer_seconds, s.context_used, s.context_size,
                  PeakResidentBytes() / 1048576.0);
    std::cerr << line << "\n";
  }
  std::cerr << std::flush;
}

std::string RenderTokens(const Model& model, const std::vector<int32_t>& ids) {
  // Control tokens decode to nothing; these are the ones Gemma prompts use.
  std::map<int32_t, std::string> control;
  for (const char* piece : {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                            "<end_of_turn>", "<start_of_image>", "<end_of_image>"}) {
    if (const int32_t id = model.PieceToId(piece); id >= 0) control[id] = piece;
  }
  std::string out;
  std::vector<int32_t> run;  // consecutive ordinary tokens, decoded together
  auto flush = [&] {
    out += model.Detokenize(run);
    run.clear();
  };
  for (int32_t id : ids) {
    if (const auto it = control.find(id); it != control.end()) {
      flush();
      out += it->second;
    } else if (model.Detokenize({id}).empty()) {
      flush();
      out.append("<").append(std::to_string(id)).append(">");
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

size_t PeakResidentBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // kilobytes on Linux
}

size_t CurrentResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long total = 0, resident = 0;
  const int read = std::fscanf(f, "%llu %llu", &total, &resident);
  std::fclose(f);
  return read == 2 ? static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace gemma::cli
