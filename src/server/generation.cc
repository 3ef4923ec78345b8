#include "server/generation.h"

#include <algorithm>
#include <random>

#include "server/constrain/matcher.h"
#include "server/protocol/chat_render.h"
#include "server/protocol/ollama_responses.h"
#include "server/protocol/openai_responses.h"
#include "server/protocol/stop_strings.h"

namespace gemma::server {
namespace {

using protocol::ApiError;
using protocol::Expected;
using Json = nlohmann::ordered_json;

// The engine's hook for a compiled grammar: one matcher per choice.
class GrammarConstraint : public TokenConstraint {
 public:
  explicit GrammarConstraint(std::shared_ptr<const constrain::CompiledGrammar> grammar)
      : matcher_(std::move(grammar)) {}
  bool Allows(int32_t token) override { return matcher_.Allows(token); }
  void Mask(std::span<float> logits) override { matcher_.MaskLogits(logits); }
  void Accept(int32_t token) override { matcher_.Accept(token); }

 private:
  constrain::Matcher matcher_;
};

// Control markers as their special tokens, text literally (a user cannot
// type a turn marker into existence).
std::vector<int32_t> Tokenize(const Model& model, const protocol::RenderedPrompt& prompt) {
  std::vector<int32_t> ids;
  for (const protocol::PromptSegment& s : prompt.segments) {
    const int32_t id = s.is_control ? model.PieceToId(s.text) : -1;
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    const std::vector<int32_t> text = model.Tokenize(s.text, false, /*parse_special=*/s.is_control);
    ids.insert(ids.end(), text.begin(), text.end());
  }
  return ids;
}

// A token's own bytes for logprobs: a byte-fallback piece is one raw byte, not
// the U+FFFD its lone decoding gives, so that clients can join the "bytes" of
// tokens that split a character. Control pieces decode as the tokenizer does.
std::string TokenBytes(const ServerContext& ctx, int32_t token) {
  if (ctx.vocab && token >= 0 && token < ctx.vocab->size() &&
      ctx.vocab->kind(token) != constrain::TokenKind::kControl) {
    return std::string(ctx.vocab->bytes(token));
  }
  return TextStream::TokenText(*ctx.model, token);
}

uint64_t RandomSeed() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard lock(mu);
  return rng();
}

// Request sampling options over the server's defaults. Options the engine
// does not implement are refused when they would change the output.
Expected<SamplingParams> Sampling(const ServerContext& ctx, const protocol::SamplingOptions& o) {
  SamplingParams s = ctx.options->defaults;
  if (o.temperature) s.temperature = static_cast<float>(*o.temperature);
  if (o.top_p) s.top_p = static_cast<float>(*o.top_p);
  if (o.top_k) s.top_k = std::max(0, *o.top_k);
  if (o.min_p) s.min_p = static_cast<float>(*o.min_p);
  if (o.presence_penalty) s.presence_penalty = static_cast<float>(*o.presence_penalty);
  if (o.frequency_penalty) s.frequency_penalty = static_cast<float>(*o.frequency_penalty);
  if (o.repeat_penalty) s.repetition_penalty = static_cast<float>(*o.repeat_penalty);
  if (o.repeat_last_n) s.penalty_last_n = *o.repeat_last_n;
  s.seed = o.seed ? *o.seed : RandomSeed();
  if (o.typical_p && *o.typical_p < 1.0) {
    return protocol::InvalidRequest("typical_p is not supported (use top_p or min_p)", "typical_p");
  }
  // logit_bias ids are checked by the engine at Submit (one rule: the
  // tokenizer's pieces); ErrorFromStatus points the client at the field.
  return s;
}

void FillCommon(const ServerContext& ctx, const protocol::SamplingOptions& o, Prepared& p) {
  p.request.max_tokens = o.max_tokens ? *o.max_tokens : ctx.options->default_max_tokens;
  p.request.stop_tokens = ctx.stop_ids;
  p.stop_strings = o.stop;
  p.request.logit_bias = o.logit_bias;
  p.arrived = Clock::now();
}

// response_format / Ollama format -> grammar (400 on an invalid or
// unsupported schema).
std::optional<ApiError> CompileFormat(const ServerContext& ctx, ApiStyle style, const Json& raw,
                                      Prepared& p) {
  constrain::Constraint c;
  if (style == ApiStyle::kOllamaChat || style == ApiStyle::kOllamaGenerate) {
    if (!raw.contains("format")) return std::nullopt;
    c = constrain::FromOllamaFormat(raw["format"], ctx.vocab);
  } else {
    if (!raw.contains("response_format")) return std::nullopt;
    c = constrain::FromOpenAIResponseFormat(raw["response_format"], ctx.vocab);
  }
  if (!c.ok()) {
    return protocol::InvalidRequest(
        c.error, style == ApiStyle::kOllamaChat || style == ApiStyle::kOllamaGenerate
                     ? "format"
                     : "response_format");
  }
  p.grammar = c.grammar;
  return std::nullopt;
}

constrain::ToolCallSyntax SyntaxFor(protocol::ChatFormat format) {
  if (format == protocol::ChatFormat::kFunctionGemma)
    return constrain::ToolCallSyntax::kFunctionGemma;
  if (protocol::IsGemma4(format)) return constrain::ToolCallSyntax::kGemma4;
  return constrain::ToolCallSyntax::kJson;
}

// The request field an engine error names: its message starts with the
// field and ": " ("logit_bias: token 7 is outside the vocabulary"), or "".
std::string RequestField(const std::string& message) {
  const size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return "";
  for (size_t i = 0; i < colon; ++i) {
    if (!((message[i] >= 'a' && message[i] <= 'z') || message[i] == '_')) return "";
  }
  return message.substr(0, colon);
}

}  // namespace

