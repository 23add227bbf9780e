# raytune-llm: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned to the CPU wheel available on our machines; any other version pulls a
# multi-GB CUDA build. On a GPU machine install the torch you need first, then `make install`.
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install demo test bench gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[all,finetune,dev]"
	touch $(STAMP)

install: $(STAMP)

# the main job: LLM-PSO (embedded model) vs plain PSO tuning the air-quality LSTM (about 2 min on 2 idle cores after the install)
demo: $(STAMP)
	$(BIN)/raytune-llm demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.llm_backends

# on a GPU machine (<= 10 min): fractional-GPU trials of the LSTM and the CNN, the embedded model offloaded to
# the GPU; writes benchmarks/results/gpu-check-DATE.{json,md}. Without a CUDA device it says so and exits 0.
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check --out benchmarks/results/gpu-check-$$(date -u +%Y-%m-%d)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
