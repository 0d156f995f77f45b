# Quick start: `make demo` (set up, triage the bundled outage snapshot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall when the dependencies or the vendored durable_rules change.
STAMP := $(VENV)/.installed-$(shell find pyproject.toml third_party \( -name build -o -name '*.egg-info' -o -name __pycache__ \) \
  -prune -o -type f -print | LC_ALL=C sort | xargs cat | cksum | cut -d' ' -f1)

.PHONY: demo regen test test-fast test-debian13 test-debian13-full image lint bench clean system-deps test-system-deps

# Debian packages: a C compiler (durable_rules is built from third_party/); for the tests, a real
# OpenSSH sshd, a static busybox to fill the fake nodes' chroots, and Chromium for the HTML report.
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(call apt_install,$$missing); fi
endef

# apt may be busy (another install, unattended upgrades): wait for its lock instead of failing.
apt_install = for try in $$(seq 60); do \
	  out=$$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); } 2>&1 ) \
	    && break; \
	  case "$$out" in *"Could not get lock"*|*"Unable to lock"*) ;; *) echo "$$out" >&2; exit 1;; esac; \
	  [ $$try -lt 60 ] || { echo "apt stayed locked for 10 minutes" >&2; exit 1; }; \
	  echo "apt is locked by another process: waiting" >&2; sleep 10; \
	done

system-deps:
	$(call apt_ensure,gcc libc6-dev)
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { $(call apt_install,python3-venv); }
	@$(PYTHON) -c "import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
	  || { $(call apt_install,python3-dev); }

test-system-deps: system-deps
	$(call apt_ensure,openssh-server openssh-client busybox-static chromium iproute2 iptables)

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet ./third_party/durable_rules -e '.[test]'
	$(BIN)/python third_party/durable_rules/selfcheck.py
	touch $@

demo: $(STAMP)
	$(BIN)/kubetriage demo

# Every generated artefact, from its source: the example snapshots, the scenario corpus, the rule
# pages and README catalog, the golden runbooks and the README real-world table. Idempotent; the
# tests fail when any of them is stale (the message says: run `make regen`).
regen: $(STAMP)
	$(BIN)/python -m tests.support.build_examples
	$(BIN)/python -m tests.scenarios.build_scenarios
	$(BIN)/kubetriage rules docs --readme README.md
	KUBETRIAGE_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_runbooks.py \
	  -k test_every_runbook_renders_for_every_fire_case
	$(BIN)/python -m tests.realworld.harness --readme README.md >/dev/null

# mypy cannot follow setuptools' package-dir mapping (engine/ -> kubetriage), so it checks
# a tree of symlinks with the installed layout.
lint: $(STAMP)
	$(BIN)/ruff check engine collectors tests bench examples third_party/durable_rules/selfcheck.py
	rm -rf build/typecheck && mkdir -p build/typecheck
	cp -rs $(CURDIR)/engine build/typecheck/kubetriage
	ln -s $(CURDIR)/collectors build/typecheck/kubetriage/collectors
	$(BIN)/mypy -p kubetriage
	$(BIN)/mypy tests bench examples third_party/durable_rules/selfcheck.py

test: lint test-system-deps
	$(BIN)/kubetriage rules lint
	@# One suite at a time per machine: the tests use fixed system resources (sshd chroots under
	@# /run, network namespaces) and time-bounded subprocesses that starve when runs pile up.
	flock /tmp/kubetriage-tests.lock $(BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# `make demo` and the engine and rule tests on Debian 13 (Python 3.13, GCC 14) in a debootstrap root.
test-debian13:
	$(call apt_ensure,debootstrap)
	tests/distro/debian13.sh

# The same root, running the README's whole `make test` there (sshd, Chromium, network namespaces).
test-debian13-full:
	$(call apt_ensure,debootstrap)
	tests/distro/debian13.sh --full

# The Dockerfile's two stages built as chroots of Debian 13 roots; the demo runs in the result.
image: $(STAMP)
	$(call apt_ensure,debootstrap)
	tests/distro/image.sh $(BIN)/kubetriage

# The edit loop (under a minute): no sshd, Chromium, network namespaces or CLI-subprocess tables.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not (slow or sshd or chromium or netns or bench)"

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
