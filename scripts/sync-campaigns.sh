#!/usr/bin/env bash
# Two-way sync of campaign directories on different machines, standing in for shared storage (AFL++'s model of
# fuzzing across machines, docs/campaigns.md): each machine runs `virtsim fuzz -o <its dir>` with its own worker
# names (--worker-prefix); this copies every worker directory a machine ran into the other campaign directories,
# so their workers import its entries at their next sync. queue/ entries, fuzzer_stats, virtsim_target and
# is_main_node travel; crashes and findings stay where they were found (`virtsim fuzz triage` gathers them).
# Each file is copied under a dot-name and renamed, so a worker never reads half a file.
# Usage: scripts/sync-campaigns.sh <dir-A> <dir-B> [<dir-C>...]   (run it from cron or a loop; mount remote dirs)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/sync-campaigns.sh <campaign dir> <campaign dir> [...]" >&2; exit 2; }
copy() { # copy <src file> <dst file>: atomically, never replacing an existing queue entry
  local tmp; tmp="$(dirname "$2")/.$(basename "$2").tmp-$$"
  cp "$1" "$tmp" && mv -f "$tmp" "$2"
}
for src in "$@"; do
  for dst in "$@"; do
    [ "$src" = "$dst" ] && continue
    for worker in "$src"/*/; do
      worker="${worker%/}"; name="$(basename "$worker")"
      # Only directories that ran on src's machine (they have worker.log); copies made here have none.
      [ -f "$worker/worker.log" ] && [ -d "$worker/queue" ] || continue
      mkdir -p "$dst/$name/queue"
      for f in "$worker"/queue/id:*; do
        [ -e "$f" ] || continue
        [ -e "$dst/$name/queue/$(basename "$f")" ] || copy "$f" "$dst/$name/queue/$(basename "$f")"
      done
      for f in fuzzer_stats virtsim_target is_main_node; do
        [ -f "$worker/$f" ] && copy "$worker/$f" "$dst/$name/$f"
      done
    done
  done
done
