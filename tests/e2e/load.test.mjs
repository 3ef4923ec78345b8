// Load test of `gemma serve` on loopback, bounded in time: 64 concurrent
// clients, mixed streamed and whole answers over the OpenAI and Ollama
// routes, some cancelled mid-way. Every greedy answer is first computed with
// the request alone on the server, then the 64 run at once: each answer must
// be exactly its alone answer (nothing lost, nothing crossed between
// sequences), nothing may be a 5xx, /metrics must show no request left
// running or waiting, and a second identical round must not grow the
// server's resident memory by more than a few MB. It prints what it measured
// (requests/s, tokens/s, latency percentiles) as test diagnostics.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, it } from 'node:test';

import { modelFacts } from './lib/gguf.mjs';
import { ndjsonObjects, sseEvents } from './lib/http.mjs';
import { modelPath, readMetrics, residentKiB, startServer, stopAndCheck, waitForMetrics } from './lib/server.mjs';

const facts = modelFacts(modelPath);
const modelId = path.basename(modelPath);
const kClients = 64;
const kParallel = 8;
// KV positions for all sequences together: 1,024, an eighth of what eight
// full contexts would take. The batch outgrows it, so sequences are
// preempted and resumed (hundreds of times per round), and their answers
// must still be those they give alone. (A small arena also becomes resident
// within the warm-up: it is allocated up front but its pages are touched
// only as blocks are first used.)
const kKvSize = 1024;
// Identical rounds of all clients at once: six to warm up, then four
// measured (GEMMA_E2E_LOAD_ROUNDS raises the total, for a longer stress run
// by hand). Six, because the server's resident memory rises for a few rounds
// without any leak: each of its 128 HTTP threads touches its stack and fills
// its malloc cache the first time it serves a connection, and which idle
// thread takes a connection is arbitrary. Measured with glibc's malloc_stats
// over 40 rounds: with the per-thread caches off, the bytes in use stay flat
// from round 5 on, while the resident size rises by some 2 MB between rounds
// 3 and 8 and by under 1 MB between rounds 6 and 10.
const kWarmUpRounds = 6;
const kRounds = Math.max(kWarmUpRounds + 1, Number(process.env.GEMMA_E2E_LOAD_ROUNDS || 10));
// Resident memory the measured rounds may add to what the warm-up left.
const kMaxGrowthKiB = 4 * 1024;
const banEnds = { [facts.eosId]: -100, [facts.endOfTurnId]: -100 };
const topics = ['the sea', 'mountains', 'a red fox', 'prime numbers', 'bread', 'the moon', 'rivers', 'owls'];

// What client i sends. Kinds rotate so that every round mixes routes and
// streaming; every eighth streamed client hangs up after a few chunks.
function requestFor(i) {
  const kinds = ['chat', 'chat-stream', 'completion', 'completion-stream', 'ollama-chat-stream',
    'ollama-generate', 'chat-stream', 'chat'];
  const kind = kinds[i % kinds.length];
  const cancel = i % 8 === 1 || i % 8 === 4;  // a chat stream or an Ollama stream
  const maxTokens = cancel ? 400 : 12 + (i % 5) * 8;
  const text = `Client ${i}: tell me about ${topics[i % topics.length]}, part ${Math.floor(i / 8)}.`;
  const messages = [{ role: 'user', content: text }];
  switch (kind) {
    case 'chat':
    case 'chat-stream':
      return { kind, cancel, route: '/v1/chat/completions', stream: kind === 'chat-stream',
        body: { model: modelId, messages, max_tokens: maxTokens, temperature: 0, logit_bias: banEnds,
          stream: kind === 'chat-stream', stream_options: kind === 'chat-stream' ? { include_usage: true } : undefined } };
    case 'completion':
    case 'completion-stream':
      return { kind, cancel, route: '/v1/completions', stream: kind === 'completion-stream',
        body: { model: modelId, prompt: text, max_tokens: maxTokens, temperature: 0, logit_bias: banEnds,
          stream: kind === 'completion-stream', stream_options: kind === 'completion-stream' ? { include_usage: true } : undefined } };
    case 'ollama-chat-stream':
      return { kind, cancel, route: '/api/chat', stream: true,
        body: { model: modelId, messages, options: { temperature: 0, num_predict: maxTokens } } };
    case 'ollama-generate':
      return { kind, cancel, route: '/api/generate', stream: false,
        body: { model: modelId, prompt: text, stream: false, options: { temperature: 0, num_predict: maxTokens } } };
    default:
      throw new Error(kind);
  }
}

