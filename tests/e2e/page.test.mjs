// The chat page at / in headless Chromium (Debian's chromium driven by
// playwright-core): a message typed and sent, the reply streaming into its
// bubble, a second turn that carries the first, the tokens/s line, and the
// API-key field against a server started with --api-key.
// The page's answers must be those the API gives for the same conversation.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { postJson } from './lib/http.mjs';
import {
  modelPath, readMetrics, startLongServer, startServer, stopAndCheck, waitForMetrics,
} from './lib/server.mjs';

const modelId = path.basename(modelPath);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// Long enough that the reply streams for a while (some 0.5 s on a quiet
// machine), which the bubble must show as it comes.
const kMaxTokens = 2500;

// One browser for the file (starting Chromium takes seconds on a loaded
// machine), with a fresh profile removed afterwards; each suite has its own
// page, and its own origin (the server's port), so no state is shared.
let browser = null;
let profile = null;

before(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no browser at ${chromiumPath}: install Debian's chromium (scripts/install_deps.sh) ` +
                    'or set CHROMIUM to another Chromium');
  }
  profile = mkdtempSync(path.join(os.tmpdir(), 'gemma-e2e-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, args: chromiumArgs, timeout: 60_000,
  });
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    if (profile) rmSync(profile, { recursive: true, force: true });
  }
});

async function openPage(url) {
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

// Watches the newest assistant bubble: counts the distinct texts it shows
// and checks, as they come, that each one extends the one before (a stream
// that grows the reply, never rewrites it).
async function watchReplies(page) {
  await page.evaluate(() => {
    window.__reply = { states: 0, last: '', rewritten: null };
    new MutationObserver(() => {
      const bubbles = document.querySelectorAll('.msg.assistant');
      const text = bubbles.length ? bubbles[bubbles.length - 1].textContent : '';
      const w = window.__reply;
      if (!text || text === w.last) return;
      if (!text.startsWith(w.last) && w.rewritten === null) w.rewritten = { before: w.last, after: text };
      w.last = text;
      ++w.states;
    }).observe(document.getElementById('log'), { childList: true, subtree: true, characterData: true });
  });
}

async function resetWatch(page) {
  await page.evaluate(() => { window.__reply = { states: 0, last: '', rewritten: null }; });
}

async function send(page, text, doneCount) {
  await page.fill('#input', text);
  await page.click('#send');
  await page.waitForSelector(`.msg.assistant[data-done="1"] >> nth=${doneCount - 1}`, { timeout: 60_000 });
  const bubbles = page.locator('.msg.assistant');
  assert.equal(await bubbles.count(), doneCount);
  return bubbles.nth(doneCount - 1);
}

async function settings(page, { temperature, maxTokens }) {
  await page.fill('#temperature', String(temperature));
  await page.fill('#max_tokens', String(maxTokens));
}

describe('chat page', () => {
  let server;
  let page;
  const requests = [];

  before(async () => {
    server = await startLongServer();
    page = await openPage(`${server.url}/`);
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/chat/completions')) requests.push(JSON.parse(r.postData()));
    });
  });

  after(async () => {
    try {
      await page?.close();
    } finally {
      await stopAndCheck(server);
    }
  });

  it('shows the model, streams a reply, then a second turn, with a tokens/s line', async () => {
    await page.waitForFunction((id) => document.getElementById('model').textContent === id, modelId);
    await settings(page, { temperature: 0, maxTokens: kMaxTokens });
    await watchReplies(page);

    const first = 'Tell me about the sea.';
    const bubble = await send(page, first, 1);
    assert.ok(!(await bubble.getAttribute('class')).includes('error'));
    const api = await postJson(`${server.url}/v1/chat/completions`, {
      model: modelId, messages: [{ role: 'user', content: first }], temperature: 0, max_tokens: kMaxTokens,
    });
    const expected = api.json.choices[0].message.content;
    assert.ok(api.json.usage.completion_tokens >= 500, 'the prompt must give a reply long enough to stream');
    assert.equal(await bubble.textContent(), expected);
    // Streamed: the bubble grew through many states before the end.
    const watched = await page.evaluate(() => window.__reply);
    assert.equal(watched.rewritten, null, `the bubble's text was rewritten: ${JSON.stringify(watched.rewritten)}`);
    assert.equal(watched.last, expected);
    assert.ok(watched.states >= 2, `the reply appeared in ${watched.states} step(s)`);

    const stats = await page.textContent('#stats');
    const m = stats.match(/^(\d+) tokens, ([\d.]+) tokens\/s, first token after ([\d.]+) s$/);
    assert.ok(m, `stats line: ${JSON.stringify(stats)}`);
    assert.equal(Number(m[1]), api.json.usage.completion_tokens);
    assert.ok(Number(m[2]) > 0);

    const second = 'And what lives in it?';
    const bubble2 = await send(page, second, 2);
    const conversation = [
      { role: 'user', content: first }, { role: 'assistant', content: expected }, { role: 'user', content: second },
    ];
    const sent = requests.at(-1);
    assert.deepEqual(sent.messages, conversation, 'the second request carries the first turn');
    assert.equal(sent.stream, true);
    const api2 = await postJson(`${server.url}/v1/chat/completions`, {
      model: modelId, messages: conversation, temperature: 0, max_tokens: kMaxTokens,
    });
    assert.equal(await bubble2.textContent(), api2.json.choices[0].message.content);
    assert.equal(await page.locator('.msg.user').count(), 2);
  });

  it('Stop ends a reply mid-way, on the page and on the server', async () => {
    await page.click('#clear');
    // Some 40 s of reply if nobody stops it (the end tokens cannot be banned
    // from the page, but this prompt's greedy reply runs past 500 tokens).
    await settings(page, { temperature: 0, maxTokens: server.contextLength - 768 });
    await resetWatch(page);
    await page.fill('#input', 'Tell me about the sea.');
    await page.click('#send');
    await page.waitForFunction(() => window.__reply.states >= 3, null, { timeout: 60_000 });
    assert.equal((await readMetrics(server.url)).values.gemma_requests_running, 1);
    assert.equal(await page.isEnabled('#stop'), true);
    await page.click('#stop');
    const bubble = page.locator('.msg.assistant[data-done="1"]');
    await bubble.waitFor({ timeout: 10_000 });
    assert.ok(!(await bubble.getAttribute('class')).split(' ').includes('error'), 'stopping is not an error');
    const shown = await bubble.textContent();
    assert.ok(shown.length > 0, 'what came before Stop stays');
    assert.equal(await page.isEnabled('#send'), true);
    assert.equal(await page.isEnabled('#stop'), false);
    await waitForMetrics(server.url, (v) => v.gemma_requests_running === 0, 5000, 'the stopped request gone');
  });
});

