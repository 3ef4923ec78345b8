#!/usr/bin/env python3
"""Side-by-side fidelity of several engines on the golden cases (run by hand, not in CI).

For every golden case and every model file of it, each engine computes the
prompt logits (one pass) and a greedy continuation through its KV cache; the
script compares them with the references of the case:

  KL      mean over prompt positions of KL(P_ref || P_engine), nats
  top-1   share of prompt positions whose argmax is the reference's
  max rel max over positions of max|engine - ref| / max|ref|   (golden README)
  greedy  "=" when the greedy ids equal case.json's (the f32 model's), else
          "@k": the first step that differs

The reference is gemma_pytorch in float32 on the f32 weights
(expected_prompt_logits); for quantized files KL and top-1 against the file's
own dequantized weights (expected_<type>_dequant_prompt_logits) are given too.

An engine is a command that takes the same arguments as `gemma logits`:
  ENGINE -m MODEL --tokens 2,651,... --out FILE --greedy N
writes raw little-endian f32 logits [tokens, vocab] to FILE and prints the N
greedy ids, space-separated, as its last line. Name=command pairs:

  scripts/fidelity_report.py \\
      --engine "default=build/gemma logits" \\
      --engine "--exact=build/gemma logits --exact" \\
      --engine "ik_llama.cpp=/path/to/ik_dumper" \\
      --golden tests/data/golden --markdown docs/numerics.md

An engine whose command starts with "@" is stored logits instead: a path
pattern with {dir} (the case's directory), {case} and {file}, e.g. the
golden set's own ik_llama.cpp run:
      --engine "ik (golden)=@{dir}/logits/ik_{file}_prompt_logits.f32.bin"
(greedy ids from the matching *_greedy_logits file where there is one).

Peers are run through a small logits dumper against their llama.h, kept
outside this repository (see docs/numerics.md). Engines that cannot load a
file (peers and HF folders, failures) get "-" in the table. With --markdown
the table replaces what lies between the FIDELITY markers of that file.
Standard library only.
"""
import argparse
import array
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile

FILES = ["hf", "f32", "bf16", "q8_0", "q4_0", "q4_k_m"]
START = "<!-- FIDELITY TABLE START -->"
END = "<!-- FIDELITY TABLE END -->"


def load_f32(path):
    data = array.array("f")
    with open(path, "rb") as f:
        data.frombytes(f.read())
    if sys.byteorder != "little":
        data.byteswap()
    return data


def log_softmax(row):
    m = max(row)
    s = math.fsum(math.exp(x - m) for x in row)
    ls = math.log(s) + m
    return [x - ls for x in row]


def compare(ours, ref, vocab):
    """KL, top-1 and max rel of ours against ref (both flat [rows * vocab])."""
    if len(ours) != len(ref):
        raise ValueError(f"logit shapes differ: {len(ours)} vs {len(ref)}")
    rows = len(ref) // vocab
    kl_sum, agree, max_rel = 0.0, 0, 0.0
    for r in range(rows):
        a = ours[r * vocab:(r + 1) * vocab]
        e = ref[r * vocab:(r + 1) * vocab]
        if any(math.isnan(x) or math.isinf(x) for x in a):
            return {"kl": math.inf, "top1": 0.0, "max_rel": math.inf}
        max_rel = max(max_rel, max(abs(x - y) for x, y in zip(a, e)) / max(abs(y) for y in e))
        if max(range(vocab), key=a.__getitem__) == max(range(vocab), key=e.__getitem__):
            agree += 1
        lp, lq = log_softmax(e), log_softmax(a)
        kl_sum += math.fsum(math.exp(p) * (p - q) for p, q in zip(lp, lq))
    return {"kl": kl_sum / rows, "top1": agree / rows, "max_rel": max_rel}