ApiError ErrorFromStatus(const Status& status, int context_length) {
  switch (status.code()) {
    case StatusCode::kOutOfRange: {
      ApiError e = protocol::InvalidRequest(status.message());
      e.type = "exceed_context_size_error";
      e.code = "context_length_exceeded";
      (void)context_length;
      return e;
    }
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable: {
      ApiError e;
      e.http_status = 503;
      e.type = "server_overloaded";
      e.message = status.message();
      return e;
    }
    case StatusCode::kNotFound:
      return protocol::NotFoundError(status.message());
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnimplemented:
      return protocol::InvalidRequest(status.message(), RequestField(status.message()));
    default:
      return protocol::ServerError(status.message());
  }
}

Expected<Prepared> PrepareChat(const ServerContext& ctx, const protocol::ChatRequest& req,
                               const Json& raw, ApiStyle style) {
  Prepared p;
  p.style = style;
  p.model_name = req.model.empty() ? ctx.model_id : req.model;
  if (req.messages.empty())
    return protocol::InvalidRequest("messages must not be empty", "messages");
  const bool use_tools = req.tool_choice != protocol::ToolChoice::kNone && !req.tools.empty();
  std::vector<protocol::ToolDefinition> tools;
  if (use_tools) tools = req.tools;
  if (req.tool_choice == protocol::ToolChoice::kFunction) {
    const bool known = std::any_of(req.tools.begin(), req.tools.end(),
                                   [&](const auto& t) { return t.name == req.tool_choice_name; });
    if (!known) {
      return protocol::InvalidRequest(
          "tool_choice names '" + req.tool_choice_name + "', which is not among the tools",
          "tool_choice");
    }
  }
  if ((req.tool_choice == protocol::ToolChoice::kRequired ||
       req.tool_choice == protocol::ToolChoice::kFunction) &&
      req.tools.empty()) {
    return protocol::InvalidRequest("tool_choice requires tools", "tool_choice");
  }
  protocol::RenderOptions render;
  render.enable_thinking = req.enable_thinking.value_or(false);
  auto rendered = protocol::RenderChat(ctx.format, req.messages, tools, render);
  if (!rendered.ok()) return rendered.error();
  p.prompt = Tokenize(*ctx.model, rendered.value());
  auto sampling = Sampling(ctx, req.sampling);
  if (!sampling.ok()) return sampling.error();
  p.request.sampling = sampling.value();
  FillCommon(ctx, req.sampling, p);
  p.n = req.n;
  p.stream = req.stream;
  p.include_usage = req.include_usage;
  p.logprobs = req.logprobs;
  if (req.logprobs) p.request.top_logprobs = req.top_logprobs;
  p.parse_tools = true;
  if (use_tools) {
    for (const auto& t : req.tools) p.tool_options.tool_names.push_back(t.name);
    if (!req.parallel_tool_calls) p.tool_options.max_calls = 1;
  }
  // Forced calls: a grammar of the format's call syntax over the declared
  // tools (each tool's parameters schema, in declared order).
  if (use_tools && (req.tool_choice == protocol::ToolChoice::kRequired ||
                    req.tool_choice == protocol::ToolChoice::kFunction)) {
    std::string error;
    const std::vector<constrain::ToolSpec> specs =
        constrain::ToolsFromOpenAI(raw.contains("tools") ? raw["tools"] : Json::array(), &error);
    if (!error.empty()) return protocol::InvalidRequest(error, "tools");
    constrain::ToolCallOptions options;
    options.syntax = SyntaxFor(ctx.format);
    // Gemma 1-3 have no call tokens: a forced call is one JSON object (the
    // form the output parser reads back); the native syntaxes may repeat.
    options.parallel =
        req.parallel_tool_calls && options.syntax != constrain::ToolCallSyntax::kJson;
    if (req.tool_choice == protocol::ToolChoice::kFunction)
      options.only_tool = req.tool_choice_name;
    const constrain::Constraint c = constrain::CompileToolCalls(specs, options, ctx.vocab);
    if (!c.ok()) return protocol::InvalidRequest(c.error, "tools");
    p.grammar = c.grammar;
  } else if (auto error = CompileFormat(ctx, style, raw, p)) {
    return *error;
  }
  return p;
}

