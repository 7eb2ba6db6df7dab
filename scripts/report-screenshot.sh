#!/usr/bin/env bash
# Renders a campaign report (virtsim fuzz report) in headless Chromium and saves a screenshot, to check the page
# as a browser shows it. Usage: scripts/report-screenshot.sh <campaign dir> <out.png>   (apt-get install chromium)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?campaign dir}"; png="${2:?screenshot.png}"
command -v chromium >/dev/null || { echo "report-screenshot: chromium not found (apt-get install chromium)" >&2; exit 2; }
"$root/virtsim" fuzz report "$dir" --output "$dir/report.html"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$profile" --window-size=1300,1800 --screenshot="$png" "file://$(cd "$dir" && pwd)/report.html" 2>/dev/null
echo "wrote $png"