def run_engine(command, model, ids, n_greedy, out_path):
    cmd = shlex.split(command) + ["-m", model, "--tokens", ",".join(map(str, ids)), "--out",
                                  out_path, "--greedy", str(n_greedy)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, None, "timeout"
    if p.returncode != 0:
        return None, None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    lines = [ln for ln in p.stdout.strip().splitlines() if ln.strip()]
    greedy = [int(x) for x in lines[-1].split()] if lines else []
    return load_f32(out_path), greedy, None


def stored_logits(pattern, cdir, case, file, vocab, n_greedy):
    """An engine given as stored logits: PATTERN names the prompt logits file
    ({dir}, {case}, {file} filled in); greedy ids are the argmax of each row of
    the same name with "prompt" replaced by "greedy", where that exists."""
    path = pattern.format(dir=cdir, case=case, file=file)
    if not os.path.exists(path):
        return None, None, "no stored logits"
    logits = load_f32(path)
    greedy = None
    gpath = path.replace("prompt", "greedy")
    if gpath != path and os.path.exists(gpath):
        g = load_f32(gpath)
        greedy = [max(range(vocab), key=lambda v, r=r: g[r * vocab + v])
                  for r in range(min(n_greedy, len(g) // vocab))]
    return logits, greedy, None


def greedy_cell(ours, expected):
    if ours is None:
        return "-"
    for i, (a, b) in enumerate(zip(ours, expected)):
        if a != b:
            return "@%d" % i
    return "=" if len(ours) == len(expected) else "short"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                 if ln.startswith("model name")), "unknown CPU")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16"]
    have = [f for f in wanted if f in flags]
    cores = os.cpu_count()
    return f"{name}, {cores} logical cores, {' '.join(have) or 'no AVX2'}"


def fmt(x, kind):
    if x is None:
        return "-"
    if kind == "kl":
        return "%.1e" % x if x < 0.01 else "%.3f" % x
    if kind == "top1":
        return "%.3f" % x
    return "%.1e" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", action="append", required=True, metavar="NAME=COMMAND")
    ap.add_argument("--golden", action="append", metavar="DIR",
                    help="golden directories (default: tests/data/golden)")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--files", default=",".join(FILES), help="model files to run")
    ap.add_argument("--markdown", help="write the table between the FIDELITY markers of this file")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--peer-figures", metavar="FILE",
                    help="write the figures of the engines named in --peers to FILE in the form "
                         "tests/data/golden/peer_fidelity.json has (the golden tests' bars)")
    ap.add_argument("--peers", default="", help="comma-separated engine names for --peer-figures")
    ap.add_argument("--describe", action="append", default=[], metavar="NAME=TEXT",
                    help="where an engine's figures come from (commit, settings), for --peer-figures")
    a = ap.parse_args()
    engines = []
    for e in a.engine:
        name, _, command = e.partition("=")
        if not command:
            ap.error(f"--engine needs NAME=COMMAND, got {e!r}")
        engines.append((name, command))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dirs = a.golden or [os.path.join(root, "tests", "data", "golden")]
    wanted_cases = set(filter(None, a.cases.split(",")))
    wanted_files = a.files.split(",")

    results = []
    seen = set()
    tmp = tempfile.mkdtemp(prefix="fidelity_")
    for d in dirs:
        for case in sorted(os.listdir(d)):
            cdir = os.path.join(d, case)
            cj = os.path.join(cdir, "case.json")
            if not os.path.isfile(cj) or case in seen or (wanted_cases and case not in wanted_cases):
                continue
            seen.add(case)
            with open(cj) as f:
                meta = json.load(f)
            ids = meta["prompt"]["ids"]
            expected_greedy = meta["greedy"]["ids"]
            vocab = meta["config_summary"]["vocab_size"]
            ref = load_f32(os.path.join(cdir, "logits", "expected_prompt_logits.f32.bin"))
            for file in wanted_files:
                model = os.path.join(cdir, "hf") if file == "hf" else os.path.join(
                    cdir, "gguf", f"{case}.{file}.gguf")
                if not os.path.exists(model):
                    continue
                dq_path = os.path.join(cdir, "logits", f"expected_{file}_dequant_prompt_logits.f32.bin")
                dq = load_f32(dq_path) if os.path.exists(dq_path) else None
                for name, command in engines:
                    out = os.path.join(tmp, "logits.bin")
                    if command.startswith("@"):
                        logits, greedy, error = stored_logits(command[1:], cdir, case, file, vocab,
                                                              len(expected_greedy))
                    else:
                        logits, greedy, error = run_engine(command, model, ids,
                                                           len(expected_greedy), out)
                    row = {"case": case, "file": file, "engine": name, "error": error}
                    if logits is not None:
                        row.update(compare(logits, ref, vocab))
                        row["greedy"] = greedy_cell(greedy, expected_greedy)
                        if dq is not None:
                            c = compare(logits, dq, vocab)
                            row["kl_dequant"], row["top1_dequant"] = c["kl"], c["top1"]
                    results.append(row)
                    print(f"{case:14s} {file:7s} {name:16s} " + (
                        f"error: {error}" if error else
                        "KL %.2e top1 %.3f max_rel %.2e greedy %s" %
                        (row["kl"], row["top1"], row["max_rel"], row["greedy"])),
                        flush=True)

    names = [n for n, _ in engines]
    lines = [f"Measured on {cpu_name()}. Cells: KL / top-1 / max rel / greedy against the f32",
             "reference (gemma_pytorch); for quantized files, then KL / top-1 against the",
             "file's own dequantized weights (exact arithmetic). `-`: the engine cannot load",
             "that file.", "",
             "| case | file | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    keys = []
    for r in results:
        if (r["case"], r["file"]) not in keys:
            keys.append((r["case"], r["file"]))
    for case, file in keys:
        cells = []
        for name in names:
            r = next((x for x in results if x["case"] == case and x["file"] == file
                      and x["engine"] == name), None)
            if r is None or r.get("error"):
                cells.append("-")
                continue
            cell = "%s / %s / %s / %s" % (fmt(r["kl"], "kl"), fmt(r["top1"], "top1"),
                                          fmt(r["max_rel"], "rel"), r["greedy"])
            if "kl_dequant" in r:
                cell += "; dq %s / %s" % (fmt(r["kl_dequant"], "kl"), fmt(r["top1_dequant"], "top1"))
            cells.append(cell)
        lines.append(f"| {case} | {file} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print()
    print(table)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"engines_run_on": cpu_name(), "engines": engines, "results": results}, f, indent=1)
    if a.peer_figures:
        peers = [p for p in a.peers.split(",") if p]
        about = dict(d.partition("=")[::2] for d in a.describe)
        figures = {}
        for r in results:
            if r["engine"] not in peers or r.get("error"):
                continue
            cell = {"kl": r["kl"], "top1": r["top1"], "max_rel": r["max_rel"]}
            if r["greedy"] != "-":
                cell["greedy_equal"] = r["greedy"] == "="
            figures.setdefault(r["case"], {}).setdefault(r["file"], {})[r["engine"]] = cell
        with open(a.peer_figures, "w") as f:
            json.dump({"about": "Peers' fidelity on the golden files against the f32 reference "
                                "(expected_prompt_logits): mean KL (nats), top-1 agreement, max rel, "
                                "and whether the greedy continuation equals case.json's. Written by "
                                "scripts/fidelity_report.py --peer-figures; read by "
                                "tests/golden/golden_test.cc (PeerBarTest).",
                       "engines_run_on": cpu_name(),
                       "engines": {p: about.get(p, "") for p in peers},
                       "figures": figures}, f, indent=1, sort_keys=True)
            f.write("\n")
    if a.markdown:
        with open(a.markdown) as f:
            text = f.read()
        if START not in text or END not in text:
            sys.exit(f"{a.markdown} has no {START} ... {END} markers")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        with open(a.markdown, "w") as f:
            f.write(head + START + "\n" + table + "\n" + END + tail)


if __name__ == "__main__":
    main()
