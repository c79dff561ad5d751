# reportgen: one virtual environment, everything run from it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo

.PHONY: venv test test-fast demo bench lint clean

venv: $(STAMP)

# Re-install only when the project's metadata changes, so a second `make venv` takes seconds.
# The tested versions are pinned in constraints.txt (torch 2.14.1 / torchvision 0.29.1: the
# versions pip takes from local disk); pyproject.toml states the supported ranges.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest

# The quick loop while working: every test not marked slow (`make test` runs them all).
test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

demo: venv
	$(BIN)/reportgen demo --out $(OUT)

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
