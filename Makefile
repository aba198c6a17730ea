# Two commands do all the set-up: `make test` and `make reproduce`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jdvae-installed
PROFILE ?= quick
# training seeds of `make reproduce`; paper_figures/ holds the quick study with SEEDS=3
SEEDS ?= 1
PYTEST_ARGS ?=

.PHONY: test reproduce figures venv clean-venv browser gpu-check gpu-wheels

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The browser test drives JupyterLab in Debian's Chromium; install it when missing (as root,
# as in CI). Without it that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will skip"; }

test: $(STAMP) browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(VENV)/bin/jdvae reproduce --profile $(PROFILE) --seeds $(SEEDS)

# No training: check the shipped seed-0 study in pretrained/$(PROFILE)/ against its SHA-256 manifest, write
# Table 1, claims.md, Fig. 2, Fig. 3 and the explorer panel from it into runs/$(PROFILE)-pretrained/figures/
# (a few minutes on a CPU), and say whether its numbers equal the seed-0 rows of paper_figures/metrics.json.
figures: $(STAMP)
	$(VENV)/bin/jdvae reproduce --pretrained --profile $(PROFILE)

clean-venv:
	rm -rf $(VENV)

# The GPU check (issue 20, benchmarks/gpu_check.py): about eight minutes on one GPU; writes docs/gpu.md,
# docs/gpu.json and docs/gpu_recon.png. It needs no venv (the venv's python when there is one, else python3):
# on a GPU machine with torch but no internet, run `make gpu-wheels` beforehand where pip works and bring
# .whl/ along; its wheels are installed into /tmp/jdvae-site first. GPU_CHECK_ARGS="--device cpu --tiny"
# runs the same code on a CPU at toy sizes.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_CHECK_ARGS ?=
GPU_SITE := /tmp/jdvae-site
gpu-check:
	@if ls .whl/*.whl >/dev/null 2>&1; then $(GPU_PY) -m pip install -q --no-index --no-deps --no-compile \
	  --no-cache-dir --upgrade --target $(GPU_SITE) .whl/*.whl; fi
	PYTHONPATH=$(GPU_SITE)$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

# What the GPU machine lacks of our dependencies (lpips, pure Python), as a wheel in .whl/ (ignored by git).
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl lpips==0.1.4
