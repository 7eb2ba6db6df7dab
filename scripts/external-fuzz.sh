#!/usr/bin/env bash
# Drives a virtsim fuzz target with an external byte-level engine (src/Fuzz/Glue: our AFL++ fork server,
# SharpFuzz's Fuzzer.LibFuzzer.Run behind tools/libfuzzer-driver).
# Usage: scripts/external-fuzz.sh afl|libfuzzer <target> <seconds> <out-dir> [extra engine flags...]
#   afl:       afl-fuzz (apt-get install afl++) with seeds corpus/<target>, output in <out-dir>
#   libfuzzer: tools/libfuzzer-driver (built on demand), new inputs in <out-dir>/corpus, crashes and timeouts in
#              <out-dir>/
# docs/fuzzing.md, "Driving virtsim with AFL++ / libFuzzer", explains each setting.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${1:?afl or libfuzzer}"; target="${2:?target (virtsim fuzz --list)}"; seconds="${3:?seconds}"; out="${4:?out dir}"
shift 4
"$root/virtsim" fuzz --list >/dev/null   # builds .build/virtsim if stale
dll="$root/.build/virtsim/virtsim.dll"
seeds="${SEEDS:-$root/corpus/$target}"   # SEEDS=<dir> overrides (e.g. without inputs that already fire)
[ -d "$seeds" ] || { echo "external-fuzz: no seed corpus $seeds" >&2; exit 2; }
case "$engine" in
  afl)
    command -v afl-fuzz >/dev/null || { echo "external-fuzz: afl-fuzz not found (apt-get install afl++)" >&2; exit 2; }
    # The target is `dotnet`, not an AFL-instrumented binary: skip afl's binary check. The runtime starts and
    # instruments in seconds: give the handshake time. A timeout kills the one long-lived process, so keep -t
    # generous; virtsim's step budget reports hangs itself (as sig:14 crashes).
    AFL_SKIP_BIN_CHECK=1 AFL_FORKSRV_INIT_TMOUT=60000 AFL_NO_UI="${AFL_NO_UI:-1}" AFL_SKIP_CPUFREQ=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 \
      exec afl-fuzz -i "$seeds" -o "$out" -t 5000 -m none -V "$seconds" "$@" -- \
        dotnet "$dll" fuzz --target "$target" --afl
    ;;
  libfuzzer)
    driver="$("$root/tools/libfuzzer-driver/build.sh")"
    mkdir -p "$out/corpus"
    exec "$driver" --virtsim="dotnet '$dll' fuzz --target '$target' --libfuzzer-driver" \
      -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus" "$seeds"
    ;;
  *) echo "external-fuzz: engine is afl or libfuzzer" >&2; exit 2 ;;
esac
