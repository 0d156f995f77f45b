# Quick start: `make demo` (set up, triage the bundled outage snapshot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench clean system-deps test-system-deps

# Another apt may be running (unattended upgrades, a parallel build): install waits for the dpkg
# lock; update, which does not honour that timeout for its list lock, is retried for 10 minutes.
APT_GET := apt-get -o DPkg::Lock::Timeout=600
APT_UPDATE := n=0; until $(APT_GET) update -qq; do n=$$((n+1)); [ $$n -lt 120 ] || exit 1; \
	echo "apt is busy: retrying in 5 s" >&2; sleep 5; done

# Debian packages: a C compiler (durable_rules ships no wheels); for the tests, a real OpenSSH
# sshd, a static busybox to fill the fake nodes' chroots, and Chromium for the HTML report.
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(APT_UPDATE); \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $$missing >/dev/null; fi
endef

# For a package whose absence was detected by another check (not by dpkg).
apt_ensure_now = { $(APT_UPDATE); DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $(1) >/dev/null; }

system-deps:
	$(call apt_ensure,gcc libc6-dev)
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || $(call apt_ensure_now,python3-venv)
	@$(PYTHON) -c "import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
	  || $(call apt_ensure_now,python3-dev)

test-system-deps: system-deps
	$(call apt_ensure,openssh-server openssh-client busybox-static chromium)

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/kubetriage triage --snapshot examples/rke2-outage --fail-on never

# mypy cannot follow setuptools' package-dir mapping (engine/ -> kubetriage), so it checks
# a tree of symlinks with the installed layout.
lint: $(STAMP)
	$(BIN)/ruff check engine collectors tests bench examples
	rm -rf build/typecheck && mkdir -p build/typecheck
	cp -rs $(CURDIR)/engine build/typecheck/kubetriage
	ln -s $(CURDIR)/collectors build/typecheck/kubetriage/collectors
	$(BIN)/mypy -p kubetriage
	$(BIN)/mypy tests bench examples

test: lint test-system-deps
	$(BIN)/kubetriage rules lint
	@# One suite at a time per machine: the tests use fixed system resources (sshd chroots under
	@# /run, network namespaces) and time-bounded subprocesses that starve when runs pile up.
	flock /tmp/kubetriage-tests.lock $(BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
