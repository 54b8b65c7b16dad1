# dockyard: set-up, tests and the demo. Every target installs what it is missing.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := runc busybox-static iproute2 iptables libseccomp2 skopeo umoci \
	docker-registry debootstrap docker-compose procps psmisc ca-certificates \
	gcc libc6-dev
STAMP := $(VENV)/.installed

.PHONY: install test unit integration compat lint demo clean hostile-long fuzz-long load-long

install: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -c "from dockyard.containers.init import build_init; build_init()"
	@touch $(STAMP)

test: install
	$(PY) -m pytest -q -ra tests

unit: install
	$(PY) -m pytest -q tests/unit

integration: install
	$(PY) -m pytest -q -ra tests/integration

compat: install
	$(PY) -m pytest -q -ra tests/compat

# the hostile archives with a million tiny entries (make test floods with 20 000)
hostile-long: install
	DOCKYARD_HOSTILE_ENTRIES=1000000 $(PY) -m pytest -q -s -ra --timeout=1800 \
		tests/hostile/test_archives.py -k many_tiny_entries

# the 50-client load of `make test` (20 s) for LOAD_SECONDS
LOAD_SECONDS ?= 120
load-long: install
	DOCKYARD_LOAD_SECONDS=$(LOAD_SECONDS) $(PY) -m pytest -q -ra --timeout=1800 \
		tests/faults/test_load.py

# The Engine API fuzz of `make test`, longer: FUZZ_EXAMPLES per operation (default 1000),
# within FUZZ_SECONDS (default 3600); the figures and every failure in FUZZ_REPORT.
# The latest figures are in bench/README.md.
FUZZ_EXAMPLES ?= 1000
FUZZ_SECONDS ?= 3600
FUZZ_REPORT ?= /tmp/dockyard-fuzz-long.txt
fuzz-long: install
	DOCKYARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) DOCKYARD_FUZZ_SECONDS=$(FUZZ_SECONDS) \
		DOCKYARD_FUZZ_REPORT=$(FUZZ_REPORT) \
		$(PY) -m pytest -q -ra -p no:cacheprovider -o timeout=0 tests/hostile/test_api_fuzz.py; \
		status=$$?; cat $(FUZZ_REPORT); exit $$status

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

demo: install
	$(PY) examples/demo.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
