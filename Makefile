# socialvideo backend — developer entry points. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8000
WS_PORT ?= 8001
MOTO_PORT ?= 4566
STAGE ?= prod
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv run test lint typecheck pytest token package deploy bench fuzz pay clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q -r requirements-dev.txt 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

lint: venv
	$(BIN)/ruff check app.py functions local tests
	$(BIN)/ruff format --check app.py functions local tests

typecheck: venv
	$(BIN)/mypy app.py functions local tests

pytest: venv
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck pytest

run: venv
	$(PY) -m local.run --port $(PORT) --ws-port $(WS_PORT) --moto-port $(MOTO_PORT)

token: venv
	@$(PY) -m local.tokens $(or $(USER_ID),$(USER))

clean:
	rm -rf $(VENV) vendor build .local .pytest_cache .mypy_cache .ruff_cache
