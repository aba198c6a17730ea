# Two commands do all the set-up: `make test` and `make reproduce`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jdvae-installed
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: test reproduce venv clean-venv browser

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
	$(VENV)/bin/jdvae reproduce --profile $(PROFILE)

clean-venv:
	rm -rf $(VENV)
