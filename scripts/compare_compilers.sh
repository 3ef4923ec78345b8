#!/usr/bin/env bash
# Checks that two builds of the `gemma` program (e.g. GCC Release and clang)
# compute the same bits: prompt logits and greedy decode steps of every golden
# model file, on the default path (packed weights, 8-bit or bf16 activations)
# and with --exact, each run once per build and compared byte for byte.
#
#   scripts/compare_compilers.sh BUILD_A BUILD_B
#
# The builds may differ in optimisation level and sanitizers: with
# floating-point contraction off (CMakeLists.txt) and no fast-math, neither
# changes a result.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,12p' "$0"; exit 2; }
a="$1/gemma" b="$2/gemma"
for g in "$a" "$b"; do [ -x "$g" ] || { echo "compare_compilers.sh: $g not built" >&2; exit 1; }; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 41 prompt tokens inside the golden models' 512-piece vocabulary, BOS first.
tokens=2
for i in $(seq 1 40); do tokens+=",$(( (i * 37) % 509 + 3 ))"; done

runs=0 differ=0
compare() {  # compare NAME MODEL [FLAGS...]
  local name=$1 model=$2
  shift 2
  for side in a b; do
    local program=$a
    [ "$side" = b ] && program=$b
    ASAN_OPTIONS=detect_leaks=0 "$program" logits -m "$model" --tokens "$tokens" --greedy 8 -t 1 \
      --out "$work/$name.$side.f32" "$@" >"$work/$name.$side.out"
    # The greedy ids are the last line (the line before names the output file).
    tail -n 1 "$work/$name.$side.out" >"$work/$name.$side.ids"
  done
  runs=$((runs + 1))
  if ! cmp -s "$work/$name.a.f32" "$work/$name.b.f32" || ! cmp -s "$work/$name.a.ids" "$work/$name.b.ids"; then
    echo "differ: $name ($model $*)"
    differ=$((differ + 1))
  fi
}

for dir in tests/data/golden/*/; do
  case_name=$(basename "$dir")
  compare "$case_name-hf-exact" "$dir/hf" --exact
  for gguf in "$dir"/gguf/*.gguf; do
    type=$(basename "$gguf" .gguf)
    type=${type#"$case_name".}
    compare "$case_name-$type" "$gguf"
    compare "$case_name-$type-exact" "$gguf" --exact
  done
done
compare tiny-q8-kv models/tiny-gemma3.gguf --kv-type q8_0
echo "compare_compilers: $runs runs, $differ differ ($1 vs $2)"
[ "$differ" -eq 0 ]
