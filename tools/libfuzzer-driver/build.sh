#!/usr/bin/env bash
# Builds virtsim's libFuzzer driver into .build/libfuzzer-driver/virtsim-libfuzzer. Needs clang-14 and
# libclang-rt-14-dev (libFuzzer's runtime); installs them with apt-get when missing and we may.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.build/libfuzzer-driver"
cc="${CC:-clang-14}"
runtime_present() { "$cc" -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null | grep -q /; }
if ! command -v "$cc" >/dev/null 2>&1 || ! runtime_present; then
  echo "build.sh: installing clang-14 and libclang-rt-14-dev (libFuzzer's runtime)" >&2
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq clang-14 libclang-rt-14-dev
fi
mkdir -p "$out"
"$cc" -O2 -g -fsanitize=fuzzer -o "$out/virtsim-libfuzzer" "$root/tools/libfuzzer-driver/driver.c"
echo "$out/virtsim-libfuzzer"
