# Every target creates or reuses the virtual environment .venv in the repo root.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-core
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-slow test-peer bench bench-discovery bench-sim bench-snn bench-cells bench-reservoir bench-connectomes venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	# Data-only packages read by the connectome loaders (never imported): their own pins conflict
	# with ours (graspologic wants numpy<2, flyvis torchvision), so they come without dependencies.
	$(PY) -m pip install -q --no-deps flyvis==1.2.0 graspologic==3.4.4
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neurocircuits discover --out reports/demo

test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu and not peer" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow" -q

test-peer: .venv-bench-discovery/.installed
	.venv-bench-discovery/bin/python -m pytest -q tests/peer

# Each benchmark gets its own environment (.venv-bench-NAME) with its peer libraries, because the
# peers do not all install together. torch stays pinned to the CPU wheel in each.
BENCHES := discovery sim snn cells reservoir
bench: $(addprefix bench-,$(BENCHES)) bench-connectomes

.venv-bench-%/.installed:
	$(PYTHON) -m venv .venv-bench-$*
	.venv-bench-$*/bin/python -m pip install -q --upgrade pip
	.venv-bench-$*/bin/python -m pip install -q torch==2.13.0
	.venv-bench-$*/bin/python -m pip install -q -e ".[bench-$*]" torch==2.13.0
	touch $@

$(addprefix bench-,$(BENCHES)): bench-%: .venv-bench-%/.installed
	.venv-bench-$*/bin/python bench/$*.py

# no peer package exists for Fly-CL / RanPAC: both sides are ours, in the core environment
bench-connectomes: $(STAMP)
	$(PY) bench/connectomes.py

clean:
	rm -rf $(VENV) .venv-bench-* reports build *.egg-info