Expected<Prepared> PrepareCompletion(const ServerContext& ctx,
                                     const protocol::CompletionRequest& req, const Json& raw,
                                     ApiStyle style) {
  Prepared p;
  p.style = style;
  p.model_name = req.model.empty() ? ctx.model_id : req.model;
  if (req.prompts.size() != 1) {
    return protocol::InvalidRequest("exactly one prompt is supported per request", "prompt");
  }
  if (!req.suffix.empty()) {
    return protocol::InvalidRequest("suffix (fill-in-the-middle) is not supported", "suffix");
  }
  const protocol::TextOrTokens& prompt = req.prompts[0];
  if (prompt.is_tokens) {
    p.prompt = prompt.tokens;
  } else if (style == ApiStyle::kOllamaGenerate && !req.raw) {
    // Ollama renders /api/generate prompts in the model's chat format.
    std::vector<protocol::ChatMessage> messages;
    if (!req.system.empty()) {
      protocol::ChatMessage system;
      system.role = protocol::Role::kSystem;
      system.content = {req.system};
      messages.push_back(system);
    }
    protocol::ChatMessage user;
    user.content = {prompt.text};
    messages.push_back(user);
    protocol::RenderOptions render;
    render.enable_thinking = req.enable_thinking.value_or(false);
    auto rendered = protocol::RenderChat(ctx.format, messages, {}, render);
    if (!rendered.ok()) return rendered.error();
    p.prompt = Tokenize(*ctx.model, rendered.value());
    p.parse_tools = true;  // splits Gemma 4's thought channel from the response
  } else {
    // Raw completion: BOS, then the text (control markers in it count).
    p.prompt = ctx.model->Tokenize(prompt.text, /*add_bos=*/true, /*parse_special=*/true);
    p.prompt_text = prompt.text;
  }
  if (p.prompt.empty()) return protocol::InvalidRequest("the prompt is empty", "prompt");
  auto sampling = Sampling(ctx, req.sampling);
  if (!sampling.ok()) return sampling.error();
  p.request.sampling = sampling.value();
  FillCommon(ctx, req.sampling, p);
  if (style == ApiStyle::kOpenAiCompletion) p.request.stop_tokens.clear();  // raw text goes on
  p.n = req.n;
  p.stream = req.stream;
  p.include_usage = req.include_usage;
  p.echo = req.echo;
  if (req.logprobs) {
    p.logprobs = true;
    p.request.top_logprobs = *req.logprobs;
  }
  if (auto error = CompileFormat(ctx, style, raw, p)) return *error;
  return p;
}

