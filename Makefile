# vz_jupyter — two entry points (see README):
#   make demo   set up .venv, make sample data, start JupyterLab on the tutorials
#   make test   set up .venv (+ Debian chromium for the browser test), run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8888
# JupyterLab refuses to run as root (CI, containers) without --allow-root
ROOTFLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: demo test setup setup-test browser sample-data clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

browser:
	bash tools/ensure_chromium.sh

sample-data: setup
	$(PY) -m vz_jupyter.sample_data sample-data

demo: setup sample-data
	@echo "Starting JupyterLab on the tutorials (open the URL printed below; Ctrl-C stops it)."
	$(VENV)/bin/jupyter lab notebooks/ --no-browser --ip=127.0.0.1 --port=$(PORT) $(ROOTFLAG) --ServerApp.root_dir=$(CURDIR)

test: setup browser
	VZ_REQUIRE_BROWSER=1 $(PY) -m pytest -q -p no:cacheprovider --nbmake tests/ notebooks/

clean:
	rm -rf $(VENV) sample-data .pytest_cache
