#!/usr/bin/env bash
# Compute part of a grid on a lent machine's CPU cores (one process per core, one thread each) and
# bring the records back as $OUT/records.tgz; run it there with Fashion-MNIST in ./data.
#   scripts/device_compute.sh SECONDS MODEL... (e.g. 480 resnet18)
# Split by whole models, so that a model's paired comparisons share a machine when the split finishes;
# each record names its machine's CPU and device. Runs in flight at SECONDS are lost; the finished ones are kept
# (unpack them into results/: tar -C results -xzf records.tgz).
set -u
seconds=$1; shift
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
OUT=${OUT:-runs/device}
mkdir -p "$OUT/results"
cores=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
python3 -c "import torch, platform; print('torch', torch.__version__, 'python', platform.python_version())"
echo "cores: $cores"
timeout -k 5 "$seconds" python3 -m mrecg.cli reproduce --preset mini --plan faithful --compute-only \
    --results-dir "$OUT/results" --workers "$cores" --models "$@" 2>&1 | tee "$OUT/compute.log" | grep -v "^\[mrecg\] .*running" | tail -n 40
# a lent machine returns a few files only: the records travel as one archive
tar -C "$OUT/results" -czf "$OUT/records.tgz" mini && rm -r "$OUT/results"
tar -tzf "$OUT/records.tgz" | grep -c json
