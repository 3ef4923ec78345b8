#!/usr/bin/env python3
"""Load generator for OpenAI-compatible servers: `gemma serve` against a peer.

For each server (started here, one at a time, on the same model file and
threads), it runs the same request mix at each concurrency and reports the
aggregate generated tokens/s, time to first token and inter-token latency
(p50/p99), then the prefix-cache check: a long prompt sent twice, time to
first token of each.

  scripts/serve_bench.py -m model.gguf --gemma build/gemma \
      --peer /path/to/llama-server -c 1,4,8,16 -t 2 --parallel 8

Not a test (timing never is); run it by hand on a quiet machine. Only the
Python standard library is used.
"""
import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly "
         "judge boxing matches near old stone bridges under grey autumn skies").split()


def prompt_text(index, words):
    # Distinct per request from the first word, so that no prefix is shared.
    return " ".join(WORDS[(index * 7 + k * 3) % len(WORDS)] for k in range(words))


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Server:
    def __init__(self, name, argv, port):
        self.name, self.argv, self.port = name, argv, port
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not become ready")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stream_chat(port, body):
    """One streamed chat request: (time to first token, token times, tokens)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {res.read()[:300]}")
    times, usage = [], None
    buffer = b""
    while True:
        data = res.read1(65536)
        if not data:
            break
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices", []):
                    delta = choice.get("delta", {})
                    if delta.get("content") or delta.get("reasoning_content"):
                        times.append(time.perf_counter())
    tokens = usage["completion_tokens"] if usage else len(times)
    ttft = (times[0] - start) if times else float("nan")
    return ttft, times, tokens, usage


def run_level(port, concurrency, requests_per_client, args, ban):
    results, errors = [], []
    lock = threading.Lock()

    def client(c):
        for r in range(requests_per_client):
            body = {
                "model": "m",
                "messages": [{"role": "user",
                              "content": prompt_text(c * 100 + r, args.prompt_words)}],
                "max_tokens": args.max_tokens,
                "temperature": 0,
                "stream": True,
                "stream_options": {"include_usage": True},
                "logit_bias": ban,
            }
            try:
                out = stream_chat(port, body)
                with lock:
                    results.append(out)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(r[2] for r in results)
    ttfts = [r[0] for r in results]
    itls = []
    for r in results:
        itls += [b - a for a, b in zip(r[1], r[1][1:])]
    return {
        "concurrency": concurrency,
        "decode_tokens_per_s": all_decoding_rate(results, min(concurrency, args.parallel)),
        "requests": len(results),
        "errors": len(errors),
        "tokens_per_s": tokens / wall if wall > 0 else 0,
        "ttft_p50": percentile(ttfts, 50), "ttft_p99": percentile(ttfts, 99),
        "itl_p50": percentile(itls, 50), "itl_p99": percentile(itls, 99),
        "first_error": errors[0] if errors else "",
    }


def all_decoding_rate(results, concurrency):
    """Tokens/s over the moments when `concurrency` streams (the level's, or
    --parallel where more wait) are all past their first token and before
    their last: the rate of steps whose rows are all decode rows (no prompt
    is being read), which is what the weights read once per step for every
    row buys. Each stream's streamed chunks count for completion_tokens /
    chunks tokens."""
    spans = []
    for _, times, tokens, _ in results:
        if len(times) >= 2:
            spans.append((times, tokens / len(times)))
    edges = sorted({t for times, _ in spans for t in (times[0], times[-1])})
    full_time, full_tokens = 0.0, 0.0
    for a, b in zip(edges, edges[1:]):
        active = [(times, w) for times, w in spans if times[0] <= a and b <= times[-1]]
        if len(active) < concurrency:
            continue
        full_time += b - a
        for times, w in active:
            full_tokens += w * sum(1 for t in times[1:] if a < t <= b)
    return full_tokens / full_time if full_time > 0 else float("nan")


def prefix_check(port, args, ban):
    """The same long prompt twice: time to first token, cold then warm."""
    text = prompt_text(999, args.prefix_words)
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "max_tokens": 4,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True},
            "logit_bias": ban}
    cold = stream_chat(port, body)
    warm = stream_chat(port, body)
    cached = (warm[3] or {}).get("prompt_tokens_details", {}).get("cached_tokens")
    prompt_tokens = (warm[3] or {}).get("prompt_tokens")
    return cold[0], warm[0], cached, prompt_tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--gemma", default="build/gemma")
    ap.add_argument("--peer", help="llama-server binary")
    ap.add_argument("-c", "--concurrency", default="1,4,8,16")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=4096, help="context per sequence")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-words", type=int, default=48)
    ap.add_argument("--prefix-words", type=int, default=1400, help="~2K tokens for the prefix check")
    ap.add_argument("--requests", type=int, default=2, help="requests per client per level")
    ap.add_argument("--port", type=int, default=18731)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--gemma-args", default="", help="extra flags for gemma serve (one string)")
    ap.add_argument("--peer-args", default="", help="extra flags for the peer (one string)")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    # End tokens of the Gemma 3 vocabulary (<eos>, <end_of_turn>) banned, so
    # that every request generates max_tokens on a random-weight model.
    ban = {"1": -100, "106": -100}
    servers = [("gemma", [args.gemma, "serve", "-m", args.model, "--port", str(args.port),
                          "--parallel", str(args.parallel), "-t", str(args.threads),
                          "--ctx", str(args.ctx), "--quiet"] + args.gemma_args.split())]
    if args.peer:
        servers.append(("llama-server", [args.peer, "-m", args.model, "--port", str(args.port + 1),
                                         "-np", str(args.parallel), "-t", str(args.threads),
                                         "-c", str(args.ctx * args.parallel), "--no-webui"] + args.peer_args.split()))
    report = {}
    for name, argv in servers:
        port = args.port if name == "gemma" else args.port + 1
        print(f"== {name}: {' '.join(argv)}", flush=True)
        with Server(name, argv, port):
            run_level(port, 1, 1, args, ban)  # warm-up
            rows = []
            for level in levels:
                row = run_level(port, level, args.requests, args, ban)
                rows.append(row)
                print(f"  c={level:2d}: {row['tokens_per_s']:7.2f} tok/s (all decoding "
                      f"{row['decode_tokens_per_s']:7.2f})  ttft p50 {row['ttft_p50']:.3f} "
                      f"p99 {row['ttft_p99']:.3f} s  itl p50 {row['itl_p50'] * 1000:.1f} "
                      f"p99 {row['itl_p99'] * 1000:.1f} ms  errors {row['errors']} {row['first_error']}",
                      flush=True)
            cold, warm, cached, prompt_tokens = prefix_check(port, args, ban)
            print(f"  prefix: {prompt_tokens} prompt tokens, ttft cold {cold:.3f} s, warm {warm:.3f} s "
                  f"({cold / warm if warm > 0 else float('nan'):.1f}x), cached {cached}", flush=True)
            report[name] = {"levels": rows, "prefix": {"cold": cold, "warm": warm, "cached": cached,
                                                       "prompt_tokens": prompt_tokens}}
    if "llama-server" in report:
        print("== ratios (gemma / llama-server)")
        for a, b in zip(report["gemma"]["levels"], report["llama-server"]["levels"]):
            print(f"  c={a['concurrency']:2d}: tokens/s {a['tokens_per_s'] / b['tokens_per_s']:.2f}x "
                  f"(all decoding {a['decode_tokens_per_s'] / b['decode_tokens_per_s']:.2f}x), "
                  f"itl p99 {a['itl_p99'] * 1000:.1f} vs {b['itl_p99'] * 1000:.1f} ms")
    single = next((r for r in report["gemma"]["levels"] if r["concurrency"] == 1), None)
    eight = next((r for r in report["gemma"]["levels"] if r["concurrency"] == 8), None)
    if single and eight:
        print(f"== gemma: 8 streams / 1 stream = {eight['tokens_per_s'] / single['tokens_per_s']:.2f}x "
              f"(all decoding {eight['decode_tokens_per_s'] / single['decode_tokens_per_s']:.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
