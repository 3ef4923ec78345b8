// `gemma serve` driven by the official `openai` npm client (and plain fetch
// where the client hides what is checked), against the bundled random-weight
// model. Expected values come from OpenAI's API contract and from the model
// file itself, never from an earlier answer of the code under test, except
// where the contract is "the same as": streamed = non-streamed, n choices =
// one choice, a stop string cuts the answer it would otherwise give.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { modelFacts } from './lib/gguf.mjs';
import { getJson, postJson } from './lib/http.mjs';
import {
  forcedCallSchema, personSchema, timeTool, validatePerson, validateToolArguments, weatherTool,
} from './lib/schemas.mjs';
import {
  modelPath, readMetrics, sleep, startLongServer, startServer, stopAndCheck, waitForMetrics,
} from './lib/server.mjs';

const facts = modelFacts(modelPath);
const modelId = path.basename(modelPath);  // the server's documented default id
// Greedy, and the end tokens banned: a random model then always runs to
// max_tokens, so lengths are known in advance.
const banEnds = { [facts.eosId]: -100, [facts.endOfTurnId]: -100 };
const greedy = { temperature: 0, logit_bias: banEnds };
const hello = [{ role: 'user', content: 'Tell me a story about a dragon.' }];

let server;
let client;

function clientFor(url, apiKey = 'unused') {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

// The content of a stream of chat chunks for one choice.
function streamedContent(chunks, index = 0) {
  let text = '';
  for (const c of chunks) {
    for (const choice of c.choices) {
      if (choice.index === index && choice.delta.content) text += choice.delta.content;
    }
  }
  return text;
}

// Asserts the error envelope of OpenAI: {"error": {message, type, param, code}}.
function assertEnvelope(json, type) {
  assert.ok(json && typeof json.error === 'object', `no error object in ${JSON.stringify(json)}`);
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
  for (const key of ['type', 'param', 'code']) assert.ok(key in json.error, `error has no ${key}`);
  if (type) assert.equal(json.error.type, type);
}

before(async () => {
  server = await startServer();
  client = clientFor(server.url);
});

after(async () => {
  await stopAndCheck(server);
});

describe('models', () => {
  it('lists the one loaded model under its file name', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, [modelId]);
    const one = await client.models.retrieve(modelId);
    assert.equal(one.id, modelId);
    await assert.rejects(client.models.retrieve('no-such-model'), (e) => e.status === 404);
  });
});

describe('chat completions', () => {
  it('answers a plain request in the chat.completion shape', async () => {
    const r = await client.chat.completions.create({ model: modelId, messages: hello, max_tokens: 16, ...greedy });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, modelId);
    assert.equal(r.choices.length, 1);
    const [choice] = r.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0);
    assert.equal(choice.finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 16);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('streams the same text as the whole answer, in well-formed chunks', async () => {
    const request = { model: modelId, messages: hello, max_tokens: 40, ...greedy };
    const whole = await client.chat.completions.create(request);
    const chunks = await collect(await client.chat.completions.create({
      ...request, stream: true, stream_options: { include_usage: true },
    }));
    assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1, 'every chunk carries the one id');
    assert.match([...ids][0], /^chatcmpl-/);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first chunk names the role');
    // The usage chunk comes last, with no choices; every other chunk has usage null.
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 40);
    assert.equal(last.usage.prompt_tokens, whole.usage.prompt_tokens);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + 40);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    const finishes = withChoices.filter((c) => c.choices[0].finish_reason !== null);
    assert.equal(finishes.length, 1, 'one chunk carries the finish reason');
    assert.equal(withChoices.at(-1).choices[0].finish_reason, 'length', 'the last choice chunk ends it');
    assert.equal(streamedContent(chunks), whole.choices[0].message.content);
  });

  it('stops at max_tokens with finish_reason length and exactly that many tokens', async () => {
    for (const n of [1, 7]) {
      const r = await client.chat.completions.create({
        model: modelId, messages: hello, max_tokens: n, logprobs: true, ...greedy,
      });
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.equal(r.usage.completion_tokens, n);
      assert.equal(r.choices[0].logprobs.content.length, n, 'one logprob entry per generated token');
    }
    // max_completion_tokens is the newer name of the same limit, and wins.
    const r = await client.chat.completions.create({
      model: modelId, messages: hello, max_tokens: 30, max_completion_tokens: 5, ...greedy,
    });
    assert.equal(r.usage.completion_tokens, 5);
  });

  it('gives n choices, each the answer a single greedy request gives', async () => {
    const request = { model: modelId, messages: hello, max_tokens: 12, ...greedy };
    const one = await client.chat.completions.create(request);
    const two = await client.chat.completions.create({ ...request, n: 2 });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
    for (const c of two.choices) {
      assert.equal(c.message.content, one.choices[0].message.content);
      assert.equal(c.finish_reason, 'length');
    }
    assert.equal(two.usage.completion_tokens, 24, 'usage counts the tokens of both choices');
    const chunks = await collect(await client.chat.completions.create({ ...request, n: 2, stream: true }));
    for (const index of [0, 1]) {
      assert.equal(streamedContent(chunks, index), one.choices[0].message.content);
      const finish = chunks.flatMap((c) => c.choices).filter((c) => c.index === index && c.finish_reason);
      assert.equal(finish.length, 1);
    }
  });

  it('cuts the answer before the first stop string and reports stop', async () => {
    const base = await client.chat.completions.create({ model: modelId, messages: hello, max_tokens: 40, ...greedy });
    const text = base.choices[0].message.content;
    // A stop string taken from the middle of the answer (ASCII, so that it is
    // whole characters): the answer must end right before its first occurrence.
    const m = text.slice(3).match(/[ -~]{2}/);
    assert.ok(m, `no two printable ASCII characters in ${JSON.stringify(text)}`);
    const stop = m[0];
    const expected = text.slice(0, text.indexOf(stop));
    const r = await client.chat.completions.create({ model: modelId, messages: hello, max_tokens: 40, stop: [stop, 'never seen'], ...greedy });
    assert.equal(r.choices[0].message.content, expected);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const chunks = await collect(await client.chat.completions.create({
      model: modelId, messages: hello, max_tokens: 40, stop, stream: true, ...greedy,
    }));
    assert.equal(streamedContent(chunks), expected);
    assert.equal(chunks.flatMap((c) => c.choices).at(-1).finish_reason, 'stop');
  });
});

