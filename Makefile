# Every target creates or reuses the virtual environment .venv in the repo root.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-core
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-slow bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neurocircuits discover --out reports/demo

test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow" -q

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/discovery.py

clean:
	rm -rf $(VENV) reports build *.egg-info
