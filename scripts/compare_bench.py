#!/usr/bin/env python3
"""Runs `gemma bench` and a peer's llama-bench (llama.cpp or ik_llama.cpp) on the
same model file with the same tests, and prints both speeds and their ratio.
The two alternate, one repetition each (-r rounds), so both see the same
machine state; the mean and standard deviation are over the rounds.

  scripts/compare_bench.py --peer /path/to/llama-bench -m model.gguf [-p 512] [-n 128] [-t 1,2] [-r 5] [-d 0]

Both programs print JSON with llama-bench's field names (n_prompt, n_gen,
n_threads, n_depth, avg_ts, stddev_ts), which is what this script reads.
Extra peer flags go after `--peer-args`.
"""
import argparse
import json
import os
import statistics
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
    ap.add_argument("--bw", default="",
                    help="sustained read bandwidth per thread count, e.g. 1:23.5,2:31.0 (GB/s, from "
                         "bandwidth_bench): adds each engine's share of the decode limit")
    ap.add_argument("--peer-args", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()
    # Mainline llama-bench has -d (depth); ik_llama.cpp's has not: pass it only when used.
    depth = ["-d", a.d] if a.d != "0" else []
    # The engines alternate, one repetition each, so that a slow spell of the
    # machine (shared memory bandwidth, a noisy neighbour) hits both alike.
    common = ["-m", a.model, "-p", a.p, "-n", a.n, "-t", a.t, "-r", "1"]
    ours_runs, peer_runs = {}, {}
    for _ in range(int(a.r)):
        for r in run_json([a.gemma, "bench", *common, *depth, "--json"]):
            ours_runs.setdefault(key(r), []).append(r["avg_ts"])
        for r in run_json([a.peer, *common, *depth, "-o", "json", *a.peer_args]):
            peer_runs.setdefault(key(r), []).append(r["avg_ts"])
    bandwidth = {int(t): float(g) for t, g in (x.split(":") for x in a.bw.split(",") if x)}
    # Decode reads every weight once per token (the tied embedding as the head).
    info = json.loads(subprocess.run([a.gemma, "info", "-m", a.model, "--json", "--no-tensors"],
                                     check=True, capture_output=True, text=True).stdout)
    weight_gb = info["weights_bytes"] / 1e9
    print(f"model: {a.model} ({weight_gb:.3f} GB of weights)")
    print(f"{'test':>16} {'threads':>7} {'gemma t/s':>18} {'peer t/s':>18} {'ratio':>7}"
          + (f" {'gemma %bw':>9} {'peer %bw':>9}" if bandwidth else ""))
    for k, ours in ours_runs.items():
        n_prompt, n_gen, threads, n_depth = k
        name = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
        if n_depth:
            name += f" @ d{n_depth}"
        ours_s = f"{statistics.mean(ours):.2f} ± {stdev(ours):.2f}"
        peer = peer_runs.get(k)
        if not peer:
            print(f"{name:>16} {threads:>7} {ours_s:>18} {'-':>18} {'-':>7}")
            continue
        peer_s = f"{statistics.mean(peer):.2f} ± {stdev(peer):.2f}"
        ratio = statistics.mean(ours) / statistics.mean(peer)
        line = f"{name:>16} {threads:>7} {ours_s:>18} {peer_s:>18} {ratio:>7.2f}"
        if n_gen and threads in bandwidth:
            limit = bandwidth[threads] / weight_gb  # tokens/s if only weight reads counted
            line += f" {100 * statistics.mean(ours) / limit:>8.0f}% {100 * statistics.mean(peer) / limit:>8.0f}%"
        print(line)


def stdev(values):
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    sys.exit(main())
