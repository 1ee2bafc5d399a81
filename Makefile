# Two commands do everything on a fresh machine (see README):
#   make run   - set up, then start the whole pipeline in the foreground (Ctrl-C stops it)
#   make test  - set up, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup status bench chaos clean-data

$(STAMP): pyproject.toml
	@command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 && command -v kcat >/dev/null 2>&1 && \
	  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
	  { echo "installing Java 17, Maven, kcat and the PostgreSQL server (Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      openjdk-17-jre-headless maven kcat postgresql-15 >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium (Debian package) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

# The Kafka and Debezium jars of jvm/pom.xml, from Maven Central (once; again when the pom changes).
setup: $(STAMP)
	$(PY) -m stack jars >/dev/null

run: setup
	@$(PY) -m stack run

status:
	@$(PY) -m stack status

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m bench

chaos: setup
	$(PY) -m bench chaos

clean-data:
	rm -rf .data
