# socialvideo backend — developer entry points. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# checkov pins old boto3/botocore: it lives in its own virtualenv (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
PY := $(BIN)/python
# Every directory of Python source, for the linters and the type checker.
SRC := app.py chalicelib infra local tests bench
PORT ?= 8000
WS_PORT ?= 8001
MOTO_PORT ?= 4566
STAGE ?= prod
STACK_NAME ?= socialvideo-$(STAGE)
DEPLOY_BUCKET ?=
DEPLOY_PARAMS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv lock browser run test lint typecheck pytest token package deploy bench fuzz pay dlq redrive sms clean

venv: $(VENV)/.installed

# Installs exactly the locked versions (every package hash-checked). Dependencies are declared in
# pyproject.toml; `make lock` regenerates the two lock files from it.
$(VENV)/.installed: requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes -r requirements-dev.lock 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

# requirements.txt: the runtime lock Chalice packages into the Lambda zip (Linux wheels, boto3 included);
# requirements-dev.lock: runtime + dev tools for this machine.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --custom-compile-command "make lock"
lock: venv
	$(UV_COMPILE) --python-platform x86_64-manylinux2014 pyproject.toml -o requirements.txt
	$(UV_COMPILE) --extra dev pyproject.toml -o requirements-dev.lock

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: venv
	$(BIN)/mypy $(SRC)

# The docs-page test renders /v1/docs in headless Chromium (Debian's package, installed here once).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

pytest: venv browser
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck pytest

# Foreground until Ctrl-C; child logs in .local/logs/. Uses $$AWS_ENDPOINT_URL instead of moto if set.
run: venv
	$(PY) -m local.run --port $(PORT) --ws-port $(WS_PORT) --moto-port $(MOTO_PORT)

# build/sam.json + build/deployment.zip: chalicelib/ copied into vendor/, infra/template.yaml merged
# (build/merge-template.json: one IAM role per function, names, environment), cfn-lint checked.
# Fails if chalice could not install a dependency. See docs/operations.md.
# Then checkov: every failing check is fixed or skipped inline in the template with its reason
# (docs/operations.md, "Security scan"). --skip-download: no Prisma Cloud look-ups, offline.
package: venv $(CHECKOV_VENV)/.installed
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(PY) -m infra.package --stage $(STAGE) --out build
	$(BIN)/cfn-lint build/sam.json
	$(CHECKOV_VENV)/bin/checkov -f build/sam.json --framework cloudformation --compact --quiet --skip-download

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

# The real deploy (docs/operations.md). Needs the AWS CLI, credentials for the target account, an
# S3 bucket for the code artifact, and on the FIRST deploy every required parameter:
#   make deploy STAGE=prod DEPLOY_BUCKET=<artifact bucket> DEPLOY_PARAMS="CognitoUserPoolId=... \
#     CognitoAppClientId=... ApnsPlatformApplicationArn=... GcmPlatformApplicationArn=... AlarmEmail=..."
# Later deploys keep the stack's previous parameter values unless DEPLOY_PARAMS overrides them.
deploy: package
	@test -n "$(DEPLOY_BUCKET)" || { echo "set DEPLOY_BUCKET=<S3 bucket for the code artifact>" >&2; exit 1; }
	aws cloudformation package --template-file build/sam.json --s3-bucket $(DEPLOY_BUCKET) \
		--output-template-file build/packaged.yaml
	aws cloudformation deploy --template-file build/packaged.yaml --stack-name $(STACK_NAME) \
		--s3-bucket $(DEPLOY_BUCKET) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--tags app=socialvideo stage=$(STAGE) git=$$(git rev-parse --short HEAD) \
		--parameter-overrides Stage=$(STAGE) $(DEPLOY_PARAMS)
	aws cloudformation describe-stacks --stack-name $(STACK_NAME) --query "Stacks[0].Outputs" --output table

# Benchmarks (not part of `make test`): writes docs/benchmarks.md (+ .json, the kept results) and docs/img/*.png.
bench: venv
	$(PY) -m bench $(BENCH_ARGS)

# schemathesis over every operation, against its own local stack (or URL=http://127.0.0.1:8000).
fuzz: venv
	$(PY) -m local.fuzz $(if $(URL),--url $(URL)) --max-examples $(or $(EXAMPLES),100)

# The local stand-in for Stripe: a Stripe-shaped event for ORDER, signed with Stripe-Signature.
pay: venv
	@test -n "$(ORDER)" || { echo "usage: make pay ORDER=<order_id> [RESULT=failed|canceled|refunded]" >&2; exit 1; }
	$(PY) -m local.pay $(ORDER) $(RESULT) --port $(PORT)

# The SMS (verification codes) the local stack sent: moto keeps them. NUMBER=+… filters.
sms: venv
	@$(PY) -m local.sms --endpoint $${AWS_ENDPOINT_URL:-http://127.0.0.1:$(MOTO_PORT)} $(if $(NUMBER),--number $(NUMBER))

# Dead-letter queues of the running `make run` stack (docs/operations.md, "Parked events").
dlq: venv
	@$(PY) -m local.dlq list $(if $(FUNCTION),--function $(FUNCTION))

redrive: venv
	$(PY) -m local.dlq redrive $(if $(FUNCTION),--function $(FUNCTION))

# make token USER=<id> [TTL=<seconds>]: an access token for the local stack (12 h by default).
token: venv
	@$(PY) -m local.tokens $(or $(USER_ID),$(USER)) $(if $(TTL),--ttl $(TTL))

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) vendor build .local .pytest_cache .mypy_cache .ruff_cache
