#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (fuzz/CMakeLists.txt), one
# process at a time, and prints one summary line per target:
#   fuzz: <target> <executions> executions in <seconds> s, <n> crashes
#
#   scripts/fuzz.sh [--build DIR] [--seconds N | --runs N] [--corpus DIR] [--timeout N]
#                   [TARGET...]
#
# --seconds N  stop each target after N seconds (the CI smoke run: 15)
# --runs N     stop each target after N executions (a campaign: 10000000)
# --corpus DIR keep each target's corpus in DIR/<target> across runs (a
#              campaign); default: a fresh temporary folder from the seeds
# --timeout N  an input running longer than N seconds is reported as a hang
#              (default 30; libFuzzer counts wall time, so raise it where the
#              machine may pause the process)
# Seeds: files from the repository (golden checkpoints and configs, the
# tokenizer test data), fuzz/corpus/<target>/, small models of each
# architecture (the build's make_gguf_seeds) and session files that the
# build's own `gemma chat --session` writes for the tiny model. Crashes are
# written to <corpus>/<target>-crashes/ (without --corpus:
# <build>/fuzz-crashes/<target>/, kept after the run); the script fails if
# this run wrote any.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz
seconds=""
runs=""
corpus_root=""
timeout=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --corpus) corpus_root=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] ||
  targets=(gguf_fuzz safetensors_fuzz tokenizer_fuzz hf_config_fuzz session_fuzz cli_args_fuzz
           request_fuzz toolcall_fuzz schema_fuzz)
[ -n "$seconds" ] || [ -n "$runs" ] || seconds=25
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/$t" ] || { echo "fuzz.sh: $build/fuzz/$t not built (GEMMA_BUILD_FUZZERS=ON)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crash_root=""
if [ -z "$corpus_root" ]; then
  corpus_root="$work/corpus"
  crash_root="$build/fuzz-crashes"
fi
mkdir -p "$corpus_root"

# Seeds for one target, into $1.
seed() {
  local target=$1 dir=$2
  case "$target" in
    gguf_fuzz)
      # Small models of every architecture (a few KB; the repository's are
      # hundreds of KB, and copying those around would be most of the time).
      ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/make_gguf_seeds" "$dir" ;;
    safetensors_fuzz)
      cp tests/data/golden/gemma1_mqa/hf/model.safetensors "$dir/" ;;
    tokenizer_fuzz)
      # A SentencePiece model, a Gemma 4 tokenizer.json with merges, and a
      # small GGUF whose metadata holds a vocabulary.
      cp tests/data/tokenizer/tiny-tokenizer.model tests/data/tokenizer/gemma4-tiny-tokenizer.json "$dir/"
      mkdir -p "$work/gguf-models"
      ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/make_gguf_seeds" "$work/gguf-models" >/dev/null
      cp "$work/gguf-models/gemma3-q4_0.gguf" "$dir/" ;;
    hf_config_fuzz)
      for c in tests/data/golden/*/hf/config.json; do
        cp "$c" "$dir/$(basename "$(dirname "$(dirname "$c")")").json"
      done ;;
    session_fuzz)
      # Short conversations over the tiny model, saved by the program itself.
      local turns
      for turns in "hello" $'hi\nwhat next' $'one\ntwo\nthree'; do
        printf '%s\n/exit\n' "$turns" |
          ASAN_OPTIONS=detect_leaks=0 "$build/gemma" chat -m models/tiny-gemma3.gguf -n 6 \
            --temp 0 -t 1 --session "$dir/chat-$(echo "$turns" | wc -l).session" >/dev/null
      done ;;
  esac
  if [ -d "fuzz/corpus/$target" ]; then cp fuzz/corpus/"$target"/* "$dir/"; fi
}

# libFuzzer dictionaries: fuzz/<target>.dict, and for the argument parser
# every flag the program's help lists.
dictionary() {
  local target=$1
  if [ "$target" = cli_args_fuzz ]; then
    local dict="$work/cli_args.dict" sub
    {
      for sub in "" run chat info tokenize logits perplexity quantize bench serve; do
        # shellcheck disable=SC2086
        ASAN_OPTIONS=detect_leaks=0 "$build/gemma" $sub --help 2>/dev/null || true
      done
    } | grep -oE -- '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' | tr -d ' ,' | sort -u |
      sed 's/.*/"&"/' >"$dict"
    for sub in run chat info tokenize logits perplexity quantize bench serve; do echo "\"$sub\""; done >>"$dict"
    echo "$dict"
  elif [ -f "fuzz/$target.dict" ]; then
    echo "fuzz/$target.dict"
  fi
}

failed=0
for t in "${targets[@]}"; do
  corpus="$corpus_root/$t"
  crashes="$corpus_root/$t-crashes"
  [ -n "$crash_root" ] && crashes="$crash_root/$t"
  mkdir -p "$corpus" "$crashes"
  seeds="$work/seeds-$t"
  mkdir -p "$seeds"
  seed "$t" "$seeds"
  # -detect_leaks=0: libFuzzer would otherwise re-run inputs to look for leaks
  # that ASan is told not to report (below).
  args=(-print_final_stats=1 -artifact_prefix="$crashes/" -timeout="$timeout" -rss_limit_mb=4096
        -detect_leaks=0)
  [ -n "$seconds" ] && args+=(-max_total_time="$seconds")
  [ -n "$runs" ] && args+=(-runs="$runs")
  # Inputs no longer than the largest seed of gguf_fuzz (32 KB), and short
  # schemas for schema_fuzz (its compile time grows with the schema).
  case "$t" in
    gguf_fuzz) args+=(-max_len=32768) ;;
    schema_fuzz) args+=(-max_len=4096) ;;
  esac
  dict=$(dictionary "$t")
  [ -n "$dict" ] && args+=(-dict="$dict")
  log="$work/$t.log"
  start=$(date +%s)
  touch "$work/start-$t"
  # Leaks are reported by the test suite's sanitizer build; here they would
  # stop the run at the first input that leaves a static model behind.
  # A campaign records no stack per allocation (a fifth of schema_fuzz's time);
  # re-running a crash's input gives the full report.
  asan=detect_leaks=0
  [ -n "$runs" ] && asan=$asan:malloc_context_size=0
  if ! ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1 \
       nice -n 10 "$build/fuzz/$t" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1; then
    failed=1
  fi
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  # libFuzzer's findings (slow-unit-* files are only notes).
  n_crashes=$(find "$crashes" -type f -newer "$work/start-$t" \( -name 'crash-*' -o \
    -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  echo "fuzz: $t ${execs:-0} executions in $elapsed s, $n_crashes crashes"
  if [ "$n_crashes" -gt 0 ] || [ -z "$execs" ]; then
    failed=1
    tail -40 "$log"
  fi
done
exit "$failed"
