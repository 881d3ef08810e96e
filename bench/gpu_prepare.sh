#!/bin/sh
# Prepare a GPU machine's run of bench/gpu.py and tests/test_gpu.py (bench/README.md, "On a GPU").
# Run HERE, on the development machine, from the repository root, after `make .venv/.test-installed`.
#
# The GPU machine has PyTorch, torchvision, numpy, OpenCV, SciPy, Pillow, timm, einops, regex,
# psutil, portalocker, PyYAML and pytest, and no package index. What else the official oracles
# need is pure Python: it travels in .gpu-site/ (about 9 MB, ignored by git), with the test photo.
set -eu
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf .gpu-site
mkdir -p .gpu-site/media
for package in segment_anything mobile_sam sam2 sam3 hydra omegaconf antlr4 iopath ftfy wcwidth; do
    cp -r "$SITE/$package" .gpu-site/
done
find .gpu-site -name __pycache__ -prune -exec rm -rf {} +
cp ../shared/media/truck.jpg .gpu-site/media/
EXCLUDE=$(git rev-parse --git-path info/exclude)
grep -qx '/.gpu-site/' "$EXCLUDE" 2>/dev/null || echo '/.gpu-site/' >> "$EXCLUDE"
du -sh .gpu-site
