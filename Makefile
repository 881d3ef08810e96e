# Two commands on a fresh machine: `make run` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
# The exact CPU build on our machines; a GPU user installs their CUDA torch first (see README).
TORCH_PIN ?= torch==2.13.0
# Official implementations, used only as test oracles (never imported by product code).
ORACLES = segment-anything==1.0 mobilesam-mirror==1.0.0 sam3==0.1.4
# Dataset readers as export oracles (tests/readers.py). Ultralytics without its dependencies: they
# would pull the GUI OpenCV build, a CUDA torchvision and more. Its label check and dataset reader
# need only torch, numpy, OpenCV, Pillow, pyyaml and psutil, all installed above (checked with
# torchvision, matplotlib, polars, requests and scipy made unimportable).
DATASET_READERS = ultralytics==8.4.190
# The example plugins (plugins/README.md), each its own distribution, installed editable so the
# tests exercise them through their entry points as users' plugins are.
PLUGINS = $(wildcard plugins/*/pyproject.toml)

.PHONY: run test test-slow lint bench dist desktop-install clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_PIN)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed $(PLUGINS)
	$(PIP) install -q -e ".[test,cluster]"
	$(PIP) install -q --no-deps $(foreach p,$(PLUGINS),-e $(dir $(p)))
	# Oracle recipe (../shared/REFERENCE-FACTS.md): torchvision pinned so no CUDA stack is pulled,
	# the official packages without their heavy extras, sam2 built without CUDA and isolation.
	# sam3 imports einops, ftfy, regex and psutil at model-build time (pure Python or small wheels).
	$(PIP) install -q torchvision==0.28.0 hydra-core==1.3.2 iopath==0.1.10 tqdm timm einops ftfy regex psutil
	$(PIP) install -q --no-deps $(ORACLES) $(DATASET_READERS)
	SAM2_BUILD_CUDA=0 $(PIP) install -q --no-deps --no-build-isolation sam2==1.1.0
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/samdesk $(ARGS)

test: $(VENV)/.test-installed
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow" --durations=15 $(PYTEST_ARGS)

test-slow: $(VENV)/.test-installed
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m slow --durations=15 $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.test-installed
	$(PY) bench/image_models.py

# Wheel and sdist into dist/ (packaging/README.md). `build` is a packaging tool, not a runtime need.
dist: $(VENV)/.installed
	$(PIP) install -q build
	$(PY) -m build --outdir dist

# Desktop entry, MIME type and icon for this user under ~/.local/share (no root).
desktop-install: $(VENV)/.installed
	SAMDESK_BIN="$(abspath $(VENV))/bin/samdesk" packaging/linux/install.sh

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
