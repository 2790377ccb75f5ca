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
STACK_NAME ?= socialvideo-$(STAGE)
DEPLOY_BUCKET ?=
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

# Foreground until Ctrl-C; child logs in .local/logs/. Uses $$AWS_ENDPOINT_URL instead of moto if set.
run: venv
	$(PY) -m local.run --port $(PORT) --ws-port $(WS_PORT) --moto-port $(MOTO_PORT)

# build/sam.json + build/deployment.zip: functions/ copied into vendor/, infra/template.yaml merged
# (build/merge-template.json). Fails if chalice could not install a dependency.
package: venv
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(PY) -m local.package --stage $(STAGE) --out build

# Needs the AWS CLI, real credentials and an S3 bucket for the code:
#   make deploy STAGE=prod DEPLOY_BUCKET=<artifact bucket> [STACK_NAME=socialvideo-prod]
deploy: package
	@test -n "$(DEPLOY_BUCKET)" || { echo "set DEPLOY_BUCKET=<S3 bucket for the code artifact>" >&2; exit 1; }
	aws cloudformation package --template-file build/sam.json --s3-bucket $(DEPLOY_BUCKET) \
		--output-template-file build/packaged.yaml
	aws cloudformation deploy --template-file build/packaged.yaml --stack-name $(STACK_NAME) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides Stage=$(STAGE)

token: venv
	@$(PY) -m local.tokens $(or $(USER_ID),$(USER))

clean:
	rm -rf $(VENV) vendor build .local .pytest_cache .mypy_cache .ruff_cache
