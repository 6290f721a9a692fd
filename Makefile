# Presence service: developer and CI entry points (GNU make; works as root, no stdin needed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# Python 3.13: pyenv's 3.13.0 when present, else a working python3.13 (resolved past any shim),
# else python3 (which the venv targets then refuse, naming 3.13, unless it is 3.13).
PYENV_313 := $(shell pyenv prefix 3.13.0 2>/dev/null)
PY313 := $(or $(wildcard $(PYENV_313)/bin/python),\
	$(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null),python3)
# The folder of the real interpreter (not a pyenv shim): `sam build` needs python3.13 first on PATH.
PY313_BIN := $(shell $(PY313) -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null)

VENV := .venv
VENV_SAM := .venv-sam
VENV_CHECKOV := .venv-checkov
PIP_FLAGS := --disable-pip-version-check --no-input --quiet
# uv (from PyPI, into a venv of its own) installs the venvs' requirements: a fresh `make test`
# spends seconds, not minutes, on them. Each venv keeps its pip (`.venv/bin/pip` works as before).
UV_VERSION := 0.13.9
VENV_UV := .venv-uv
UV := $(VENV_UV)/bin/uv
# --system-certs: trust the system's certificate store, as pip does here (uv's bundled roots
# lack a locally installed CA, and SSL_CERT_FILE may not be set); --compile-bytecode: the .pyc
# files pip writes too (without them, under PYTHONDONTWRITEBYTECODE every process compiles what
# it imports: the runtime's workers and moto start twice as slowly, sam validate and checkov too).
UV_FLAGS := --quiet --system-certs --compile-bytecode

# Offline AWS settings for validation and tests: dummy credentials, never a real account.
AWS_OFFLINE := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	SAM_CLI_TELEMETRY=0

TEST_DIRS := $(wildcard tests/unit tests/integration)
# One clock: these run with the machine's clock moved a year ahead (Debian's faketime), so the
# suite cannot start failing on a date (DESIGN.md principle 11).
CLOCK_TESTS := tests/integration/test_lifecycle_ws.py tests/integration/test_concurrency_and_faults.py
CLOCK_AHEAD := +400 days
E2E_DIR := $(wildcard tests/e2e)
LINT_PATHS := $(wildcard layers/presence/presence functions local tests sdk/python bench)

.PHONY: help $(VENV) $(VENV_SAM) $(VENV_CHECKOV) test validate lint checkov build run usersig bench \
	clean distclean

help:
	@echo "make test      unit + integration + end-to-end tests, sam validate --lint, cfn-lint, checkov"
	@echo "               (two parts at a time; TEST_JOBS=1: one at a time)"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make build     sam build (no container)"
	@echo "make run       the whole service locally (moto; HTTP :3000, WebSocket :3001)"
	@echo "make usersig USER=alice   a UserSig for the local runtime"
	@echo "make bench     benchmarks (about 35 minutes; not tests) -> docs/performance.md"
	@echo "make test-web  the Web SDK's node tests and the browser tests (part of make test)"
	@echo "make validate  sam validate --lint and cfn-lint of template.yaml"
	@echo "make checkov   checkov on template.yaml; fails on findings docs/operations.md does not accept"
	@echo "make openapi   regenerate docs/openapi.json from template.yaml and the handlers"
	@echo "make smoke HTTP_URL=... WS_URL=... SECRET_KEY=...   smoke-test a deployment"
	@echo "make clean     remove build output and caches (distclean: also the venvs)"
	@echo "make distclean clean, and remove .venv, .venv-sam, .venv-checkov, .venv-uv and sdk/js/node_modules"
	@echo "make .venv .venv-sam .venv-checkov   only (re)install those virtual environments"
	@echo "variables: PRESENCE_HTTP_PORT PRESENCE_WS_PORT PRESENCE_DEMO_PORT PRESENCE_SECRET_KEY"
	@echo "           PRESENCE_SDKAPPID PRESENCE_WORKERS PRESENCE_LOG_LEVEL PRESENCE_PRINT_EVENTS"
	@echo "           PRESENCE_MOTO_STATS (see README)"

# --- virtual environments (reinstalled when their requirements change) ---------------------
# `make_venv DIR,REQUIREMENTS`: Python 3.13 or a clear error at once; a venv built by another
# Python is rebuilt; a lock keeps two make commands from installing into one venv together.
IS_313 := import sys; sys.exit(sys.version_info[:2] != (3, 13))
define require_313
	@$(PY313) -c '$(IS_313)' 2>/dev/null || { \
	  echo "error: Python 3.13 is required; found $$($(PY313) --version 2>&1 || echo none)." >&2; \
	  echo "  Install it (pyenv install 3.13.0, or your system's python3.13) and run make again." >&2; \
	  exit 1; }
