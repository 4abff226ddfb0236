# Two commands: `make run` serves the app with embedded defaults; `make test` runs
# the whole suite. Both build .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := campus

.PHONY: run test lint typecheck messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

EXTENSION := packages/flask-emailcode

# The extension is a distribution of its own; the app depends on it, and both are
# installed editable so that a change to either is live.
$(VENV)/.installed: pyproject.toml $(EXTENSION)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '$(EXTENSION)[redis,sqlalchemy,wtf,mailman,mail,test]' -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(EXTENSION)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '$(EXTENSION)[redis,sqlalchemy,wtf,mailman,mail,test]' -e '.[dev]'
	touch $(VENV)/.installed $@

# After changing user-facing text: extract it, merge it into the catalogs, and
# compile them. The compiled .mo files are committed so that every way of
# installing the package carries them; a test checks they match the .po files.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d src/campus/translations --no-fuzzy-matching -w 100
	$(BIN)/pybabel compile -d src/campus/translations
	cd $(EXTENSION) && ../../$(BIN)/pybabel extract -F babel.cfg -k N_ -o ../../$(VENV)/emailcode.pot .
	$(BIN)/pybabel update -i $(VENV)/emailcode.pot -d $(EXTENSION)/src/flask_emailcode/translations -D flask_emailcode --no-fuzzy-matching -w 100
	$(BIN)/pybabel compile -d $(EXTENSION)/src/flask_emailcode/translations -D flask_emailcode

run: $(VENV)/.installed
	FLASK_DEBUG=1 $(BIN)/flask db upgrade
	FLASK_DEBUG=1 $(BIN)/flask user bootstrap
	FLASK_DEBUG=1 $(BIN)/flask run --host 127.0.0.1 --port 5000 --no-debugger

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench deploy $(EXTENSION)
	$(BIN)/ruff format --check src tests bench deploy $(EXTENSION)
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Three test processes on two cores: much of the suite waits on servers it started.
# loadgroup: the tests that fill the cores run in one process, never beside the
# failovers whose sentinels they would starve (tests/services.py, CPU_HEAVY).
test: $(VENV)/.installed-dev lint typecheck
	$(BIN)/pytest -n 3 --dist loadgroup

# Benchmarks (bench/README.md, docs/performance.md): a few minutes, never part of `make test`.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance test-artifacts
