#!/usr/bin/env bash
# Compiles the library and the CLI for 64-bit ARM (NEON and the SVE targets;
# compile only, nothing runs) with Debian's cross compiler, so code that only
# builds for x86, or uses what SVE's sizeless vector types forbid (arrays of
# vectors, vectors in structs), is caught here. The dependencies are header-only
# where this needs them (Highway's ops, nlohmann-json, CLI11, cpp-httplib):
# the host's headers serve, linked into a private include folder so that
# the cross compiler keeps its own system headers.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=aarch64-linux-gnu-g++
command -v "$cxx" >/dev/null || { echo "error: $cxx not found (scripts/install_deps.sh)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/include" "$work/obj"
for dep in hwy nlohmann CLI httplib.h; do ln -s "/usr/include/$dep" "$work/include/$dep"; done

# The SIMD targets as CMakeLists.txt sets them: on aarch64, NEON, SVE, SVE2,
# SVE_256 and SVE2_128.
defines=(-DHWY_WANT_AVX3_DL
         "-DHWY_DISABLED_TARGETS=(HWY_SSSE3|HWY_SSE4|HWY_AVX3)")
sources=(src/*/*.cc cli/*.cc)
printf '%s\n' "${sources[@]}" |
  xargs -P "$(nproc)" -I{} sh -c '
    out="$1/obj/$(echo "$2" | tr / _).o"
    "$3" -std=c++20 -O1 -Wall -Wextra -Werror "$4" "$5" -Iinclude -Isrc -Icli -I"$1/include" \
      -c "$2" -o "$out" || { echo "error: $2 does not compile for aarch64"; exit 255; }
  ' _ "$work" {} "$cxx" "${defines[@]}"
echo "aarch64: ${#sources[@]} files compile (NEON and SVE targets)"