describe('chat page with an API key', () => {
  const key = 'page-secret';
  let server;
  let page;

  before(async () => {
    server = await startServer(['--api-key', key]);
    page = await openPage(`${server.url}/`);
  });

  after(async () => {
    try {
      await page?.close();
    } finally {
      await stopAndCheck(server, { headers: { Authorization: `Bearer ${key}` } });
    }
  });

  it('shows the 401 without the key, answers with it, and keeps the key', async () => {
    await settings(page, { temperature: 0, maxTokens: 16 });
    const refused = await send(page, 'Hello?', 1);
    assert.ok((await refused.getAttribute('class')).split(' ').includes('error'));
    assert.match(await refused.textContent(), /Error: .*API key/);

    await page.fill('#key', key);
    await page.press('#key', 'Tab');  // "change": the page stores the key
    await page.click('#clear');
    const answered = await send(page, 'Hello?', 1);
    assert.ok(!(await answered.getAttribute('class')).split(' ').includes('error'));
    const api = await postJson(`${server.url}/v1/chat/completions`, {
      model: modelId, messages: [{ role: 'user', content: 'Hello?' }], temperature: 0, max_tokens: 16,
    }, { Authorization: `Bearer ${key}` });
    assert.equal(await answered.textContent(), api.json.choices[0].message.content);

    await page.reload();
    assert.equal(await page.inputValue('#key'), key);
    await page.waitForFunction((id) => document.getElementById('model').textContent === id, modelId);
  });
});
