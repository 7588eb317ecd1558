# src-client: every target installs what it needs (Debian packages, a pinned .venv,
# the C engine, the compiled SIP core) and is a no-op for parts already in place.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := sip-tester tshark libssl-dev pkg-config gcc make
NATIVE := $(wildcard native/*.c native/*.h)
SIP_SOURCES := $(wildcard src/src_client/sip/*.py)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint install deps clean

install: $(VENV)/.deps src/src_client/.built

# Debian packages, installed only when one is missing.
.apt-ok: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! $(PYTHON) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then missing="$$missing python3-dev"; fi; \
	if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "==> apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(VENV)/.deps: requirements.lock pyproject.toml .apt-ok
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "==> installing pinned Python dependencies"
	@$(PY) -m pip install -q --disable-pip-version-check "$$(grep '^setuptools==' requirements.lock)" "$$(grep '^wheel==' requirements.lock)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# The C engine and the mypyc-compiled SIP core, rebuilt in place when a source changes
# (until then src_client.sip runs its sources: see src/src_client/sip/compiled.py).
src/src_client/.built: $(VENV)/.deps setup.py $(NATIVE) $(SIP_SOURCES)
	@echo "==> building the C engine and the compiled SIP core"
	@$(PY) setup.py -q build_ext --inplace 2>&1 | grep -v '^running\|^copying\|^creating\|^gcc\|^x86_64' || true
	@$(PY) -c 'import src_client._engine, src_client.sip as s; assert s.MODE == "compiled", s.MODE' || exit 1
	@touch $@

run: install
	@$(PY) -m src_client.demo

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	@for b in bench/[!_]*.py; do echo "==> $$b"; $(PY) $$b $(BENCH_ARGS) || exit 1; done

lint: install
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/mypy --strict src

clean:
	rm -rf build $(VENV) .apt-ok src/src_client/.built src/*.so src/src_client/*.so \
	  src/src_client/sip/*.so src/src_client/sip/compiled.json
