# make demo       - create/reuse .venv, install tfprune, run the demo on embedded data
# make test       - create/reuse .venv, install tfprune with test extras, lint, run the whole suite
# make test-fast  - the same without the tests marked slow
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tfprune-installed
OUT    ?= tfprune-demo
PYTEST := CUDA_VISIBLE_DEVICES="" $(PY) -m pytest -q tests

.PHONY: demo test test-fast lint venv bench clean

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,parquet]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tfprune demo --out $(OUT)

lint: $(STAMP)
	$(PY) -m ruff check tfprune tests benchmarks

test: lint
	$(PYTEST)

test-fast: lint
	$(PYTEST) -m "not slow"

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