endef
define make_venv
	$(require_313)
	@exec 9>$(1).lock; flock 9; \
	if [ -x $(1)/bin/python ] && ! $(1)/bin/python -c '$(IS_313)' 2>/dev/null; then \
	  echo "$(1) was built by another Python: rebuilding it"; rm -rf $(1); fi; \
	test -x $(1)/bin/python || $(PY313) -m venv $(1); \
	$(UV) pip install $(UV_FLAGS) --python $(1)/bin/python --upgrade-package pip pip -r $(2); \
	touch $(1)/.installed
endef

# uv itself, pinned; its stamp names the version, so changing UV_VERSION reinstalls it.
$(VENV_UV)/.installed-$(UV_VERSION):
	$(require_313)
	@exec 9>$(VENV_UV).lock; flock 9; \
	test -x $(VENV_UV)/bin/python || $(PY313) -m venv $(VENV_UV); \
	$(VENV_UV)/bin/python -m pip install $(PIP_FLAGS) uv==$(UV_VERSION); \
	touch $@

$(VENV): $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt layers/presence/requirements.txt \
		| $(VENV_UV)/.installed-$(UV_VERSION)
	$(call make_venv,$(VENV),requirements-dev.txt)

$(VENV_SAM): $(VENV_SAM)/.installed
$(VENV_SAM)/.installed: requirements-sam.txt | $(VENV_UV)/.installed-$(UV_VERSION)
	$(call make_venv,$(VENV_SAM),requirements-sam.txt)

$(VENV_CHECKOV): $(VENV_CHECKOV)/.installed
$(VENV_CHECKOV)/.installed: requirements-checkov.txt | $(VENV_UV)/.installed-$(UV_VERSION)
	$(call make_venv,$(VENV_CHECKOV),requirements-checkov.txt)

# --- checks ----------------------------------------------------------------------------------
# `make test` runs these parts TEST_JOBS (2, this machine's cores) at a time, longest first: most
# of the end-to-end suite waits on timers and sockets. Each part's output is printed whole when
# it ends (--output-sync), closed by a line with its result and time; every part runs even after
# one fails (-k), and then make test fails. `make test TEST_JOBS=1` runs them one after another.
TEST_JOBS := 2
TEST_PARTS := test-e2e test-unit test-clock test-web-node test-browser test-validate test-checkov
test: $(VENV) $(VENV_SAM) $(VENV_CHECKOV) faketime
	@start=$$(date +%s); \
	if $(MAKE) --no-print-directory -k -j$(TEST_JOBS) --output-sync=target $(TEST_PARTS); then \
	  echo "== make test: every part passed in $$(( $$(date +%s) - start )) s"; \
	else echo "== make test: FAILED (the parts marked FAILED above)" >&2; exit 1; fi

# `$(call part,COMMAND)`: a part of make test; COMMAND's output, then "== part: passed in N s".
define part
	@start=$$(date +%s); set +e; \
	{ $(1); }; rc=$$?; \
	echo "== $@: $$(if [ $$rc = 0 ]; then echo passed; else echo FAILED; fi) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc
endef
PYTEST := $(AWS_OFFLINE) PYTHONPATH=layers/presence:. $(VENV)/bin/python -m pytest

.PHONY: $(TEST_PARTS)
test-unit:
	$(call part,$(PYTEST) $(TEST_DIRS) $(addprefix --ignore=,$(CLOCK_TESTS)))
test-clock:
	$(call part,ft=$$(command -v faketime || true); \
	if [ -z "$$ft" ]; then echo "WARNING: no faketime: $(CLOCK_TESTS) run at today's date"; fi; \
	echo "$${ft:+faketime '$(CLOCK_AHEAD)' }pytest $(CLOCK_TESTS)"; \
	$(AWS_OFFLINE) PYTHONPATH=layers/presence:. $${ft:+$$ft '$(CLOCK_AHEAD)'} \
		$(VENV)/bin/python -m pytest $(CLOCK_TESTS))
# Two pytest-xdist workers, a file each at a time (each worker starts the session's runtime;
# a module's own runtime starts once).
test-e2e:
	$(call part,$(if $(E2E_DIR),PYTHONPATH=layers/presence:. $(VENV)/bin/python -m pytest -n 2 \
		--dist loadfile $(E2E_DIR),true))
test-validate:
	$(call part,$(AWS_OFFLINE) $(VENV_SAM)/bin/sam validate --lint --template-file template.yaml \
		&& $(AWS_OFFLINE) $(VENV_SAM)/bin/cfn-lint template.yaml)
test-checkov:
	$(call part,$(CHECKOV))

# Debian's faketime for CLOCK_TESTS: installed with apt-get when this is root (CI), else a warning.
.PHONY: faketime
faketime:
	@command -v faketime >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing faketime (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null \
	      || echo "WARNING: apt-get could not install faketime"; \
	  else echo "WARNING: faketime is missing (apt-get install faketime)"; fi; }