// Log-probabilities: the chosen token's and the alternatives, each <= 0; the
// raw bytes of the tokens rebuild the content (also across tokens that split
// one character, which the random model produces often).
function checkLogprobs(entries, content, topN, { constrained = false } = {}) {
  const bytes = [];
  for (const e of entries) {
    assert.ok(Number.isFinite(e.logprob) && e.logprob <= 0, `logprob ${e.logprob}`);
    assert.equal(typeof e.token, 'string');
    assert.ok(Array.isArray(e.bytes), 'bytes present');
    for (const b of e.bytes) assert.ok(Number.isInteger(b) && b >= 0 && b <= 255, `byte ${b}`);
    bytes.push(...e.bytes);
    assert.equal(e.top_logprobs.length, topN);
    for (let i = 0; i < topN; ++i) {
      const t = e.top_logprobs[i];
      assert.ok(Number.isFinite(t.logprob) && t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes));
      if (i > 0) assert.ok(t.logprob <= e.top_logprobs[i - 1].logprob, 'alternatives most likely first');
    }
    // Greedy: the chosen token is the most likely one (unless a constraint
    // masked it: log-probabilities are the model's own, before the mask).
    if (!constrained) {
      assert.equal(e.top_logprobs[0].logprob, e.logprob);
      assert.deepEqual(e.top_logprobs[0].bytes, e.bytes);
    } else {
      assert.ok(e.logprob <= e.top_logprobs[0].logprob);
    }
  }
  assert.equal(Buffer.from(bytes).toString('utf8'), content, 'the tokens\' bytes concatenate to the content');
  // Token strings are text: when none is a piece of a character (U+FFFD),
  // they concatenate to the content too.
  if (!entries.some((e) => e.token.includes('\uFFFD'))) {
    assert.equal(entries.map((e) => e.token).join(''), content);
  }
}