// Runs one request; returns its HTTP status, the text received, the token
// count the server reported, and timings. A cancelled one stops reading
// after three pieces of text and aborts the connection.
async function run(spec, url, { cancel = false } = {}) {
  const controller = new AbortController();
  const start = performance.now();
  const r = await fetch(`${url}${spec.route}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec.body),
    signal: controller.signal,
  });
  const out = { status: r.status, text: '', tokens: null, ttft: null, latency: null, cancelled: false };
  if (r.status !== 200) {
    out.text = await r.text();
    return out;
  }
  if (!spec.stream) {
    const j = await r.json();
    if (spec.route === '/v1/chat/completions') {
      out.text = j.choices[0].message.content;
      out.tokens = j.usage.completion_tokens;
    } else if (spec.route === '/v1/completions') {
      out.text = j.choices[0].text;
      out.tokens = j.usage.completion_tokens;
    } else {
      out.text = j.response;
      out.tokens = j.eval_count;
    }
    out.latency = performance.now() - start;
    return out;
  }
  let pieces = 0;
  const ollama = spec.route.startsWith('/api/');
  try {
    for await (const event of ollama ? ndjsonObjects(r) : sseEvents(r)) {
      if (event === '[DONE]') continue;
      let piece = '';
      if (ollama) {
        piece = event.message?.content ?? event.response ?? '';
        if (event.done) out.tokens = event.eval_count;
      } else {
        if (event.error) throw new Error(`error event: ${JSON.stringify(event)}`);
        if (event.usage) out.tokens = event.usage.completion_tokens;
        for (const c of event.choices) piece += c.delta?.content ?? c.text ?? '';
      }
      if (piece) {
        if (out.ttft === null) out.ttft = performance.now() - start;
        out.text += piece;
        if (cancel && ++pieces === 3) {
          out.cancelled = true;
          controller.abort();
          break;
        }
      }
    }
  } catch (e) {
    if (!(out.cancelled && e.name === 'AbortError')) throw e;
  }
  out.latency = performance.now() - start;
  return out;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let server;
const specs = Array.from({ length: kClients }, (_, i) => requestFor(i));
const alone = [];

before(async () => {
  server = await startServer(['--parallel', String(kParallel), '--kv-size', String(kKvSize)]);
});

after(async () => {
  await stopAndCheck(server);
});

// One round: all clients at once; checks every answer against its alone one.
async function round(t, name) {
  const start = performance.now();
  const results = await Promise.all(specs.map((spec) => run(spec, server.url, { cancel: spec.cancel })));
  const wall = (performance.now() - start) / 1000;
  for (const [i, res] of results.entries()) {
    assert.equal(res.status, 200, `client ${i} (${specs[i].kind}): HTTP ${res.status} ${res.text}`);
    if (specs[i].cancel) {
      assert.ok(res.cancelled, `client ${i} was to hang up mid-way, but its answer ended first`);
      assert.ok(alone[i].text.startsWith(res.text), `client ${i}: the cancelled stream is not a prefix of its answer`);
      continue;
    }
    assert.equal(res.text, alone[i].text, `client ${i} (${specs[i].kind}) got another answer than alone`);
    assert.equal(res.tokens, alone[i].tokens, `client ${i}: token count`);
  }
  const done = results.filter((r, i) => !specs[i].cancel);
  const tokens = done.reduce((s, r) => s + r.tokens, 0);
  const latencies = done.map((r) => r.latency);
  const ttfts = results.filter((r) => r.ttft !== null).map((r) => r.ttft);
  t.diagnostic(`${name}: ${kClients} clients (${kClients - done.length} cancelled) in ${wall.toFixed(2)} s: ` +
               `${(kClients / wall).toFixed(1)} requests/s, ${(tokens / wall).toFixed(0)} generated tokens/s; ` +
               `latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p90 ${percentile(latencies, 90).toFixed(0)} ms, ` +
               `p99 ${percentile(latencies, 99).toFixed(0)} ms; time to first token (streams) ` +
               `p50 ${percentile(ttfts, 50).toFixed(0)} ms, p99 ${percentile(ttfts, 99).toFixed(0)} ms`);
  // Nothing stuck: the aborted streams are gone too.
  await waitForMetrics(server.url, (v) => v.gemma_requests_running === 0 && v.gemma_requests_waiting === 0,
                       5000, 'no request running or waiting');
  return { tokens, seconds: wall, latencies, ttfts };
}

it('64 concurrent clients get their own answers, no 5xx, nothing stuck, memory flat', { timeout: 60_000 + kRounds * 15_000 }, async (t) => {
  const testStart = performance.now();
  // Alone: one request at a time, full answers (cancelled ones too, to check
  // that what they received is a prefix of theirs).
  for (const spec of specs) {
    const res = await run(spec, server.url);
    assert.equal(res.status, 200, `${spec.kind}: ${res.text}`);
    assert.ok(res.text.length > 0 && res.tokens > 0, `${spec.kind}: empty answer`);
    alone.push(res);
  }
  const distinct = new Set(alone.map((a) => a.text));
  assert.ok(distinct.size >= kClients / 2, `only ${distinct.size} distinct answers: crossing would go unseen`);
  t.diagnostic(`alone: ${kClients} requests one by one in ${((performance.now() - testStart) / 1000).toFixed(2)} s`);

  for (let i = 1; i <= kWarmUpRounds; ++i) await round(t, `round ${i} (warm-up)`);
  const rssAfterWarmUp = residentKiB(server.pid);
  const rss = [rssAfterWarmUp];
  const totals = { requests: 0, tokens: 0, seconds: 0, latencies: [], ttfts: [] };
  for (let i = kWarmUpRounds + 1; i <= kRounds; ++i) {
    const r = await round(t, `round ${i}`);
    rss.push(residentKiB(server.pid));
    totals.requests += kClients;
    totals.tokens += r.tokens;
    totals.seconds += r.seconds;
    totals.latencies.push(...r.latencies);
    totals.ttfts.push(...r.ttfts);
  }
  t.diagnostic(`rounds ${kWarmUpRounds + 1}-${kRounds} together: ${(totals.requests / totals.seconds).toFixed(1)} requests/s, ` +
               `${(totals.tokens / totals.seconds).toFixed(0)} generated tokens/s; latency ` +
               `p50 ${percentile(totals.latencies, 50).toFixed(0)} ms, p99 ${percentile(totals.latencies, 99).toFixed(0)} ms; ` +
               `time to first token p50 ${percentile(totals.ttfts, 50).toFixed(0)} ms, ` +
               `p99 ${percentile(totals.ttfts, 99).toFixed(0)} ms`);
  t.diagnostic(`server RSS after the warm-up and after each later round: ${rss.join(', ')} KiB`);
  const growth = Math.max(...rss) - rssAfterWarmUp;
  assert.ok(growth <= kMaxGrowthKiB, `RSS grew ${growth} KiB after the warm-up rounds`);

  const { values } = await readMetrics(server.url);
  assert.equal(values.gemma_http_errors_5xx_total, server.loading503s, 'no 5xx but the 503s of /health while loading');
  t.diagnostic(`whole test ${((performance.now() - testStart) / 1000).toFixed(1)} s`);
});
