// Ollama's native API of `gemma serve` with plain HTTP (as tools written for
// Ollama call it), plus the server's own /tokenize, /detokenize and /metrics.
// Shapes follow Ollama's docs/api.md; numbers come from the model file or
// from another route that must agree ("the same as").
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { modelFacts } from './lib/gguf.mjs';
import { getJson, ndjsonObjects, postJson, postStream } from './lib/http.mjs';
import { personSchema, validatePerson } from './lib/schemas.mjs';
import { modelPath, readMetrics, startServer, stopAndCheck } from './lib/server.mjs';

const facts = modelFacts(modelPath);
const modelId = path.basename(modelPath);
const messages = [{ role: 'user', content: 'Why is the sky blue?' }];

let server;
const api = (route) => `${server.url}${route}`;

before(async () => {
  server = await startServer();
});

after(async () => {
  await stopAndCheck(server);
});

async function readNdjson(route, body) {
  const r = await postStream(api(route), body);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/x-ndjson/);
  const lines = [];
  for await (const line of ndjsonObjects(r)) lines.push(line);
  return lines;
}

// The common fields of a final (done) Ollama answer.
function checkFinal(last, numPredict) {
  assert.equal(last.done, true);
  assert.equal(last.model, modelId);
  assert.ok(!Number.isNaN(Date.parse(last.created_at)), `created_at ${last.created_at}`);
  assert.ok(Number.isInteger(last.eval_count) && last.eval_count > 0);
  assert.ok(last.eval_count <= numPredict);
  // length exactly when the token budget ran out.
  assert.equal(last.done_reason, last.eval_count === numPredict ? 'length' : 'stop');
  assert.ok(last.prompt_eval_count > 0);
  for (const key of ['total_duration', 'prompt_eval_duration', 'eval_duration']) {
    assert.ok(Number.isInteger(last[key]) && last[key] >= 0, `${key} ${last[key]}`);
  }
  assert.ok(last.total_duration >= last.eval_duration);
}

describe('model routes', () => {
  it('/api/tags lists the model with its details', async () => {
    const r = await getJson(api('/api/tags'));
    assert.equal(r.status, 200);
    assert.equal(r.json.models.length, 1);
    const m = r.json.models[0];
    assert.equal(m.name, modelId);
    assert.equal(m.model, modelId);
    assert.equal(m.details.family, facts.architecture);
    assert.equal(m.details.format, 'gguf');
    assert.ok(m.size > 0);
    assert.ok(!Number.isNaN(Date.parse(m.modified_at)));
  });

  it('/api/show gives details, model_info from the file, and capabilities', async () => {
    const r = await postJson(api('/api/show'), { model: modelId });
    assert.equal(r.status, 200);
    const info = r.json.model_info;
    assert.equal(info['general.architecture'], facts.architecture);
    assert.equal(info[`${facts.architecture}.embedding_length`], facts.hiddenSize);
    assert.equal(info[`${facts.architecture}.context_length`], facts.contextLength);
    assert.ok(r.json.capabilities.includes('completion'));
    assert.equal(r.json.details.family, facts.architecture);
    const noModel = await postJson(api('/api/show'), {});
    assert.equal(noModel.status, 400);
    assert.equal(typeof noModel.json.error, 'string');
  });

  it('/api/version', async () => {
    const r = await getJson(api('/api/version'));
    assert.equal(r.status, 200);
    assert.match(r.json.version, /^\d+\.\d+\.\d+/);
  });
});

