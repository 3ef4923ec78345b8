// Plain-HTTP helpers for the suites: JSON requests, Server-Sent Events and
// NDJSON streams read with fetch, checked for their framing as they come.

export async function postJson(url, body, headers = {}, signal = undefined) {
  const r = await fetch(url, {
    method: 'POST',
    signal,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

export async function getJson(url, headers = {}) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

// Splits a byte stream into lines, decoding UTF-8 across chunk borders.
async function* lines(body) {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
    }
  }
  buffer += decoder.decode();
  if (buffer) yield buffer;
}

// An SSE stream's `data:` payloads, in order: parsed JSON objects, and the
// string '[DONE]' for the end marker. Comments (": ping") are skipped;
// anything else that is not an SSE line throws.
export async function* sseEvents(response) {
  let data = null;
  for await (const line of lines(response.body)) {
    if (line === '') {
      if (data !== null) yield data === '[DONE]' ? data : JSON.parse(data);
      data = null;
    } else if (line.startsWith(':')) {
      continue;
    } else if (line.startsWith('data: ')) {
      data = data === null ? line.slice(6) : `${data}\n${line.slice(6)}`;
    } else {
      throw new Error(`not an SSE line: ${JSON.stringify(line)}`);
    }
  }
  if (data !== null) throw new Error('the stream ended inside an event');
}

// An NDJSON stream's objects; every line must be one JSON value.
export async function* ndjsonObjects(response) {
  for await (const line of lines(response.body)) {
    if (line.trim() === '') continue;
    yield JSON.parse(line);
  }
}

export async function postStream(url, body, { headers = {}, signal } = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal,
  });
}
