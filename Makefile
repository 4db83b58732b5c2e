# Relais: `make run` serves on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint typecheck bench model clean

install: $(STAMP) models/CURRENT

# setup.py and the .pyx: the compiled scorer (classifier/_scoring) is rebuilt when they change.
# pip's and setuptools' chatter goes to $(VENV)/install.log; its end is shown if a step fails.
$(STAMP): pyproject.toml setup.py classifier/_scoring.pyx
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Relais needs Python 3.11"'
	@test -x $(BIN)/python || (echo "creating the virtualenv $(VENV)" && $(PYTHON) -m venv $(VENV))
	@echo "installing Relais and its dependencies into $(VENV) (details: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --progress-bar off --upgrade pip > $(VENV)/install.log 2>&1 \
		|| { tail -n 40 $(VENV)/install.log; exit 1; }
	@$(BIN)/python -m pip install --progress-bar off -e '.[test]' >> $(VENV)/install.log 2>&1 \
		|| { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)
	@echo "installed"

# The default model ships in models/; if it is missing, train it (deterministic, about a minute).
models/CURRENT: | $(STAMP)
	$(BIN)/relais train --force --no-corrections

# HOST and PORT choose the address: make run HOST=0.0.0.0 PORT=8080
run: install
	@$(BIN)/relais db upgrade
	@$(BIN)/relais serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

# ruff (lint and format) over the code and its tests; mypy strict on app/ and classifier/
# (settings in pyproject.toml). `make typecheck` runs mypy alone.
lint: install
	$(BIN)/ruff check app classifier tests bench
	$(BIN)/ruff format --check app classifier tests bench
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/classifier_speed.py
	$(BIN)/python bench/classifier_quality.py

clean:
	rm -rf $(VENV) var .pytest_cache build classifier/_scoring.c classifier/_scoring.*.so
