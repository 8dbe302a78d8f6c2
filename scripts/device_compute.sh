#!/usr/bin/env bash
# Compute part of the mini grid on a lent machine and bring the new records back as one archive,
# $OUT/records-DEVICE.tgz (a lent machine returns only a few files). Run it there with Fashion-MNIST in ./data
# (here first: scripts/device_prepare.sh MODEL..., the call with carry=["data"], then device_prepare.sh --restore):
#   [PRESET=mini] scripts/device_compute.sh SECONDS DEVICE WORKERS MODEL...
#   e.g. scripts/device_compute.sh 480 cpu 16 resnet18      (16 processes, one CPU thread each)
#        scripts/device_compute.sh 480 cuda 6 mobilenetv2_x0.35   (6 processes sharing the GPU)
# Two parts can run side by side (different models and devices; their workers together at most the cores).
# Measured on an H200 machine (2026-11-27): MobileNetV2 x0.35 runs took 55-97 s each with 6 processes on the
# GPU; ResNet-18's batch-256 MRECG runs 280-460 s each on one CPU core (16 processes).
# The part starts from the records committed in the tree (results/PRESET, or SEED_RESULTS/PRESET), so it
# computes only what is missing, and it starts no run expected to end after SECONDS (--stop-after, from
# earlier records of that machine). Split by whole models, so that a model's paired comparisons share a
# machine when its part finishes; each record names its machine's CPU and device. Back here:
#   scripts/device_unpack.sh records-DEVICE.tgz     (new records into results/, the computation into the manifest)
set -u
seconds=$1 device=$2 workers=$3; shift 3
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/device}
preset=${PRESET:-mini}
part="$OUT/results-${device%%:*}"
mkdir -p "$part/$preset"
find "${SEED_RESULTS:-results}/$preset" -maxdepth 1 -name '[0-9a-f]*.json' -exec cp {} "$part/$preset/" \; 2>/dev/null
sleep 1 && touch "$part/.started"  # what is newer than this, the part computed
cores=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
echo "$device x $workers on a machine with $cores cores: $*"
OMP_NUM_THREADS=$(( cores / workers > 0 ? cores / workers : 1 )) \
timeout -k 5 "$seconds" python3 -m mrecg.cli reproduce --preset "$preset" --compute-only \
    --device "$device" --results-dir "$part" --workers "$workers" --stop-after "$(awk "BEGIN {print $seconds / 60}")" \
    --models "$@" > "$part.log" 2>&1
tail -n 3 "$part.log"
(cd "$part" && find "$preset" -name '*.json' -newer .started > .new)
tar -C "$part" -czf "$OUT/records-${device%%:*}.tgz" -T "$part/.new" && rm -r "$part"
echo "$device: $(tar -tzf "$OUT/records-${device%%:*}.tgz" | grep -c json) new files"
