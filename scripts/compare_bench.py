#!/usr/bin/env python3
"""Runs `gemma bench` and a peer's llama-bench (llama.cpp or ik_llama.cpp) on the
same model file with the same tests, and prints both speeds and their ratio.

  scripts/compare_bench.py --peer /path/to/llama-bench -m model.gguf [-p 512] [-n 128] [-t 1,2] [-r 5] [-d 0]

Both programs print JSON with llama-bench's field names (n_prompt, n_gen,
n_threads, n_depth, avg_ts, stddev_ts), which is what this script reads. The two
engines run one after the other in the same invocation, so the ratio compares
them on the same machine state. Extra peer flags go after `--peer-args`.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    start = out.find("[")
    return json.loads(out[start:])


def key(r):
    return (r["n_prompt"], r["n_gen"], r["n_threads"], r.get("n_depth", 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, help="path of the peer's llama-bench binary")
    ap.add_argument("--gemma", default=os.path.join(HERE, "..", "build", "gemma"))
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", default="512")
    ap.add_argument("-n", default="128")
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-r", default="5")
    ap.add_argument("-d", default="0")
    ap.add_argument("--peer-args", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()
    common = ["-m", a.model, "-p", a.p, "-n", a.n, "-t", a.t, "-r", a.r]
    # Mainline llama-bench has -d (depth); ik_llama.cpp's has not: pass it only when used.
    depth = ["-d", a.d] if a.d != "0" else []
    ours = run_json([a.gemma, "bench", *common, *depth, "--json"])
    peer = run_json([a.peer, *common, *depth, "-o", "json", *a.peer_args])
    peer_by_key = {key(r): r for r in peer}
    print(f"model: {a.model}")
    print(f"{'test':>16} {'threads':>7} {'gemma t/s':>18} {'peer t/s':>18} {'ratio':>7}")
    for r in ours:
        p = peer_by_key.get(key(r))
        name = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        if r.get("n_depth", 0):
            name += f" @ d{r['n_depth']}"
        ours_s = f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}"
        if p is None:
            print(f"{name:>16} {r['n_threads']:>7} {ours_s:>18} {'-':>18} {'-':>7}")
            continue
        peer_s = f"{p['avg_ts']:.2f} ± {p['stddev_ts']:.2f}"
        print(f"{name:>16} {r['n_threads']:>7} {ours_s:>18} {peer_s:>18} {r['avg_ts'] / p['avg_ts']:>7.2f}")


if __name__ == "__main__":
    sys.exit(main())