describe('logprobs', () => {
  it('are <= 0, carry bytes, and add up to the content, whole and streamed', async () => {
    const request = { model: modelId, messages: hello, max_tokens: 48, logprobs: true, top_logprobs: 3, ...greedy };
    const r = await client.chat.completions.create(request);
    const entries = r.choices[0].logprobs.content;
    assert.equal(entries.length, 48);
    checkLogprobs(entries, r.choices[0].message.content, 3);

    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
    const streamed = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
    assert.equal(streamed.length, 48);
    checkLogprobs(streamed, streamedContent(chunks), 3);
    assert.deepEqual(streamed, entries, 'streamed log-probabilities are those of the whole answer');
  });

  it('carry the raw bytes of tokens that split a character', async () => {
    // The tiny vocabulary has no piece for these characters: the constrained
    // answer is written with byte-fallback tokens, one byte each.
    const text = '€😀é';
    const r = await client.chat.completions.create({
      model: modelId, messages: hello, max_tokens: 40, logprobs: true, top_logprobs: 1, ...greedy,
      response_format: { type: 'json_schema', json_schema: { name: 'c', schema: { const: text } } },
    });
    const content = r.choices[0].message.content;
    assert.equal(content, JSON.stringify(text));
    const entries = r.choices[0].logprobs.content;
    assert.ok(entries.length > [...content].length, 'some character took several tokens');
    checkLogprobs(entries, content, 1, { constrained: true });
    const utf8 = Buffer.from(content, 'utf8');
    assert.deepEqual(entries.flatMap((e) => e.bytes), [...utf8]);
  });

  it('come with completions too (OpenAI legacy shape)', async () => {
    const r = await client.completions.create({
      model: modelId, prompt: 'The capital of France is', max_tokens: 8, logprobs: 2, ...greedy,
    });
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, 8);
    assert.equal(lp.token_logprobs.length, 8);
    for (const v of lp.token_logprobs) assert.ok(Number.isFinite(v) && v <= 0);
    assert.equal(lp.top_logprobs.length, 8);
    for (const top of lp.top_logprobs) {
      for (const v of Object.values(top)) assert.ok(v <= 0);
    }
  });
});

describe('completions', () => {
  const request = { model: modelId, prompt: 'Once upon a time', max_tokens: 24, ...greedy };

  it('answers in the text_completion shape', async () => {
    const r = await client.completions.create(request);
    assert.equal(r.object, 'text_completion');
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.choices.length, 1);
    assert.equal(typeof r.choices[0].text, 'string');
    assert.ok(r.choices[0].text.length > 0);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 24);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 24);
  });

  it('streams the same text', async () => {
    const whole = await client.completions.create(request);
    const chunks = await collect(await client.completions.create({
      ...request, stream: true, stream_options: { include_usage: true },
    }));
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    const text = chunks.flatMap((c) => c.choices).map((c) => c.text).join('');
    assert.equal(text, whole.choices[0].text);
    const finishes = chunks.flatMap((c) => c.choices).filter((c) => c.finish_reason);
    assert.deepEqual(finishes.map((c) => c.finish_reason), ['length']);
    assert.equal(chunks.at(-1).usage.completion_tokens, 24);
  });

  it('honours stop strings', async () => {
    const text = (await client.completions.create(request)).choices[0].text;
    const m = text.slice(2).match(/[ -~]{2}/);
    assert.ok(m, `no printable ASCII pair in ${JSON.stringify(text)}`);
    const r = await client.completions.create({ ...request, stop: m[0] });
    assert.equal(r.choices[0].text, text.slice(0, text.indexOf(m[0])));
    assert.equal(r.choices[0].finish_reason, 'stop');
  });
});

describe('embeddings', () => {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  it('returns one unit vector of the hidden size per input (base64, the SDK default)', async () => {
    const r = await client.embeddings.create({ model: modelId, input: 'The quick brown fox' });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 1);
    assert.equal(r.data[0].object, 'embedding');
    assert.equal(r.data[0].index, 0);
    const v = r.data[0].embedding;
    assert.equal(v.length, facts.hiddenSize);
    assert.ok(Math.abs(norm(v) - 1) < 1e-4, `norm ${norm(v)}`);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);
  });

  it('batches: identical inputs give identical vectors, base64 decodes to the floats', async () => {
    const input = ['alpha beta', 'gamma', 'alpha beta'];
    const floats = await client.embeddings.create({ model: modelId, input, encoding_format: 'float' });
    assert.deepEqual(floats.data.map((d) => d.index), [0, 1, 2]);
    const [a, b, c] = floats.data.map((d) => d.embedding);
    for (const v of [a, b, c]) {
      assert.equal(v.length, facts.hiddenSize);
      assert.ok(Math.abs(norm(v) - 1) < 1e-4);
    }
    assert.deepEqual(a, c);
    assert.notDeepEqual(a, b);
    assert.equal(floats.usage.total_tokens, floats.usage.prompt_tokens);

    const single = await client.embeddings.create({ model: modelId, input: 'alpha beta', encoding_format: 'float' });
    assert.deepEqual(single.data[0].embedding, a, 'alone or in a batch, the same vector');

    // Raw base64: little-endian float32, the same numbers as the floats.
    const raw = await postJson(`${server.url}/v1/embeddings`, { model: modelId, input, encoding_format: 'base64' });
    assert.equal(raw.status, 200);
    for (let i = 0; i < 3; ++i) {
      const bytes = Buffer.from(raw.json.data[i].embedding, 'base64');
      assert.equal(bytes.length, facts.hiddenSize * 4);
      const decoded = [];
      for (let k = 0; k < facts.hiddenSize; ++k) decoded.push(bytes.readFloatLE(k * 4));
      assert.deepEqual(decoded, floats.data[i].embedding.map(Math.fround));
    }
  });

  it('refuses empty and invalid input with 400', async () => {
    for (const input of ['', [], [''], 42, [[]], null, { text: 'x' }]) {
      const r = await postJson(`${server.url}/v1/embeddings`, { model: modelId, input });
      assert.equal(r.status, 400, `input ${JSON.stringify(input)}: ${r.text}`);
      assertEnvelope(r.json, 'invalid_request_error');
    }
    const missing = await postJson(`${server.url}/v1/embeddings`, { model: modelId });
    assert.equal(missing.status, 400);
    await assert.rejects(client.embeddings.create({ model: modelId, input: '' }), (e) => e.status === 400);
  });
});

