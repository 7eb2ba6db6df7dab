#!/usr/bin/env bash
# OSS-Fuzz / ClusterFuzzLite build script: one fuzzer per virtsim target in $OUT, each a small wrapper that runs
# the libFuzzer driver (tools/libfuzzer-driver, linked with $LIB_FUZZING_ENGINE) against
# `dotnet virtsim.dll fuzz --target <t> --libfuzzer-driver`, with the target's seed corpus zipped beside it.
# Runs locally too: SRC=<repo parent> OUT=<dir> CC=clang LIB_FUZZING_ENGINE=-fsanitize=fuzzer tools/oss-fuzz/build.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${OUT:?OUT is the output directory}"
: "${CC:=clang}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
mkdir -p "$OUT/virtsim"
dotnet publish "$repo/src/Cli/Cli.csproj" -c Release -o "$OUT/virtsim" -nologo -v quiet
# shellcheck disable=SC2086 # LIB_FUZZING_ENGINE is a flag list
$CC ${CFLAGS:-} -O2 -c "$repo/tools/libfuzzer-driver/driver.c" -o "$OUT/virtsim-driver.o"
${CXX:-clang++} ${CXXFLAGS:-} "$OUT/virtsim-driver.o" $LIB_FUZZING_ENGINE -o "$OUT/virtsim-libfuzzer"
rm -f "$OUT/virtsim-driver.o"
for target in $(dotnet "$OUT/virtsim/virtsim.dll" fuzz --list | cut -d' ' -f1); do
  name="virtsim_${target//-/_}"
  # The fuzzer ClusterFuzz runs: the driver, told how to start the target (paths relative to the fuzzer).
  cat > "$OUT/$name" <<WRAP
#!/bin/sh
here="\$(cd "\$(dirname "\$0")" && pwd)"
export DOTNET_TieredCompilation=0
exec "\$here/virtsim-libfuzzer" --virtsim="dotnet '\$here/virtsim/virtsim.dll' fuzz --target '$target' --libfuzzer-driver" "\$@"
WRAP
  chmod +x "$OUT/$name"
  if [ -d "$repo/corpus/$target" ]; then (cd "$repo/corpus/$target" && zip -q -r "$OUT/${name}_seed_corpus.zip" .); fi
done
echo "build.sh: fuzzers in $OUT: $(ls "$OUT" | grep -c '^virtsim_[a-z0-9_]*$')"
