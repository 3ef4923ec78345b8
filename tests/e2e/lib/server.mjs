// Starts and stops `gemma serve` for a test suite, on a free loopback port,
// and reads what the suites need from outside the HTTP API: its /metrics as
// numbers and its resident memory from /proc.
//
// The binary comes from GEMMA_BIN (CTest passes the one it built), else
// build/gemma of this checkout; the model from GEMMA_MODEL, else the bundled
// models/tiny-gemma3.gguf.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { copyWithContextLength } from './gguf.mjs';

export const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const serverBinary = process.env.GEMMA_BIN || path.join(repoDir, 'build/gemma');
export const modelPath = process.env.GEMMA_MODEL || path.join(repoDir, 'models/tiny-gemma3.gguf');

const kStartTimeoutMs = 60_000;
const kStopTimeoutMs = 15_000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Spawns `gemma serve -m MODEL --port 0 ARGS...`, waits for the port it
// prints and for /health to say ok. Throws (the suite fails) when the binary
// is missing, exits early or never becomes ready.
// GEMMA_E2E_LOG=1 shows the server's request log on this process's stderr.
export async function startServer(extraArgs = [], { quiet = !process.env.GEMMA_E2E_LOG, model = modelPath } = {}) {
  if (!existsSync(serverBinary)) {
    throw new Error(`server binary ${serverBinary} not found (build the gemma target or set GEMMA_BIN)`);
  }
  const args = ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0'];
  if (quiet) args.push('--quiet');
  args.push(...extraArgs);
  const child = spawn(serverBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server printed no port within ${kStartTimeoutMs} ms:\n${stderr}`)),
      kStartTimeoutMs);
    child.stderr.on('data', (data) => {
      stderr += data.toString();
      if (process.env.GEMMA_E2E_LOG) process.stderr.write(data);
      const m = stderr.match(/listening on http:\/\/[^\s:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (${JSON.stringify(exited)}):\n${stderr}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + kStartTimeoutMs;
  let loading503s = 0;  // /health is 503 until the model is loaded; /metrics counts those
  for (;;) {
    if (exited) throw new Error(`server exited while loading (${JSON.stringify(exited)}):\n${stderr}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
      if (r.status === 503) ++loading503s;
      await r.arrayBuffer();
    } catch {
      // not accepting yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready within ${kStartTimeoutMs} ms:\n${stderr}`);
    await sleep(50);
  }
  return {
    url,
    port,
    pid: child.pid,
    loading503s,
    stderr: () => stderr,
    exited: () => exited,
    // SIGTERM, then the exit status: a clean stop is exit code 0.
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      const timeout = sleep(kStopTimeoutMs).then(() => null);
      const result = await Promise.race([exitPromise, timeout]);
      if (result === null) {
        child.kill('SIGKILL');
        await exitPromise;
        throw new Error(`server did not stop within ${kStopTimeoutMs} ms of SIGTERM`);
      }
      return result;
    },
  };
}

// A server on a copy of the model whose context holds `contextLength` tokens
// (see copyWithContextLength): its greedy requests with the end tokens
// banned run for many seconds (32,000 tokens take about 40 s on one core,
// the attention of the global layers growing with every token), long enough
// to be cancelled or to fill the queue however loaded the machine is.
export async function startLongServer(extraArgs = [], contextLength = 32768) {
  const copy = copyWithContextLength(modelPath, contextLength);
  const remove = () => rmSync(copy.dir, { recursive: true, force: true });
  let server;
  try {
    server = await startServer(['--ctx', String(contextLength), ...extraArgs], { model: copy.file });
  } catch (e) {
    remove();
    throw e;
  }
  const stop = server.stop;
  server.contextLength = contextLength;
  server.stop = async () => {
    try {
      return await stop();
    } finally {
      remove();
    }
  };
  return server;
}

// For after() hooks: stops the server (whatever happened before) and then
// checks that it answered no request with a 5xx over its life (but for the
// 503s of /health while it loaded and `expected5xx` more the test caused) and
// stopped cleanly on SIGTERM (exit code 0). Does nothing when it never started.
export async function stopAndCheck(server, { expected5xx = 0, headers = {} } = {}) {
  if (!server) return;
  let errors5xx = null;
  let metricsError = null;
  try {
    if (!server.exited()) errors5xx = (await readMetrics(server.url, headers)).values.gemma_http_errors_5xx_total;
  } catch (e) {
    metricsError = e;
  }
  const exit = await server.stop();
  if (metricsError) throw metricsError;
  if (errors5xx !== null && errors5xx !== server.loading503s + expected5xx) {
    throw new Error(`the server answered ${errors5xx} request(s) with a 5xx, not ` +
                    `${server.loading503s} while loading + ${expected5xx}:\n${server.stderr()}`);
  }
  if (exit.code !== 0 || exit.signal !== null) {
    throw new Error(`the server did not stop cleanly on SIGTERM (${JSON.stringify(exit)}):\n${server.stderr()}`);
  }
}

// /metrics as {name: value} for the plain samples and {name{labels}: value}
// for labelled ones (histogram buckets).
export async function readMetrics(url, headers = {}) {
  const r = await fetch(`${url}/metrics`, { headers });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const text = await r.text();
  const values = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^(\S+)\s+(\S+)$/);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    values[m[1]] = Number(m[2]);
  }
  return { text, values };
}

// Polls /metrics until `predicate(values)` holds; returns the values, or
// throws with the last ones after `timeoutMs`.
export async function waitForMetrics(url, predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = (await readMetrics(url)).values;
    if (predicate(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`metrics never showed ${what} within ${timeoutMs} ms; last: ` +
                      JSON.stringify(last));
    }
    await sleep(50);
  }
}

// Resident set size of a process in KiB (VmRSS in /proc/PID/status).
export function residentKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/^VmRSS:\s+(\d+) kB$/m);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

export { sleep };