// --- Running --------------------------------------------------------------

struct Generation::Choice {
  explicit Choice(const Model& model, std::vector<std::string> stops)
      : text(model), stops(std::move(stops)) {}
  TextStream text;
  protocol::StopStringMatcher stops;
  std::optional<protocol::ToolCallParser> parser;
  std::string output;  // completions: the text so far
  std::vector<protocol::TokenLogprob> logprobs;
  std::vector<protocol::TokenLogprob> pending_logprobs;  // streamed with the next chunk
  Completion done;
  bool finished = false;
  bool stopped = false;  // a stop string matched
  Clock::time_point last_token;
  bool any_token = false;
};

Generation::Generation(const ServerContext& ctx, Prepared prepared)
    : ctx_(ctx), p_(std::move(prepared)) {
  const bool chat = p_.style == ApiStyle::kOpenAiChat;
  id_ = protocol::NewResponseId(chat ? "chatcmpl-" : "cmpl-");
  created_ = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  created_at_ = protocol::FormatRfc3339(std::chrono::system_clock::now());
  for (int i = 0; i < p_.n; ++i) {
    auto c = std::make_unique<Choice>(*ctx.model, p_.stop_strings);
    if (p_.parse_tools) c->parser.emplace(ctx.format, p_.tool_options);
    choices_.push_back(std::move(c));
  }
  remaining_ = p_.n;
}

Generation::~Generation() = default;

const char* Generation::content_type() const {
  if (p_.style == ApiStyle::kOllamaChat || p_.style == ApiStyle::kOllamaGenerate) {
    return p_.stream ? "application/x-ndjson" : "application/json";
  }
  return p_.stream ? "text/event-stream" : "application/json";
}

Expected<std::shared_ptr<Generation>> Generation::Start(const ServerContext& ctx,
                                                        Prepared prepared) {
  std::shared_ptr<Generation> g(new Generation(ctx, std::move(prepared)));
  const Prepared& p = g->p_;
  if (p.stream && p.style == ApiStyle::kOpenAiChat) {
    protocol::ResponseMeta meta{g->id_, g->created_, p.model_name, "", p.include_usage};
    for (int i = 0; i < p.n; ++i)
      g->channel_.Push(protocol::SseEvent(protocol::ChatRoleChunk(meta, i)));
  }
  if (p.echo && p.stream && p.style == ApiStyle::kOpenAiCompletion) {
    protocol::ResponseMeta meta{g->id_, g->created_, p.model_name, "", p.include_usage};
    for (int i = 0; i < p.n; ++i) {
      g->channel_.Push(
          protocol::SseEvent(protocol::TextCompletionChunk(meta, i, p.prompt_text, std::nullopt)));
    }
  }
  std::lock_guard lock(g->mu_);  // callbacks wait until every choice is submitted
  for (int i = 0; i < p.n; ++i) {
    Request r = p.request;
    r.prompt = p.prompt;
    r.sampling.seed += static_cast<uint64_t>(i);
    if (p.grammar) r.constraint = std::make_shared<GrammarConstraint>(p.grammar);
    std::weak_ptr<Generation> weak = g;
    RequestCallbacks cb;
    cb.on_token = [weak, i](const TokenEvent& e) {
      auto self = weak.lock();
      return self ? self->OnToken(i, e) : false;
    };
    cb.on_done = [weak, i](const Completion& c) {
      if (auto self = weak.lock()) self->OnDone(i, c);
    };
    auto id = ctx.engine->Submit(std::move(r), std::move(cb));
    if (!id.ok()) {
      for (uint64_t submitted : g->engine_ids_) ctx.engine->Cancel(submitted);
      return ErrorFromStatus(id.status(), ctx.model->info().active_context);
    }
    g->engine_ids_.push_back(*id);
  }
  return g;
}

