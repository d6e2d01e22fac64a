# mailward: `make serve` runs the server from ./var, `make test` runs every check CI runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# Debian packages the tests use: a PostgreSQL server for the store tests, OpenSSL's
# s_client for TLS handshakes, swaks, mutt and msmtp as real SMTP clients, setpriv for non-root runs,
# isync (mbsync) and offlineimap as real IMAP clients, fetchmail and getmail6 as real POP3 clients
# (the benchmarks' peers, Postfix and Dovecot, are not needed by the tests: each bench says how to get it)
DEBS := postgresql openssl swaks util-linux mutt msmtp isync offlineimap fetchmail getmail6
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: serve test lint typecheck debs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

debs:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

var/mailward.toml: | $(STAMP)
	$(BIN)/mailward init --dir var --dev-ports --hostname localhost

serve: $(STAMP) var/mailward.toml
	$(BIN)/mailward serve -c var/mailward.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

test: $(STAMP) debs lint typecheck
	$(BIN)/pytest
	# the connection and TLS layers again on uvloop (event_loop = "uvloop")
	$(BIN)/pytest -q --event-loop uvloop tests/integration/tls tests/integration/server tests/unit/server

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
