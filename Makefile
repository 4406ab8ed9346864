# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint typecheck pytest peers attr-peers bench bench-gpu clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU wheel served locally; any other torch spec pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,faiss,serve,text,llm]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/assay demo --out demo-output --overwrite
	@echo "report: demo-output/report.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/python -m pytest -q || test $$? -eq 5  # 5: a marker selected no tests

test: lint typecheck pytest

# peers (pyDVL 0.10, OpenDataVal 1.3) live in their own venv: pyDVL pins numpy < 2
peers:
	bash benchmarks/peers/setup_peers.sh

# attribution peers (traker 0.3.2, dattri 0.3.0) for benchmarks/trak_lds.py, their own venv too
attr-peers:
	bash benchmarks/peers/setup_attr.sh

bench: $(STAMP) peers
	$(BIN)/python benchmarks/bench_peers.py

# one command on a machine with a CUDA GPU (and a CUDA build of torch in .venv): the gpu-marked
# tests, then Data Banzhaf with 10,000 MLPs on Fashion-MNIST (target: under 2 minutes)
bench-gpu: $(STAMP)
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		f'bench-gpu: torch {torch.__version__} sees no CUDA device (install a CUDA build of torch)')"
	$(BIN)/python -m pytest -q -m gpu tests
	$(BIN)/python benchmarks/nn_banzhaf.py --device cuda --threads 2 \
		--out benchmarks/results/nn_banzhaf_cuda.json

clean:
	rm -rf $(VENV) .venv-peers .venv-attr demo-output .pytest_cache .mypy_cache .ruff_cache