void Generation::Cancel() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mu_);
    ids = engine_ids_;
  }
  for (uint64_t id : ids) ctx_.engine->Cancel(id);
}

void Generation::Wait() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return remaining_ == 0; });
}

bool Generation::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return remaining_ == 0; });
}

void Generation::EmitDelta(int index, const protocol::ParsedDelta& delta) {
  Choice& c = *choices_[index];
  if (!p_.stream || delta.empty()) return;
  if (p_.style == ApiStyle::kOpenAiChat) {
    protocol::ResponseMeta meta{id_, created_, p_.model_name, "", p_.include_usage};
    std::optional<std::vector<protocol::TokenLogprob>> logprobs;
    if (p_.logprobs) {
      logprobs = std::move(c.pending_logprobs);
      c.pending_logprobs.clear();
    }
    for (const auto& chunk : protocol::ChatDeltaChunks(meta, index, delta, logprobs)) {
      channel_.Push(protocol::SseEvent(chunk));
    }
  } else if (p_.style == ApiStyle::kOllamaChat) {
    channel_.Push(
        protocol::NdjsonLine(protocol::OllamaChatChunk(p_.model_name, created_at_, delta)));
  } else if (p_.style == ApiStyle::kOllamaGenerate) {
    channel_.Push(protocol::NdjsonLine(
        protocol::OllamaGenerateChunk(p_.model_name, created_at_, delta.content, delta.reasoning)));
  }
}

void Generation::EmitText(int index, const std::string& text) {
  Choice& c = *choices_[index];
  if (text.empty()) return;
  if (c.parser) {
    EmitDelta(index, c.parser->Push(text));
    return;
  }
  c.output += text;
  if (!p_.stream) return;
  if (p_.style == ApiStyle::kOpenAiCompletion) {
    protocol::ResponseMeta meta{id_, created_, p_.model_name, "", p_.include_usage};
    std::optional<nlohmann::json> logprobs;
    if (p_.logprobs) {
      logprobs = protocol::CompletionLogprobsJson(c.pending_logprobs, 0);
      c.pending_logprobs.clear();
    }
    channel_.Push(protocol::SseEvent(
        protocol::TextCompletionChunk(meta, index, text, std::nullopt, logprobs)));
  } else if (p_.style == ApiStyle::kOllamaGenerate) {
    channel_.Push(
        protocol::NdjsonLine(protocol::OllamaGenerateChunk(p_.model_name, created_at_, text)));
  }
}

bool Generation::OnToken(int index, const TokenEvent& e) {
  std::lock_guard lock(mu_);
  Choice& c = *choices_[index];
  const Clock::time_point now = Clock::now();
  if (!c.any_token) {
    c.any_token = true;
    ctx_.metrics->time_to_first_token().Observe(
        std::chrono::duration<double>(now - p_.arrived).count());
  } else {
    ctx_.metrics->inter_token_latency().Observe(
        std::chrono::duration<double>(now - c.last_token).count());
  }
  c.last_token = now;
  if (c.stopped) return false;
  if (p_.logprobs) {
    protocol::TokenLogprob t;
    t.token = TokenBytes(ctx_, e.token);
    t.logprob = e.logprob;
    for (const auto& [id, lp] : e.top) t.top.push_back({TokenBytes(ctx_, id), lp});
    c.logprobs.push_back(t);
    c.pending_logprobs.push_back(std::move(t));
  }
  const std::string released = c.stops.Push(c.text.Push(e.token));
  EmitText(index, released);
  if (c.stops.stopped()) {
    c.stopped = true;
    return false;  // ends the request as a stop
  }
  return true;
}

