#!/usr/bin/env bash
# One call on a lent GPU machine (1 GPU, 16 CPU cores), everything side by side, results under $OUT:
#   1. the paper code path on a stand-in ImageNet (benchmarks/gpu_paper_path.py): per unit step time, peak GPU
#      memory and host memory, BRECQ 1024/32 and MRECG's 4096/256, extrapolated to 20k iterations;
#   2. run-to-run rows of this machine's CPU for the noise floor (benchmarks/run_to_run.py, 1 thread each);
#   3. the activation-step lr probe of the mini preset (benchmarks/convergence_probe.py, 3 seeds, one core each).
# Fashion-MNIST must travel in ./data (carry it); the mini checkpoints travel with the repository.
set -u
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
OUT=${OUT:-runs/device}
mkdir -p "$OUT"
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.get_device_name(0))"
nproc

python3 benchmarks/gpu_paper_path.py --device cuda --out "$OUT/gpu_paper_path.jsonl" > "$OUT/gpu_paper_path.log" 2>&1 &
python3 benchmarks/run_to_run.py --threads 1 --jobs 3 --out "$OUT/noise_rows.json" > "$OUT/run_to_run.log" 2>&1 &
python3 benchmarks/convergence_probe.py --model mobilenetv2_x0.5 resnet18 --bits 3/3 --iters 1000 \
    --lr 1e-2:4e-5 1e-2:4e-4 1e-2:8e-4 --seeds 0 1 2 --workers 11 --out "$OUT/step_lr_probe.jsonl" \
    > "$OUT/probe.log" 2>&1 &
wait
tail -n 30 "$OUT"/*.log
