#!/usr/bin/env python3
"""Runs `gemma bench` and one or more peers' llama-bench (llama.cpp, ik_llama.cpp)
on the same model file with the same tests, and prints the speeds and our
ratio to each peer. The engines alternate, one repetition each (-r rounds), so
all see the same machine state; the mean and standard deviation are over the
rounds.

  scripts/compare_bench.py --peer /path/to/llama-bench -m model.gguf [-p 512] [-n 128] [-t 1,2] [-r 5] [-d 0]
  scripts/compare_bench.py -m model.gguf --peer "ik=/path/ik/llama-bench" \
      --peer "ik-rtr=/path/ik/llama-bench -rtr 1" --peer "llama.cpp=/path/llama.cpp/llama-bench"

A peer is PATH or LABEL=COMMAND (the command split as a shell would, its
flags added to every run of that peer).

Both programs print JSON with llama-bench's field names (n_prompt, n_gen,
n_threads, n_depth, avg_ts, stddev_ts), which is what this script reads.
Extra peer flags go after `--peer-args`.
"""
import argparse
import json
import os
import shlex
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
    ap.add_argument("--peer", required=True, action="append",
                    help="the peer's llama-bench: PATH or LABEL=COMMAND (repeatable)")
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
    ap.add_argument("--top-k", type=int, default=8,
                    help="experts a token uses (mixture-of-experts files), for --bw")
    ap.add_argument("--peer-args", nargs=argparse.REMAINDER, default=[],
                    help="flags for every peer (after all other options)")
    a = ap.parse_args()
    # Mainline llama-bench has -d (depth); ik_llama.cpp's has not: pass it only when used.
    depth = ["-d", a.d] if a.d != "0" else []
    # The engines alternate, one repetition each, so that a slow spell of the
    # machine (shared memory bandwidth, a noisy neighbour) hits both alike.
    common = ["-m", a.model, "-p", a.p, "-n", a.n, "-t", a.t, "-r", "1"]
    peers = []  # (label, command)
    for spec in a.peer:
        label, _, command = spec.partition("=") if "=" in spec.split()[0] else ("", "", spec)
        argv = shlex.split(command) + a.peer_args
        label = label or os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(argv[0]))))
        peers.append((label or "peer", argv))
    ours_runs = {}
    peer_runs = [{} for _ in peers]
    for _ in range(int(a.r)):
        for r in run_json([a.gemma, "bench", *common, *depth, "--json"]):
            ours_runs.setdefault(key(r), []).append(r["avg_ts"])
        for (label, argv), runs in zip(peers, peer_runs):
            for r in run_json([argv[0], *common, *depth, "-o", "json", *argv[1:]]):
                runs.setdefault(key(r), []).append(r["avg_ts"])
    bandwidth = {int(t): float(g) for t, g in (x.split(":") for x in a.bw.split(",") if x)}
    # Decode reads once per token every weight it uses: the tied embedding as
    # the head, but neither the per-layer embedding table (a row per token)
    # nor the experts a token's router did not choose.
    info = json.loads(subprocess.run([a.gemma, "info", "-m", a.model, "--json", "--no-tensors"],
                                     check=True, capture_output=True, text=True).stdout)
    tensors = json.loads(subprocess.run([a.gemma, "info", "-m", a.model, "--json"],
                                        check=True, capture_output=True, text=True).stdout)["tensors"]
    touched = 0.0
    for t in tensors:
        if t["name"].startswith("per_layer_token_embd"):
            continue
        share = a.top_k / t["shape"][0] if "_exps." in t["name"] and len(t["shape"]) == 3 else 1.0
        touched += t["bytes"] * share
    weight_gb = touched / 1e9
    print(f"model: {a.model} ({info['weights_bytes'] / 1e9:.3f} GB of weights, "
          f"{weight_gb:.3f} GB read per decoded token)")
    header = f"{'test':>16} {'threads':>7} {'gemma t/s':>18}"
    for label, _ in peers:
        header += f" {label + ' t/s':>18} {'ratio':>7}"
    if bandwidth:
        header += f" {'gemma %bw':>9}" + "".join(f" {label + ' %bw':>12}" for label, _ in peers)
    print(header)
    for k, ours in ours_runs.items():
        n_prompt, n_gen, threads, n_depth = k
        name = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
        if n_depth:
            name += f" @ d{n_depth}"
        line = f"{name:>16} {threads:>7} {statistics.mean(ours):>10.2f} ± {stdev(ours):<5.2f}"
        for runs in peer_runs:
            peer = runs.get(k)
            if not peer:
                line += f" {'-':>18} {'-':>7}"
                continue
            ratio = statistics.mean(ours) / statistics.mean(peer)
            line += f" {statistics.mean(peer):>10.2f} ± {stdev(peer):<5.2f} {ratio:>7.2f}"
        if n_gen and threads in bandwidth:
            limit = bandwidth[threads] / weight_gb  # tokens/s if only weight reads counted
            line += f" {100 * statistics.mean(ours) / limit:>8.0f}%"
            for runs in peer_runs:
                peer = runs.get(k)
                line += f" {100 * statistics.mean(peer) / limit:>11.0f}%" if peer else f" {'-':>12}"
        print(line)


def stdev(values):
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    sys.exit(main())