void Generation::OnDone(int index, const Completion& completion) {
  std::unique_lock lock(mu_);
  Choice& c = *choices_[index];
  if (!c.stopped) {
    std::string rest = c.stops.Push(c.text.Flush());
    if (!c.stops.stopped()) rest += c.stops.Finish();
    EmitText(index, rest);
  }
  if (c.parser) EmitDelta(index, c.parser->Finish());
  c.done = completion;
  c.finished = true;
  const bool length = completion.reason == FinishReason::kLength;
  const bool tools = c.parser && !c.parser->message().tool_calls.empty();
  if (p_.stream) {
    if (p_.style == ApiStyle::kOpenAiChat) {
      protocol::ResponseMeta meta{id_, created_, p_.model_name, "", p_.include_usage};
      channel_.Push(protocol::SseEvent(
          protocol::ChatFinishChunk(meta, index, protocol::ChatFinishReason(length, tools))));
    } else if (p_.style == ApiStyle::kOpenAiCompletion) {
      protocol::ResponseMeta meta{id_, created_, p_.model_name, "", p_.include_usage};
      channel_.Push(protocol::SseEvent(
          protocol::TextCompletionChunk(meta, index, "", length ? "length" : "stop")));
    }
  }
  if (--remaining_ > 0) return;
  ctx_.metrics->end_to_end_latency().Observe(
      std::chrono::duration<double>(Clock::now() - p_.arrived).count());
  if (p_.stream) FinishStream();
  lock.unlock();
  done_cv_.notify_all();
}

// After the last choice: the error (if the engine failed), usage, and the end.
void Generation::FinishStream() {
  const Completion* failed = nullptr;
  for (const auto& c : choices_) {
    if (c->done.reason == FinishReason::kError) failed = &c->done;
  }
  int generated = 0;
  for (const auto& c : choices_) generated += c->done.generated_tokens;
  const Completion& first = choices_[0]->done;
  if (p_.style == ApiStyle::kOpenAiChat || p_.style == ApiStyle::kOpenAiCompletion) {
    if (failed != nullptr) {
      channel_.Push(protocol::SseEvent(
          ErrorFromStatus(failed->status, ctx_.model->info().active_context).ToOpenAiJson()));
    } else if (p_.include_usage) {
      protocol::ResponseMeta meta{id_, created_, p_.model_name, "", p_.include_usage};
      protocol::Usage usage{first.prompt_tokens, generated, first.cached_tokens, std::nullopt};
      nlohmann::json chunk = protocol::ChatUsageChunk(meta, usage);
      if (p_.style == ApiStyle::kOpenAiCompletion) chunk["object"] = "text_completion";
      channel_.Push(protocol::SseEvent(chunk));
    }
    channel_.Push(protocol::SseDone());
  } else {
    if (failed != nullptr) {
      channel_.Push(protocol::NdjsonLine(
          ErrorFromStatus(failed->status, ctx_.model->info().active_context).ToOllamaJson()));
    } else {
      const Choice& c = *choices_[0];
      protocol::OllamaStats stats;
      stats.prompt_eval_count = first.prompt_tokens;
      stats.eval_count = first.generated_tokens;
      stats.prompt_eval_duration = static_cast<int64_t>(first.prefill_seconds * 1e9);
      stats.eval_duration = static_cast<int64_t>(first.decode_seconds * 1e9);
      stats.total_duration = static_cast<int64_t>(
          std::chrono::duration<double>(Clock::now() - p_.arrived).count() * 1e9);
      const char* reason = first.reason == FinishReason::kLength ? "length" : "stop";
      if (p_.style == ApiStyle::kOllamaChat) {
        protocol::ParsedMessage empty;
        if (c.parser) empty.tool_calls = {};  // calls were streamed already
        channel_.Push(protocol::NdjsonLine(
            protocol::OllamaChatFinal(p_.model_name, created_at_, reason, stats, empty)));
      } else {
        channel_.Push(protocol::NdjsonLine(
            protocol::OllamaGenerateFinal(p_.model_name, created_at_, reason, stats)));
      }
    }
  }
  channel_.Close();
}

