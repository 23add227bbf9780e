# raytune-llm: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned to the CPU wheel available on our machines; any other version pulls a
# multi-GB CUDA build. On a GPU machine install the torch you need first, then `make install`.
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

# the main job: LLM-PSO (embedded model) vs plain PSO tuning the air-quality LSTM (about 2 min on 2 idle cores after the install)
demo: $(STAMP)
	$(BIN)/raytune-llm demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.llm_backends

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