describe('/api/chat', () => {
  const options = { temperature: 0, num_predict: 24 };

  it('streams NDJSON by default; the last line is done with done_reason', async () => {
    const lines = await readNdjson('/api/chat', { model: modelId, messages, options });
    assert.ok(lines.length >= 2);
    for (const line of lines.slice(0, -1)) {
      assert.equal(line.done, false);
      assert.equal(line.message.role, 'assistant');
      assert.equal(typeof line.message.content, 'string');
    }
    checkFinal(lines.at(-1), options.num_predict);
    const streamed = lines.map((l) => l.message?.content ?? '').join('');
    const whole = await postJson(api('/api/chat'), { model: modelId, messages, options, stream: false });
    assert.equal(whole.status, 200);
    assert.match(whole.headers.get('content-type'), /^application\/json/);
    checkFinal(whole.json, options.num_predict);
    assert.equal(whole.json.message.role, 'assistant');
    assert.equal(whole.json.message.content, streamed);
    assert.equal(whole.json.eval_count, lines.at(-1).eval_count);
  });

  it('gives the answer the OpenAI route gives for the same greedy request', async () => {
    const ollama = await postJson(api('/api/chat'), { model: modelId, messages, options, stream: false });
    const openai = await postJson(api('/v1/chat/completions'), {
      model: modelId, messages, temperature: 0, max_tokens: options.num_predict,
    });
    assert.equal(ollama.json.message.content, openai.json.choices[0].message.content);
    assert.equal(ollama.json.eval_count, openai.json.usage.completion_tokens);
    assert.equal(ollama.json.prompt_eval_count, openai.json.usage.prompt_tokens);
  });

  it('format "json": answers that finish parse as JSON objects', async () => {
    let finished = 0;
    const answers = await Promise.all(Array.from({ length: 24 }, (_, seed) => postJson(api('/api/chat'), {
      model: modelId, messages, stream: false, format: 'json', options: { temperature: 1, seed, num_predict: 600 },
    })));
    for (const r of answers) {
      assert.equal(r.status, 200, r.text);
      if (r.json.done_reason !== 'stop') continue;  // cut by num_predict: a prefix
      ++finished;
      const value = JSON.parse(r.json.message.content);
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), r.json.message.content);
    }
    assert.ok(finished >= 4, `only ${finished} of 24 finished`);
  });

  it('format with a schema: every answer validates', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, seed) => postJson(api('/api/chat'), {
      model: modelId, messages, stream: false, format: personSchema, options: { temperature: 1, seed, num_predict: 900 },
    })));
    for (const r of answers) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.done_reason, 'stop', r.json.message.content);
      assert.deepEqual(validatePerson(JSON.parse(r.json.message.content)), [], r.json.message.content);
    }
    const bad = await postJson(api('/api/chat'), { model: modelId, messages, stream: false, format: { type: 'nope' } });
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.json.error, 'string');
  });

  it('refuses a request without a model or with bad messages', async () => {
    const noModel = await postJson(api('/api/chat'), { messages, stream: false });
    assert.equal(noModel.status, 400);
    assert.equal(typeof noModel.json.error, 'string');
    const badRole = await postJson(api('/api/chat'), { model: modelId, messages: [{ role: 'wizard', content: 'x' }], stream: false });
    assert.equal(badRole.status, 400);
  });
});

describe('/api/generate', () => {
  const options = { temperature: 0, num_predict: 16 };

  it('streams and answers whole, the same text', async () => {
    const lines = await readNdjson('/api/generate', { model: modelId, prompt: 'Why is the sky blue?', options });
    for (const line of lines.slice(0, -1)) {
      assert.equal(line.done, false);
      assert.equal(typeof line.response, 'string');
    }
    checkFinal(lines.at(-1), options.num_predict);
    const streamed = lines.map((l) => l.response).join('');
    const whole = await postJson(api('/api/generate'), { model: modelId, prompt: 'Why is the sky blue?', options, stream: false });
    assert.equal(whole.status, 200);
    checkFinal(whole.json, options.num_predict);
    assert.equal(whole.json.response, streamed);
  });

  it('renders the prompt as a chat turn unless raw', async () => {
    // Ollama's /api/generate wraps the prompt in the model's template: the
    // same as a one-message /api/chat.
    const gen = await postJson(api('/api/generate'), { model: modelId, prompt: 'Why is the sky blue?', options, stream: false });
    const chat = await postJson(api('/api/chat'), { model: modelId, messages, options, stream: false });
    assert.equal(gen.json.response, chat.json.message.content);
    assert.equal(gen.json.prompt_eval_count, chat.json.prompt_eval_count);
    // raw: the text as is (BOS + the prompt's tokens), as a plain completion.
    const raw = await postJson(api('/api/generate'), { model: modelId, prompt: 'Why is the sky blue?', raw: true, options, stream: false });
    const completion = await postJson(api('/v1/completions'), { model: modelId, prompt: 'Why is the sky blue?', temperature: 0, max_tokens: 16 });
    assert.equal(raw.json.prompt_eval_count, completion.json.usage.prompt_tokens);
    assert.ok(raw.json.prompt_eval_count < gen.json.prompt_eval_count);
  });
});

describe('/api/embed', () => {
  it('embeds one input and a list, unit vectors of the hidden size, as the OpenAI route', async () => {
    const one = await postJson(api('/api/embed'), { model: modelId, input: 'hello there' });
    assert.equal(one.status, 200);
    assert.equal(one.json.model, modelId);
    assert.equal(one.json.embeddings.length, 1);
    const many = await postJson(api('/api/embed'), { model: modelId, input: ['hello there', 'general kenobi'] });
    assert.equal(many.json.embeddings.length, 2);
    for (const v of many.json.embeddings) {
      assert.equal(v.length, facts.hiddenSize);
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4);
    }
    assert.deepEqual(many.json.embeddings[0], one.json.embeddings[0]);
    assert.ok(many.json.prompt_eval_count > one.json.prompt_eval_count);
    const openai = await postJson(api('/v1/embeddings'), { model: modelId, input: 'hello there', encoding_format: 'float' });
    assert.deepEqual(one.json.embeddings[0], openai.json.data[0].embedding);
    const legacy = await postJson(api('/api/embeddings'), { model: modelId, prompt: 'hello there' });
    assert.deepEqual(legacy.json.embedding, one.json.embeddings[0]);
    const empty = await postJson(api('/api/embed'), { model: modelId, input: [] });
    assert.equal(empty.status, 400);
    assert.equal(typeof empty.json.error, 'string');
  });
});

