# `make demo` runs the main job, `make test` runs the tests; each installs what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 1

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml scripts/install.sh constraints/cpu.txt
	VENV=$(VENV) bash scripts/install.sh

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/hf-geommem demo

test: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q tests

lint: install
	$(VENV)/bin/ruff check hf_geommem tests benchmarks dataset_scripts scripts

# every benchmark (bench_*.py); each prints its own figures
bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs
