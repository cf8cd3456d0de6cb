# vz_jupyter — two entry points (see README):
#   make demo   set up .venv, start JupyterLab on the tutorials
#   make test   set up .venv (+ Debian chromium for the browser test and the Binder
#               environment for the tutorials), run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8888
# JupyterLab refuses to run as root (CI, containers) without --allow-root
ROOTFLAG = $(if $(filter 0,$(shell id -u)),--allow-root)
# the venv's commands (vz, jupyter) first on the PATH of everything started here, kernels included
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test setup browser binder-env lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

browser:
	bash tools/ensure_chromium.sh

# the environment Binder builds from binder/ (tools/binder_env.py; reused while binder/ is unchanged)
binder-env:
	$(PYTHON) tools/binder_env.py

demo: setup
	@echo "Starting JupyterLab on the tutorials (open the URL printed below; Ctrl-C stops it)."
	$(VENV)/bin/jupyter lab notebooks/ --no-browser --ip=127.0.0.1 --port=$(PORT) $(ROOTFLAG) --ServerApp.root_dir=$(CURDIR)

# the house rules (issue 9): ruff's lint rules, the floors contract (import-linter) and the
# house report (module and function sizes, function-local imports, import cycles)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) tools/house_report.py --check > /dev/null

test: setup lint browser binder-env
	VZ_REQUIRE_BROWSER=1 $(PY) -m pytest -q -p no:cacheprovider --nbmake tests/ notebooks/

clean:
	rm -rf $(VENV) .venv-binder .cache/binder-wheels .pytest_cache