std::string Generation::Body(int* http_status) {
  std::lock_guard lock(mu_);
  *http_status = 200;
  for (const auto& c : choices_) {
    if (c->done.reason == FinishReason::kError) {
      const protocol::ApiError e =
          ErrorFromStatus(c->done.status, ctx_.model->info().active_context);
      *http_status = e.http_status;
      const bool ollama =
          p_.style == ApiStyle::kOllamaChat || p_.style == ApiStyle::kOllamaGenerate;
      return protocol::DumpJson(ollama ? e.ToOllamaJson() : e.ToOpenAiJson());
    }
  }
  int generated = 0;
  for (const auto& c : choices_) generated += c->done.generated_tokens;
  const Completion& first = choices_[0]->done;
  protocol::Usage usage{first.prompt_tokens, generated, first.cached_tokens, std::nullopt};
  protocol::ResponseMeta meta{id_, created_, p_.model_name, "", false};
  switch (p_.style) {
    case ApiStyle::kOpenAiChat: {
      std::vector<protocol::ChatChoice> out;
      for (int i = 0; i < p_.n; ++i) {
        const Choice& c = *choices_[i];
        protocol::ChatChoice choice;
        choice.index = i;
        choice.message = c.parser->message();
        choice.finish_reason = protocol::ChatFinishReason(c.done.reason == FinishReason::kLength,
                                                          !choice.message.tool_calls.empty());
        if (p_.logprobs) choice.logprobs = c.logprobs;
        out.push_back(std::move(choice));
      }
      return protocol::DumpJson(protocol::BuildChatCompletion(meta, out, usage));
    }
    case ApiStyle::kOpenAiCompletion: {
      std::vector<protocol::CompletionChoice> out;
      for (int i = 0; i < p_.n; ++i) {
        const Choice& c = *choices_[i];
        protocol::CompletionChoice choice;
        choice.index = i;
        choice.text = (p_.echo ? p_.prompt_text : "") + c.output;
        choice.finish_reason = c.done.reason == FinishReason::kLength ? "length" : "stop";
        if (p_.logprobs) choice.logprobs = protocol::CompletionLogprobsJson(c.logprobs, 0);
        out.push_back(std::move(choice));
      }
      return protocol::DumpJson(protocol::BuildTextCompletion(meta, out, usage));
    }
    case ApiStyle::kOllamaChat:
    case ApiStyle::kOllamaGenerate: {
      const Choice& c = *choices_[0];
      protocol::OllamaStats stats;
      stats.prompt_eval_count = first.prompt_tokens;
      stats.eval_count = first.generated_tokens;
      stats.prompt_eval_duration = static_cast<int64_t>(first.prefill_seconds * 1e9);
      stats.eval_duration = static_cast<int64_t>(first.decode_seconds * 1e9);
      stats.total_duration = static_cast<int64_t>(
          std::chrono::duration<double>(Clock::now() - p_.arrived).count() * 1e9);
      const char* reason = first.reason == FinishReason::kLength ? "length" : "stop";
      if (p_.style == ApiStyle::kOllamaChat) {
        return protocol::DumpJson(protocol::OllamaChatFinal(p_.model_name, created_at_, reason,
                                                            stats, c.parser->message()));
      }
      const std::string response = c.parser ? c.parser->message().content : c.output;
      const std::string thinking = c.parser ? c.parser->message().reasoning : "";
      return protocol::DumpJson(protocol::OllamaGenerateFinal(p_.model_name, created_at_, reason,
                                                              stats, response, thinking));
    }
  }
  return "{}";
}

}  // namespace gemma::server
