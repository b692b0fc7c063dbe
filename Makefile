# Each target creates .venv on first use. Python 3.11+, pip and gcc are all it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/scratchnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/scratchnet
	@echo "== defaults (100 trials, as the tutorial's test) =="
	$(BIN)/scratchnet train --trials 100
	@echo "== the tutorial's seed preset (100 trials; the tutorial: 0.94541 ± 0.019558) =="
	$(BIN)/scratchnet train --preset seed --trials 100

test: $(BIN)/scratchnet
	$(BIN)/python -m pytest

bench: $(BIN)/scratchnet
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/sklearn_compare.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