describe('tokenize and detokenize', () => {
  it('round-trip text, with pieces that concatenate to it', async () => {
    const text = 'Hello, world! The quick brown fox: 42 × 7 = 294. ünïcödé 😀';
    const t = await postJson(api('/tokenize'), { content: text });
    assert.equal(t.status, 200);
    assert.ok(t.json.tokens.length > 5);
    for (const id of t.json.tokens) assert.ok(Number.isInteger(id) && id >= 0 && id < facts.vocabSize);
    const d = await postJson(api('/detokenize'), { tokens: t.json.tokens });
    assert.equal(d.status, 200);
    assert.equal(d.json.content, text);

    const plain = 'the quick brown fox';
    const pieces = await postJson(api('/tokenize'), { content: plain, with_pieces: true });
    assert.equal(pieces.json.tokens.map((p) => p.piece).join(''), plain);
    const withBos = await postJson(api('/tokenize'), { content: plain, add_special: true });
    assert.equal(withBos.json.tokens[0], facts.idOf('<bos>'));
    assert.deepEqual(withBos.json.tokens.slice(1), pieces.json.tokens.map((p) => p.id));
  });

  it('refuse bad input with 400', async () => {
    for (const body of [{}, { content: 5 }]) {
      assert.equal((await postJson(api('/tokenize'), body)).status, 400);
    }
    for (const body of [{}, { tokens: 'abc' }, { tokens: [-1] }, { tokens: [facts.vocabSize] }, { tokens: [1.5] }]) {
      const r = await postJson(api('/detokenize'), body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.type, 'invalid_request_error');
    }
  });
});

describe('/metrics', () => {
  const names = {
    gemma_requests_running: 'gauge',
    gemma_requests_waiting: 'gauge',
    gemma_requests_total: 'counter',
    gemma_prompt_tokens_total: 'counter',
    gemma_generation_tokens_total: 'counter',
    gemma_prefix_cache_hit_tokens_total: 'counter',
    gemma_kv_cache_usage_ratio: 'gauge',
    gemma_time_to_first_token_seconds: 'histogram',
    gemma_inter_token_latency_seconds: 'histogram',
    gemma_e2e_request_latency_seconds: 'histogram',
  };

  it('names every metric with its type', async () => {
    const { text, values } = await readMetrics(server.url);
    for (const [name, type] of Object.entries(names)) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
      if (type === 'histogram') {
        assert.ok(`${name}_count` in values && `${name}_sum` in values, name);
        const buckets = Object.entries(values).filter(([k]) => k.startsWith(`${name}_bucket{`));
        assert.ok(buckets.length >= 2);
        for (let i = 1; i < buckets.length; ++i) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'cumulative buckets');
        assert.equal(values[`${name}_bucket{le="+Inf"}`], values[`${name}_count`]);
      } else {
        assert.ok(name in values, name);
      }
    }
    assert.ok(values.gemma_kv_cache_usage_ratio >= 0 && values.gemma_kv_cache_usage_ratio <= 1);
  });

  it('counters grow by what a request used', async () => {
    const before = (await readMetrics(server.url)).values;
    const r = await postJson(api('/v1/chat/completions'), {
      model: modelId, messages: [{ role: 'user', content: 'count me' }], temperature: 0, max_tokens: 9,
      logit_bias: { [facts.eosId]: -100, [facts.endOfTurnId]: -100 },
    });
    assert.equal(r.json.usage.completion_tokens, 9);
    const after = (await readMetrics(server.url)).values;
    const grew = (name) => after[name] - before[name];
    assert.equal(grew('gemma_requests_total'), 1);
    assert.equal(grew('gemma_prompt_tokens_total'), r.json.usage.prompt_tokens);
    assert.equal(grew('gemma_generation_tokens_total'), 9);
    assert.equal(grew('gemma_time_to_first_token_seconds_count'), 1);
    assert.equal(grew('gemma_inter_token_latency_seconds_count'), 8, 'one gap between each two tokens');
    assert.equal(grew('gemma_e2e_request_latency_seconds_count'), 1);
    assert.ok(grew('gemma_e2e_request_latency_seconds_sum') > 0);
    assert.equal(after.gemma_requests_running, 0);
  });

  it('a repeated long prompt reuses its prefix, in usage and in the counter', async () => {
    const long = [{ role: 'user', content: `Summarise: ${'the sky is blue because of Rayleigh scattering. '.repeat(20)}` }];
    const body = { model: modelId, messages: long, temperature: 0, max_tokens: 2 };
    const first = await postJson(api('/v1/chat/completions'), body);
    const before = (await readMetrics(server.url)).values;
    const second = await postJson(api('/v1/chat/completions'), body);
    const after = (await readMetrics(server.url)).values;
    const cached = second.json.usage.prompt_tokens_details.cached_tokens;
    assert.ok(first.json.usage.prompt_tokens > 128);
    assert.ok(cached > 0 && cached < second.json.usage.prompt_tokens, `cached ${cached}`);
    assert.equal(after.gemma_prefix_cache_hit_tokens_total - before.gemma_prefix_cache_hit_tokens_total, cached);
    assert.equal(second.json.choices[0].message.content, first.json.choices[0].message.content);
  });
});
