# One command to run the stack, one to test it. `make help` lists the rest.
# Each deployable has its own virtual environment and pinned lock (REFERENCE.md section 2):
#   .venv-runtime  agent_runtime/requirements*.lock   (bedrock-agentcore, langgraph, langchain-aws)
#   .venv-bff      bff/requirements*.lock             (fastapi, aioboto3, redis, ...)
#   .venv-ui       ui/requirements*.lock              (streamlit)
#   .venv-dev      uv, ruff, mypy (tooling only)
SHELL := /bin/bash
PYTHON ?= python3
UV := .venv-dev/bin/uv
DEV_TOOLS := uv==0.13.8 ruff==0.17.5 mypy==2.4.1 cfn-lint==1.58.0

.DEFAULT_GOAL := help
.PHONY: help install run test test-runtime test-bff test-ui test-infra test-bench bench synth lint format lock clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.venv-dev/.stamp: Makefile
	@test -x .venv-dev/bin/python || $(PYTHON) -m venv .venv-dev
	.venv-dev/bin/python -m pip install -q --disable-pip-version-check $(DEV_TOOLS)
	@touch $@

.venv-runtime/.stamp: .venv-dev/.stamp agent_runtime/requirements.lock agent_runtime/requirements-test.lock
	@test -x .venv-runtime/bin/python || $(UV) venv -q --python $(PYTHON) .venv-runtime
	$(UV) pip sync -q --python .venv-runtime/bin/python agent_runtime/requirements.lock agent_runtime/requirements-test.lock
	@touch $@

.venv-bff/.stamp: .venv-dev/.stamp bff/requirements.lock bff/requirements-test.lock
	@test -x .venv-bff/bin/python || $(UV) venv -q --python $(PYTHON) .venv-bff
	$(UV) pip sync -q --python .venv-bff/bin/python bff/requirements.lock bff/requirements-test.lock
	@touch $@

.venv-ui/.stamp: .venv-dev/.stamp ui/requirements.lock ui/requirements-test.lock
	@test -x .venv-ui/bin/python || $(UV) venv -q --python $(PYTHON) .venv-ui
	$(UV) pip sync -q --python .venv-ui/bin/python ui/requirements.lock ui/requirements-test.lock
	@touch $@

.venv-infra/.stamp: .venv-dev/.stamp infra/requirements.lock infra/requirements-test.lock
	@test -x .venv-infra/bin/python || $(UV) venv -q --python $(PYTHON) .venv-infra
	$(UV) pip sync -q --python .venv-infra/bin/python infra/requirements.lock infra/requirements-test.lock
	@touch $@

install: .venv-runtime/.stamp .venv-bff/.stamp .venv-ui/.stamp ## Create the three environments from the locks

run: install ## Start runtime :8080, local AgentCore :8090, BFF :8000 and UI :8501 (offline model)
	.venv-bff/bin/python -m scripts.devstack

test: install ## Install everything and run the whole test suite
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-runtime test-bff test-ui test-infra test-bench

test-runtime: .venv-runtime/.stamp ## Tests of the agent runtime
	.venv-runtime/bin/python -m pytest tests/runtime

test-bff: .venv-bff/.stamp .venv-runtime/.stamp ## Tests of the BFF, the local endpoint and the end-to-end chain
	.venv-bff/bin/python -m pytest tests/bff tests/e2e

test-bench: .venv-bff/.stamp .venv-runtime/.stamp ## Smoke runs of every benchmark figure at tiny sizes (not a measurement)
	.venv-bff/bin/python -m pytest tests/bench

bench: .venv-bff/.stamp .venv-runtime/.stamp ## Run every benchmark figure (~15 min) and write docs/benchmarks.md
	.venv-bff/bin/python -m bench

# The browser tests drive Debian's Chromium with Playwright (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Chromium missing at $(CHROMIUM) and no apt-get to install it" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

test-ui: .venv-ui/.stamp .venv-bff/.stamp .venv-runtime/.stamp $(CHROMIUM) ## Tests of the Streamlit UI (AppTest and headless Chromium)
	.venv-ui/bin/python -m pytest tests/ui

test-infra: .venv-infra/.stamp ## Tests of the Dockerfiles and the CDK app (synth, IAM assertions, cfn-lint, hadolint)
	.venv-infra/bin/python -m pytest tests/infra

synth: .venv-infra/.stamp ## Synthesize the AWS CDK app to infra/cdk.out (no AWS account, no Docker engine)
	rm -rf infra/cdk.out
	.venv-infra/bin/python infra/app.py

lint: .venv-dev/.stamp ## ruff check and format check
	.venv-dev/bin/ruff check .
	.venv-dev/bin/ruff format --check .

format: .venv-dev/.stamp ## Apply ruff format and fixes
	.venv-dev/bin/ruff format .
	.venv-dev/bin/ruff check --fix .

lock: .venv-dev/.stamp ## Re-resolve every lock from its requirements*.in
	for d in agent_runtime bff ui infra; do \
	  $(UV) pip compile -q --python-version 3.11 $$d/requirements.in -o $$d/requirements.lock && \
	  (cd $$d && ../$(UV) pip compile -q --python-version 3.11 requirements-test.in -o requirements-test.lock); \
	done

clean: ## Remove the environments and caches
	rm -rf .venv-runtime .venv-bff .venv-ui .venv-infra .venv-dev .pytest_cache .ruff_cache .mypy_cache