validate: $(VENV_SAM)
	$(AWS_OFFLINE) $(VENV_SAM)/bin/sam validate --lint --template-file template.yaml
	$(AWS_OFFLINE) $(VENV_SAM)/bin/cfn-lint template.yaml

# checkov (offline) on template.yaml: fails on a finding that docs/operations.md's "Accepted
# checkov findings" does not list, or on a listed one that no longer fails (about 10 s).
CHECKOV := PYTHONPATH=. $(VENV_CHECKOV)/bin/python -m local.checkov_accepted \
	--checkov $(VENV_CHECKOV)/bin/checkov
checkov: $(VENV_CHECKOV)
	$(CHECKOV)

lint: $(VENV)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy $(LINT_PATHS)

# --- build and run ---------------------------------------------------------------------------
build: $(VENV_SAM)
	$(if $(PY313_BIN),PATH="$(PY313_BIN):$$PATH") $(AWS_OFFLINE) $(VENV_SAM)/bin/sam build --template-file template.yaml
	test -f .aws-sam/build/PresenceLayer/python/presence/__init__.py

# The whole service on 127.0.0.1 (moto, HTTP :3000, WebSocket :3001); Ctrl-C stops it.
run: $(VENV)
	PYTHONPATH=layers/presence:. $(VENV)/bin/python -m local.runtime

# A UserSig for the local runtime's key and SDKAppID: make -s usersig USER=alice [EXPIRE=seconds]
usersig: $(VENV)
	@if [ "$(origin USER)" != "command line" ]; then \
		echo "usage: make -s usersig USER=<userID> [EXPIRE=<seconds>]" >&2; exit 2; fi
	@PYTHONPATH=layers/presence:. $(VENV)/bin/python -m local.usersig '$(USER)' \
		$(if $(EXPIRE),--expire '$(EXPIRE)')

# --- benchmarks (not tests: `make test` never runs them) --------------------------------------
# Push latency through the local runtime (100 / 1,000 / 10,000 connections), the two-stage
# delivery to 100,000 connections (in-process), liveness (devices that vanish), the cost per
# user-month, cold starts. Results in
# bench/results, the report in docs/performance.md (see bench/README.md).
BENCH_ENV := $(AWS_OFFLINE) PYTHONPATH=layers/presence:.
bench: $(VENV)
	@start=$$(date +%s); \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.latency && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.delivery_scale --connections 100000 && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.post_cpu && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.liveness && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.cost && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.cold_start && \
	$(BENCH_ENV) $(VENV)/bin/python -m bench.report --elapsed $$(( $$(date +%s) - start ))

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.venv*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(VENV_SAM) $(VENV_CHECKOV) $(VENV_UV) sdk/js/node_modules

# --- Web SDK and web demo (sdk/js, tests/browser): part of `make test` -----------------------
# Node's test runner on the SDK (fake WebSocket and fetch, no network), then the demo and the
# SDK in headless Chromium against a runtime of their own (skipped, saying so, without chromium).
.PHONY: test-web
test-web: $(VENV)
	@$(MAKE) --no-print-directory test-web-node test-browser
test-web-node:
	$(call part,cd sdk/js && npm ci --no-audit --no-fund --loglevel=error && node --test test/)
test-browser:
	$(call part,PYTHONPATH=layers/presence:. $(VENV)/bin/python -m pytest tests/browser)

# docs/openapi.json from template.yaml and the handlers' body models (tests/unit/test_openapi.py
# fails while it is stale)
.PHONY: openapi
openapi: $(VENV)
	$(AWS_OFFLINE) POWERTOOLS_TRACE_DISABLED=true PYTHONPATH=layers/presence:. $(VENV)/bin/python -m local.openapi

# The smoke test against a deployment (or make run): make smoke HTTP_URL=... WS_URL=...
# SECRET_KEY=... [SDKAPPID=1400000000]. make test runs it against the local runtime.
.PHONY: smoke
smoke: $(VENV)
	@if [ -z "$(HTTP_URL)" ] || [ -z "$(WS_URL)" ] || [ -z "$(SECRET_KEY)" ]; then \
		echo "usage: make smoke HTTP_URL=<HttpApiUrl> WS_URL=<WebSocketUrl> SECRET_KEY=<key> [SDKAPPID=...]" >&2; \
		exit 2; fi
	@PYTHONPATH=layers/presence:. $(VENV)/bin/python -m tests.smoke --http-url '$(HTTP_URL)' \
		--ws-url '$(WS_URL)' --secret-key '$(SECRET_KEY)' --sdkappid '$(or $(SDKAPPID),1400000000)'
