# Two commands do all the set-up: `make test` and `make reproduce`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jdvae-installed
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: test reproduce venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(VENV)/bin/jdvae reproduce --profile $(PROFILE)

clean-venv:
	rm -rf $(VENV)
