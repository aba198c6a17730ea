# Two commands do all the set-up: `make test` and `make reproduce`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jdvae-installed
PROFILE ?= quick
# training seeds of `make reproduce`; paper_figures/ holds the quick study with SEEDS=3
SEEDS ?= 1
# where `make reproduce` writes tables and figures: paper_figures/ (the committed study) for PROFILE=quick SEEDS=3,
# else jdvae's default, runs/$(PROFILE)/figures; FIGURES=DIR writes them to DIR
FIGURES ?= $(if $(and $(filter quick,$(PROFILE)),$(filter 3,$(SEEDS))),paper_figures)
PYTEST_ARGS ?=

.PHONY: test reproduce figures venv clean-venv browser slurm gpu-check gpu-wheels

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

# The SLURM tests start a one-node cluster on localhost (tests/slurm/cluster.sh) from Debian's slurm-wlm and munge;
# install them when missing (as root, as in CI). Without them those tests skip and say why.
slurm:
	@tests/slurm/cluster.sh install || echo "slurm-wlm and munge not installed: the SLURM tests will skip"

test: $(STAMP) browser slurm
	$(PY) -m pytest -q $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(VENV)/bin/jdvae reproduce --profile $(PROFILE) --seeds $(SEEDS)$(if $(FIGURES), --figures $(FIGURES))

# No training: check the shipped seed-0 study in pretrained/$(PROFILE)/ against its SHA-256 manifest, write
# Table 1, claims.md, Fig. 2, Fig. 3 and the explorer panel from it into runs/$(PROFILE)-pretrained/figures/
# (a few minutes on a CPU), and say whether its numbers equal the seed-0 rows of paper_figures/metrics.json.
figures: $(STAMP)
	$(VENV)/bin/jdvae reproduce --pretrained --profile $(PROFILE)

clean-venv:
	rm -rf $(VENV)

# The GPU check (benchmarks/gpu_check/): within 540 s on one GPU, installs included. It writes at most 8 files into
# GPU_OUT: gpu.md, gpu.json, the swap grids and logs.tar.gz; it needs no venv (the venv's python when there is one,
# else python3) and no make on the GPU machine, where a device call runs
# `python3 -m benchmarks.gpu_check --out $OUT --wheels .whl` itself (docs/gpu.md says how).
# GPU_CHECK_ARGS="--device cpu --tiny" runs the same check on a CPU at toy sizes.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_CHECK_ARGS ?=
GPU_OUT ?= runs/gpu-check
gpu-check:
	$(GPU_PY) -m benchmarks.gpu_check --out $(GPU_OUT) $(if $(wildcard .whl/*.whl),--wheels .whl) $(GPU_CHECK_ARGS)

# What the GPU machine lacks for the check, as wheels in an emptied .whl/ (ignored by git): lpips, and papermill with
# the Jupyter pieces it runs a notebook with, for CPython 3.12 on x86-64 Linux (the list: benchmarks/gpu_wheels.txt;
# `python -m benchmarks.gpu_check.payload` sums what a device call sends).
GPU_WHEEL_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any,--platform $(p))
gpu-wheels:
	rm -rf .whl
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  $(GPU_WHEEL_PLATFORMS) -d .whl -r benchmarks/gpu_wheels.txt
