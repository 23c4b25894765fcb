#!/usr/bin/env bash
# The GPU checks of the trainer, as one script: throughput table (issue 4), precision effect, torch.compile.
# Usage (on a machine with a CUDA GPU, from the project root): bash benchmarks/gpu_checks.sh [OUTDIR]
set -uo pipefail
out=${1:-gpu-checks}; mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/env.txt"
python benchmarks/train_throughput.py --device cuda --images 10000 --workers 8 \
  --cases resnet20-32x32x3,resnet18-28x28x1 --ks 1,4,20 2>&1 | tee "$out/throughput.txt"
python benchmarks/train_throughput.py --device cuda --images 5000 --workers 8 \
  --cases resnet110-32x32x3 --ks 20 2>&1 | tee "$out/throughput_resnet110.txt"
python benchmarks/precision_check.py --device cuda --runs 8 --epochs 30 2>&1 | tee "$out/precision.txt"
timeout 180 python benchmarks/train_throughput.py --device cuda --images 10000 --workers 8 \
  --cases resnet20-32x32x3 --ks 20 --compile 2>&1 | tee "$out/compile.txt"
