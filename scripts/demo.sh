#!/usr/bin/env bash
# Sets up everything and runs one generation: installs the Debian packages,
# builds, and asks the bundled tiny model (random weights) a question.
# Usage: scripts/demo.sh [extra `gemma run` flags, e.g. -m model.gguf -p "Hi"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGEMMA_BUILD_TESTS=OFF >/dev/null
cmake --build build --target gemma
if [ $# -eq 0 ]; then
  set -- -p "Why is the sky blue?" -n 48
fi
exec build/gemma run "$@"