describe('structured output', () => {
  it('json_schema answers validate for every seed at temperature 1', async () => {
    const seeds = Array.from({ length: 24 }, (_, i) => 1000 + i);
    const answers = await Promise.all(seeds.map((seed) => client.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'Describe a person as JSON.' }],
      temperature: 1,
      seed,
      max_tokens: 900,  // above the worst case: whitespace runs are bounded (22 bytes a gap)
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: personSchema } },
    })));
    const distinct = new Set();
    for (const [i, r] of answers.entries()) {
      const content = r.choices[0].message.content;
      assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seeds[i]} did not finish: ${content}`);
      let value;
      assert.doesNotThrow(() => { value = JSON.parse(content); }, `seed ${seeds[i]}: not JSON: ${content}`);
      assert.deepEqual(validatePerson(value), [], `seed ${seeds[i]}: ${content}`);
      distinct.add(content);
    }
    // Temperature 1 with different seeds really samples (else the test above
    // checked one answer 24 times).
    assert.ok(distinct.size >= 12, `only ${distinct.size} distinct answers`);
  });

  it('refuses an invalid schema with 400', async () => {
    const bad = [
      { type: 'object', properties: { a: { type: 'no-such-type' } } },
      { type: 'string', minLength: 5, maxLength: 2 },
      { type: 'string', pattern: '(' },
    ];
    for (const schema of bad) {
      const r = await postJson(`${server.url}/v1/chat/completions`, {
        model: modelId, messages: hello, max_tokens: 5,
        response_format: { type: 'json_schema', json_schema: { name: 'bad', schema } },
      });
      assert.equal(r.status, 400, `schema ${JSON.stringify(schema)} was accepted: ${r.text}`);
      assertEnvelope(r.json, 'invalid_request_error');
    }
    const noSchema = await postJson(`${server.url}/v1/chat/completions`, {
      model: modelId, messages: hello, response_format: { type: 'json_schema' },
    });
    assert.equal(noSchema.status, 400);
  });

  it('json_object answers that finish parse as objects', async () => {
    const seeds = Array.from({ length: 20 }, (_, i) => 2000 + i);
    const answers = await Promise.all(seeds.map((seed) => client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'JSON please' }],
      temperature: 1, seed, max_tokens: 200, response_format: { type: 'json_object' },
    })));
    let finished = 0;
    for (const [i, r] of answers.entries()) {
      const content = r.choices[0].message.content;
      // json_object does not bound the length: an answer cut by max_tokens is
      // a prefix; one that stopped must be a whole object.
      if (r.choices[0].finish_reason !== 'stop') continue;
      ++finished;
      let value;
      assert.doesNotThrow(() => { value = JSON.parse(content); }, `seed ${seeds[i]}: ${content}`);
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `seed ${seeds[i]}: ${content}`);
    }
    assert.ok(finished >= 3, `only ${finished} of 20 answers finished`);
  });
});

describe('tool calls', () => {
  const tools = [weatherTool, timeTool];
  const ask = [{ role: 'user', content: 'What is the weather in Paris for three days?' }];

  function checkCall(call, allowed) {
    assert.equal(call.type, 'function');
    assert.match(call.id, /^\S+$/);
    assert.ok(allowed.includes(call.function.name), `called ${call.function.name}`);
    const args = JSON.parse(call.function.arguments);
    assert.deepEqual(validateToolArguments(call.function.name, args), [], call.function.arguments);
  }

  it('auto: never a 500, never an empty answer', async () => {
    // Every token that is not text banned (the end tokens too): each answer
    // is 60 tokens of text, which must come back as content or as calls,
    // whatever the tool-call parser makes of it.
    const notText = ['<pad>', '<eos>', '<bos>', '<unk>', '<start_of_turn>', '<end_of_turn>'];
    const logitBias = Object.fromEntries(notText.map((piece) => [facts.idOf(piece), -100]));
    const answers = await Promise.all(Array.from({ length: 12 }, (_, seed) => postJson(
      `${server.url}/v1/chat/completions`, {
        model: modelId, messages: ask, tools, tool_choice: 'auto', temperature: 1, seed, max_tokens: 60,
        logit_bias: logitBias,
      })));
    for (const [seed, r] of answers.entries()) {
      assert.equal(r.status, 200, `seed ${seed}: ${r.text}`);
      const choice = r.json.choices[0];
      const m = choice.message;
      assert.equal(r.json.usage.completion_tokens, 60);
      assert.ok((m.content && m.content.length > 0) || (m.tool_calls && m.tool_calls.length > 0),
                `seed ${seed}: empty answer: ${JSON.stringify(choice)}`);
      assert.equal(choice.finish_reason, m.tool_calls?.length ? 'tool_calls' : 'length');
      for (const call of m.tool_calls ?? []) checkCall(call, ['get_weather', 'get_time']);
    }
  });

  it('auto: a call the model writes comes back as tool_calls', async () => {
    // The schema leaves the model one text: the JSON call form of Gemma 3.
    const r = await client.chat.completions.create({
      model: modelId, messages: ask, tools, tool_choice: 'auto', temperature: 1, seed: 7, max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'c', schema: forcedCallSchema('get_weather', { city: 'Paris', days: 3 }) } },
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    checkCall(choice.message.tool_calls[0], ['get_weather']);
    assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), { city: 'Paris', days: 3 });
    assert.ok(!choice.message.content, 'no content beside the call');
  });

  it('auto: a call of an undeclared tool is content, verbatim', async () => {
    const r = await client.chat.completions.create({
      model: modelId, messages: ask, tools, temperature: 1, seed: 7, max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'c', schema: forcedCallSchema('launch_rocket', { days: 3 }) } },
    });
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(!m.tool_calls || m.tool_calls.length === 0);
    assert.deepEqual(JSON.parse(m.content), { name: 'launch_rocket', arguments: { days: 3 } });
  });

  it('none: no calls, even when the text is one', async () => {
    const r = await client.chat.completions.create({
      model: modelId, messages: ask, tools, tool_choice: 'none', temperature: 1, seed: 7, max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'c', schema: forcedCallSchema('get_weather', { city: 'Paris', days: 3 }) } },
    });
    const m = r.choices[0].message;
    assert.ok(!m.tool_calls || m.tool_calls.length === 0, JSON.stringify(m.tool_calls));
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(JSON.parse(m.content), { name: 'get_weather', arguments: { city: 'Paris', days: 3 } });
  });

  it('required: every seed calls a declared tool with valid arguments', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, seed) => client.chat.completions.create({
      model: modelId, messages: ask, tools, tool_choice: 'required', temperature: 1, seed, max_tokens: 300,
    })));
    for (const r of answers) {
      assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(r.choices[0]));
      assert.ok(r.choices[0].message.tool_calls.length >= 1);
      for (const call of r.choices[0].message.tool_calls) checkCall(call, ['get_weather', 'get_time']);
    }
  });

  it('named: calls that tool', async () => {
    for (const name of ['get_weather', 'get_time']) {
      const answers = await Promise.all([0, 1, 2, 3].map((seed) => client.chat.completions.create({
        model: modelId, messages: ask, tools, temperature: 1, seed, max_tokens: 300,
        tool_choice: { type: 'function', function: { name } },
      })));
      for (const r of answers) {
        assert.equal(r.choices[0].finish_reason, 'tool_calls');
        for (const call of r.choices[0].message.tool_calls) checkCall(call, [name]);
      }
    }
    const unknown = await postJson(`${server.url}/v1/chat/completions`, {
      model: modelId, messages: ask, tools, tool_choice: { type: 'function', function: { name: 'nope' } },
    });
    assert.equal(unknown.status, 400);
  });

  it('streamed: the first delta of a call names it, later ones add argument text', async () => {
    for (const seed of [0, 1, 2, 3]) {
      const chunks = await collect(await client.chat.completions.create({
        model: modelId, messages: ask, tools, tool_choice: 'required', temperature: 1, seed, max_tokens: 300, stream: true,
      }));
      const deltas = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []));
      assert.ok(deltas.length >= 2, JSON.stringify(chunks));
      const calls = new Map();
      for (const d of deltas) {
        assert.ok(Number.isInteger(d.index));
        if (!calls.has(d.index)) {
          assert.equal(typeof d.id, 'string', 'the first delta carries the id');
          assert.ok(d.id.length > 0);
          assert.equal(d.type, 'function');
          assert.equal(typeof d.function.name, 'string');
          assert.equal(d.function.arguments, '');
          calls.set(d.index, { id: d.id, type: d.type, function: { name: d.function.name, arguments: '' } });
        } else {
          assert.deepEqual(Object.keys(d).sort(), ['function', 'index']);
          assert.deepEqual(Object.keys(d.function), ['arguments']);
          calls.get(d.index).function.arguments += d.function.arguments;
        }
      }
      assert.deepEqual([...calls.keys()], [...calls.keys()].map((_, i) => i), 'indices count from 0');
      for (const call of calls.values()) checkCall(call, ['get_weather', 'get_time']);
      const finish = chunks.flatMap((c) => c.choices).filter((c) => c.finish_reason);
      assert.deepEqual(finish.map((c) => c.finish_reason), ['tool_calls']);
    }
  });
});

describe('cancellation', () => {
  let long;
  before(async () => {
    long = await startLongServer();
  });
  after(async () => {
    await stopAndCheck(long);
  });

  it('a stream aborted mid-way leaves the running batch within a few seconds', async () => {
    const before = (await readMetrics(long.url)).values;
    // About 40 s of work if nobody stops it.
    const maxTokens = long.contextLength - 768;
    const stream = await clientFor(long.url).chat.completions.create({
      model: modelId, messages: hello, max_tokens: maxTokens, stream: true, ...greedy,
    });
    let seen = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content && ++seen === 3) {
        const running = (await readMetrics(long.url)).values;
        assert.equal(running.gemma_requests_running, 1, 'the request runs when the client hangs up');
        break;  // the SDK aborts the connection
      }
    }
    const start = Date.now();
    const after = await waitForMetrics(long.url, (v) => v.gemma_requests_running === 0 &&
                                       v.gemma_requests_total === before.gemma_requests_total + 1,
                                       5000, 'the aborted request gone');
    const seconds = (Date.now() - start) / 1000;
    const generated = after.gemma_generation_tokens_total - before.gemma_generation_tokens_total;
    assert.ok(generated < maxTokens / 2,
              `the aborted request generated ${generated} of ${maxTokens} tokens: it was not cancelled`);
    // Stopped, not slowed: nothing more is generated afterwards.
    await sleep(300);
    const later = (await readMetrics(long.url)).values;
    assert.equal(later.gemma_generation_tokens_total, after.gemma_generation_tokens_total);
    assert.ok(seconds < 5, `${seconds} s`);
  });

  it('a whole (non-streamed) request is cancelled when its client hangs up', async () => {
    const before = (await readMetrics(long.url)).values;
    const maxTokens = long.contextLength - 768;
    const controller = new AbortController();
    const pending = postJson(`${long.url}/v1/chat/completions`,
                             { model: modelId, messages: hello, max_tokens: maxTokens, ...greedy },
                             {}, controller.signal);
    await waitForMetrics(long.url, (v) => v.gemma_requests_running === 1, 10_000, 'the request running');
    controller.abort();
    await assert.rejects(pending, (e) => e.name === 'AbortError');
    const after = await waitForMetrics(long.url, (v) => v.gemma_requests_running === 0, 5000,
                                       'the abandoned request gone');
    const generated = after.gemma_generation_tokens_total - before.gemma_generation_tokens_total;
    assert.ok(generated < maxTokens / 2, `it generated ${generated} of ${maxTokens} tokens`);
  });
});

describe('errors', () => {
  it('invalid JSON, a missing field, a wrong type: 400 in the envelope', async () => {
    const chat = `${server.url}/v1/chat/completions`;
    for (const body of ['{bad json', '[1,2]', '"text"', '']) {
      const r = await postJson(chat, body);
      assert.equal(r.status, 400, `body ${JSON.stringify(body)}: ${r.text}`);
      assertEnvelope(r.json, 'invalid_request_error');
    }
    const missing = await postJson(chat, { model: modelId });
    assert.equal(missing.status, 400);
    assertEnvelope(missing.json, 'invalid_request_error');
    assert.equal(missing.json.error.param, 'messages');
    const wrongType = await postJson(chat, { model: modelId, messages: hello, temperature: 'hot' });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.json.error.param, 'temperature');
    const outOfRange = await postJson(chat, { model: modelId, messages: hello, max_tokens: -3 });
    assert.equal(outOfRange.status, 400);
    const pastVocab = await postJson(chat, { model: modelId, messages: hello, logit_bias: { 999999999: -100 } });
    assert.equal(pastVocab.status, 400, pastVocab.text);
    assertEnvelope(pastVocab.json, 'invalid_request_error');
    assert.equal(pastVocab.json.error.param, 'logit_bias');
    assert.match(pastVocab.json.error.message, /999999999 is outside the vocabulary/);
    await assert.rejects(client.chat.completions.create({ model: modelId, messages: [] }), (e) => e.status === 400);
  });

  it('an unknown route is a 404 envelope', async () => {
    for (const [method, route] of [['GET', '/v1/nothing'], ['POST', '/v1/chat/complete'], ['GET', '/v2/models']]) {
      const r = await fetch(`${server.url}${route}`, { method, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 404, `${method} ${route}`);
      assertEnvelope(await r.json(), 'not_found_error');
    }
  });

  it('a body over the limit is a 413', async () => {
    // The server takes 32 MiB (ServeOptions::max_body_bytes). It may answer
    // as soon as the headers announce more and close the connection, so a
    // client still sending the body can get EPIPE instead of the answer: the
    // request goes over a raw socket that announces one byte more than the
    // limit and sends only the body's first bytes.
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                 `Content-Type: application/json\r\nContent-Length: ${(32 << 20) + 1}\r\n\r\n{"model":"x"`;
    const answer = await new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write(head));
      let data = '';
      socket.setEncoding('utf8');
      socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer in 30 s; got ${JSON.stringify(data)}`)));
      socket.on('data', (chunk) => {
        data += chunk;
        // The answer is complete once its body (Content-Length bytes) is in.
        const end = data.indexOf('\r\n\r\n');
        const length = data.match(/^content-length: (\d+)\r$/im);
        if (end >= 0 && length && data.length >= end + 4 + Number(length[1])) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(data));
    });
    const status = answer.match(/^HTTP\/1\.1 (\d{3}) /);
    assert.ok(status, `not an HTTP answer: ${JSON.stringify(answer.slice(0, 200))}`);
    assert.equal(Number(status[1]), 413);
    assertEnvelope(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)));
  });

  it('a prompt over the context is a 400 naming both numbers', async (t) => {
    const small = await startServer(['--ctx', '64']);
    t.after(() => stopAndCheck(small));
    const messages = [{ role: 'user', content: 'word '.repeat(120) }];
    // The prompt's length, from the server whose context holds it.
    const fits = await client.chat.completions.create({ model: modelId, messages, max_tokens: 1, ...greedy });
    const promptTokens = fits.usage.prompt_tokens;
    assert.ok(promptTokens > 64);
    const r = await postJson(`${small.url}/v1/chat/completions`, { model: modelId, messages, max_tokens: 4 });
    assert.equal(r.status, 400, r.text);
    assertEnvelope(r.json);
    const numbers = (r.json.error.message.match(/\d+/g) ?? []).map(Number);
    assert.ok(numbers.includes(promptTokens), `"${r.json.error.message}" does not name ${promptTokens}`);
    assert.ok(numbers.includes(64), `"${r.json.error.message}" does not name the context 64`);
    // The small server still answers what fits.
    const ok = await postJson(`${small.url}/v1/chat/completions`, { model: modelId, messages: hello, max_tokens: 4 });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a prompt over the whole KV memory is a 400 naming both numbers, not a 503 to retry', async (t) => {
    // --kv-size 128: two blocks of 64 positions for all sequences, and one
    // more block per sequence; the context (1,024) would take the prompt.
    const tight = await startServer(['--kv-size', '128', '--parallel', '2']);
    t.after(() => stopAndCheck(tight));
    const messages = [{ role: 'user', content: 'word '.repeat(120) }];
    const r = await postJson(`${tight.url}/v1/chat/completions`, { model: modelId, messages, max_tokens: 4 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.headers.get('retry-after'), null);
    assertEnvelope(r.json, 'exceed_context_size_error');
    const fits = await client.chat.completions.create({ model: modelId, messages, max_tokens: 1, ...greedy });
    const numbers = (r.json.error.message.match(/\d+/g) ?? []).map(Number);
    assert.ok(numbers.includes(fits.usage.prompt_tokens), `"${r.json.error.message}" does not name the prompt's length`);
    assert.ok(numbers.some((n) => n >= 128 && n < fits.usage.prompt_tokens),
              `"${r.json.error.message}" does not name what the memory holds`);
    const ok = await postJson(`${tight.url}/v1/chat/completions`, { model: modelId, messages: hello, max_tokens: 4 });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a full queue is a 503 with Retry-After', async (t) => {
    const busy = await startLongServer(['--parallel', '1', '--queue', '1']);
    t.after(() => stopAndCheck(busy, { expected5xx: 2 }));
    // Each would run for about 40 s: the first holds the one sequence, the
    // second the one place in the queue, as long as the test needs.
    const long = { model: modelId, messages: hello, max_tokens: busy.contextLength - 768, stream: true, ...greedy };
    const controllers = [new AbortController(), new AbortController()];
    const open = async (i) => {
      const r = await fetch(`${busy.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(long),
        signal: controllers[i].signal,
      });
      assert.equal(r.status, 200);
      return r;
    };
    try {
      await open(0);
      await waitForMetrics(busy.url, (v) => v.gemma_requests_running === 1, 10_000, 'one running');
      await open(1);
      await waitForMetrics(busy.url, (v) => v.gemma_requests_waiting === 1, 10_000, 'one waiting');
      const r = await postJson(`${busy.url}/v1/chat/completions`, { model: modelId, messages: hello, max_tokens: 4 });
      assert.equal(r.status, 503, r.text);
      assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After: ${r.headers.get('retry-after')}`);
      assertEnvelope(r.json);
      const ollama = await postJson(`${busy.url}/api/generate`, { model: modelId, prompt: 'x', stream: false });
      assert.equal(ollama.status, 503);
      assert.equal(typeof ollama.json.error, 'string', 'an Ollama route answers errors in the Ollama shape');
    } finally {
      for (const c of controllers) c.abort();
    }
    // Both clients left: the running one and the waiting one are gone.
    await waitForMetrics(busy.url, (v) => v.gemma_requests_running === 0 && v.gemma_requests_waiting === 0,
                         5000, 'the queue empty after the clients left');
    // And the server serves again.
    const ok = await postJson(`${busy.url}/v1/chat/completions`, { model: modelId, messages: hello, max_tokens: 4 });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe('API key', () => {
  let locked;
  before(async () => {
    locked = await startServer(['--api-key', 'key-one,key-two']);
  });
  after(async () => {
    await stopAndCheck(locked, { headers: { Authorization: 'Bearer key-one' } });
  });

  it('missing or wrong keys get 401 authentication_error', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: 'key-one' },
      { 'X-Api-Key': 'wrong' }, { Authorization: 'Basic a2V5LW9uZQ==' }]) {
      for (const route of ['/v1/models', '/metrics', '/tokenize']) {
        const r = await fetch(`${locked.url}${route}`, { method: route === '/tokenize' ? 'POST' : 'GET', headers, body: route === '/tokenize' ? '{"content":"a"}' : undefined });
        assert.equal(r.status, 401, `${route} with ${JSON.stringify(headers)}`);
        if (route !== '/metrics') assertEnvelope(await r.json(), 'authentication_error');
      }
    }
    const ollama = await getJson(`${locked.url}/api/tags`);
    assert.equal(ollama.status, 401);
    await assert.rejects(clientFor(locked.url, 'wrong').chat.completions.create({ model: modelId, messages: hello, max_tokens: 2 }),
                         (e) => e.status === 401 && e.type === 'authentication_error');
  });

  it('Bearer (the SDK) and X-Api-Key work, each configured key does', async () => {
    for (const key of ['key-one', 'key-two']) {
      const r = await clientFor(locked.url, key).chat.completions.create({ model: modelId, messages: hello, max_tokens: 3, ...greedy });
      assert.equal(r.usage.completion_tokens, 3);
    }
    const viaHeader = await getJson(`${locked.url}/v1/models`, { 'X-Api-Key': 'key-two' });
    assert.equal(viaHeader.status, 200);
    assert.equal(viaHeader.json.data[0].id, modelId);
  });

  it('/health and the page stay open', async () => {
    const health = await getJson(`${locked.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    const page = await fetch(`${locked.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(await page.text(), /<textarea id="input"/);
  });
});
