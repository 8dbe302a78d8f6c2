#!/usr/bin/env bash
# Train and publish every mini checkpoint that the manifest does not list yet.
# Resumable: rerun after an interruption and each model continues from its last epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in mobilenetv2_x0.5 resnet18 mobilenetv2_x0.35 resnet50 mobilenetv2_x1.0 mobilenetv2_x0.75; do
  if python -c "import sys; from mrecg.models import mini_manifest; sys.exit(0 if '$name' in mini_manifest() else 1)"; then
    echo "$name: already published"; continue
  fi
  mrecg train --model "$name" --preset mini --publish --quiet
done
