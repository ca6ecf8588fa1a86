# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install node clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

node: node_modules/.installed

run: install
	$(BIN)/python -m bot

lint: install
	$(BIN)/ruff check bot cards storage tests bench
	$(BIN)/ruff format --check bot cards storage tests bench
	$(BIN)/mypy

test: install node lint
	$(BIN)/pytest -q

bench: install node
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .data .pytest_cache .mypy_cache .ruff_cache

# Teams app package (manifest.json + icons) for upload in Teams or the Teams admin center; see deployment/README.md.
# Needs MICROSOFT_APP_ID (a GUID) and COPBOT_PUBLIC_URL (https) from the environment or the make command line.
.PHONY: package
package: install
	MICROSOFT_APP_ID="$(MICROSOFT_APP_ID)" COPBOT_PUBLIC_URL="$(COPBOT_PUBLIC_URL)" \
		$(BIN)/python -m deployment.manifest --out deployment/build/appPackage.zip
