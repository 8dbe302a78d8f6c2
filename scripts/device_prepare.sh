#!/usr/bin/env bash
# Before a call on a lent machine: the working tree travels with at most 64 MiB, and the mini checkpoints
# plus Fashion-MNIST are more. This copies Fashion-MNIST into ./data (git-ignored; pass carry=["data"]) and
# replaces the checkpoints of models the call does not need by links to copies outside the tree (links
# do not travel; this machine still reads through them). Afterwards, restore the files.
#   scripts/device_prepare.sh MODEL...     # keep these models' checkpoints in the tree
#   scripts/device_prepare.sh --restore
set -euo pipefail
cd "$(dirname "$0")/.."
store=${CHECKPOINT_STORE:-/tmp/mrecg-checkpoints}
dir=mrecg/checkpoints/mini
if [ "${1:-}" = "--restore" ]; then
  for link in "$dir"/*.pt; do
    [ -L "$link" ] && cp --remove-destination "$(readlink "$link")" "$link"
  done
  git status --short -- "$dir"
  exit 0
fi
mkdir -p data "$store"
cp -n /usr/share/datasets/fashion-mnist/*.gz data/
for file in "$dir"/*.pt; do
  name=$(basename "$file" .pt)
  [[ " $* " == *" $name "* || -L "$file" ]] && continue
  cp "$file" "$store/$name.pt" && ln -sf "$store/$name.pt" "$file"
done
du -cb $(git ls-files) data/*.gz 2>/dev/null | tail -1 | awk '{printf "travels: %.1f MiB of 64\n", $1 / 1048576}'
