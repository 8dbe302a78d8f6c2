#!/usr/bin/env bash
# Compute part of the mini grid on a lent machine and bring the records back as one archive,
# $OUT/records-DEVICE.tgz (a lent machine returns only a few files). Run it there with Fashion-MNIST in ./data
# (here first: scripts/device_prepare.sh MODEL..., the call with carry=["data"], then device_prepare.sh --restore):
#   [PRESET=mini] scripts/device_compute.sh SECONDS DEVICE WORKERS MODEL...
#   e.g. scripts/device_compute.sh 480 cpu 16 resnet18      (16 processes, one CPU thread each)
#        scripts/device_compute.sh 480 cuda 6 mobilenetv2_x0.35   (6 processes sharing the GPU)
# Two parts can run side by side (different models and devices; their workers together at most the cores).
# Measured on an H200 machine (2026-11-27): MobileNetV2 x0.35 runs took 55-97 s each with 6 processes on the
# GPU; ResNet-18's batch-256 MRECG runs 280-460 s each on one CPU core (16 processes).
# Split by whole models, so that a model's paired comparisons share a machine when its part finishes;
# each record names its machine's CPU and device. Runs in flight at SECONDS are lost, finished ones kept
# (unpack them here: tar -C results -xzf records-DEVICE.tgz).
set -u
seconds=$1 device=$2 workers=$3; shift 3
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/device}
part="$OUT/results-${device%%:*}"
mkdir -p "$part"
cores=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
echo "$device x $workers on a machine with $cores cores: $*"
OMP_NUM_THREADS=$(( cores / workers > 0 ? cores / workers : 1 )) \
timeout -k 5 "$seconds" python3 -m mrecg.cli reproduce --preset "${PRESET:-mini}" --compute-only \
    --device "$device" --results-dir "$part" --workers "$workers" --models "$@" > "$part.log" 2>&1
tail -n 3 "$part.log"
mkdir -p "$part/${PRESET:-mini}"
tar -C "$part" -czf "$OUT/records-${device%%:*}.tgz" "${PRESET:-mini}" && rm -r "$part"
echo "$device: $(tar -tzf "$OUT/records-${device%%:*}.tgz" | grep -c json) records"
