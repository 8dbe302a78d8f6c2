#!/usr/bin/env bash
# Bring a lent machine's archive (scripts/device_compute.sh) into results/: its new records (never
# overwriting one stored here), and its computation appended to the preset's manifest.
#   scripts/device_unpack.sh records-DEVICE.tgz [RESULTS_DIR]
set -euo pipefail
archive=$1 results=${2:-$(dirname "$0")/../results}
tmp=$(mktemp -d) && trap 'rm -r "$tmp"' EXIT
tar -C "$tmp" -xzf "$archive"
for dir in "$tmp"/*/; do
  preset=$(basename "$dir")
  mkdir -p "$results/$preset"
  find "$dir" -maxdepth 1 -name '[0-9a-f]*.json' -exec cp -n {} "$results/$preset/" \;
  echo "$preset: $(find "$dir" -maxdepth 1 -name '[0-9a-f]*.json' | wc -l) records"
  [ -f "$dir/manifest.json" ] || continue
  python3 - "$dir/manifest.json" "$results/$preset/manifest.json" <<'PY'
import json, sys
from pathlib import Path

from mrecg.storage import save_json

part, here = (Path(p) for p in sys.argv[1:])
manifest = json.loads(here.read_text()) if here.is_file() else json.loads(part.read_text()) | {"computations": []}
manifest["computations"] += json.loads(part.read_text())["computations"]
save_json(manifest, here)
print(f"{here}: {len(manifest['computations'])} computations")
PY
done
