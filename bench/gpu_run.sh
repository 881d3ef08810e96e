#!/bin/sh
# The whole GPU check of issue 22 in one command, run ON the GPU machine from the repository
# root, after `sh bench/gpu_prepare.sh` here (bench/README.md, "On a GPU"). Results go to $OUT
# (or ./gpu-out): gpu.txt (the device), gpu.json and bench.log (bench/gpu.py), tests.log
# (tests/test_gpu.py). About 6-8 minutes on an H200; give the call 600 s.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/.gpu-site:$PWD" PYTHONUNBUFFERED=1 SAMDESK_TEST_MEDIA="$PWD/.gpu-site/media"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$OUT/gpu.txt"
timeout 470 python3 bench/gpu.py --image .gpu-site/media/truck.jpg --out "$OUT/gpu.json" 2>&1 \
    | grep -v -e "frame loading" -e "propagate in video" -e "fill_holes" -e "post-processing" | tee "$OUT/bench.log"
timeout 100 python3 -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider -x 2>&1 | tail -40 | tee "$OUT/tests.log"
