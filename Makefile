# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: run test check lint bench install lock node clean chromium playground model retrain refit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Everything (the bot, both SDK seams, the test and lint tools) at the versions in requirements.lock, so two
# machines test the same code; `make lock` refreshes the lock after a change to pyproject.toml's dependencies.
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# uv resolves for every platform and Python >= 3.11 at once (pip-tools resolves for the running one only).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --upgrade --quiet \
		--custom-compile-command "make lock" -o $(LOCK)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

node: node_modules/.installed

# The FAQ sentence encoder's model (all-MiniLM-L6-v2, ~90 MB; see deployment/fetch_model.py): fetched and verified
# once; the manifest is the stamp. Then its layers are written as an int8 ONNX graph, encoder.onnx (12 MB; see
# bot/answers/bert_graph.py), so the bot never builds it. MODEL_DIR follows COPBOT_MODEL_DIR, and is exported so the
# bot and tests use it.
MODEL_DIR ?= $(or $(COPBOT_MODEL_DIR),var/models/all-MiniLM-L6-v2)
export COPBOT_MODEL_DIR := $(MODEL_DIR)

$(MODEL_DIR)/manifest.json: deployment/fetch_model.py | $(BIN)/python
	$(BIN)/python -m deployment.fetch_model $(MODEL_DIR)

$(MODEL_DIR)/encoder.onnx: $(MODEL_DIR)/manifest.json bot/answers/bert_graph.py bot/answers/model_files.py \
		bot/answers/adapter.py bot/answers/encoder_adapter.npz | $(STAMP)
	$(BIN)/python -m bot.answers.bert_graph $(MODEL_DIR)

# The shipped programme FAQ's vectors and its examples' (bot/answers/prebuilt.py), so the first question does not
# encode ~3,000 texts.
$(MODEL_DIR)/programme_vectors.npz: $(MODEL_DIR)/encoder.onnx bot/answers/programme_faq.json bot/answers/examples.json \
		bot/answers/prebuilt.py
	$(BIN)/python -m bot.answers.prebuilt $(MODEL_DIR)

model: $(MODEL_DIR)/encoder.onnx $(MODEL_DIR)/programme_vectors.npz

# node: the Teams JavaScript SDK that the report tab loads from the bot
run: install node model
	$(BIN)/python -m bot

lint: install
	$(BIN)/ruff check bot cards storage tests bench deployment tools
	$(BIN)/ruff format --check bot cards storage tests bench deployment tools
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install node chromium lint model
	$(BIN)/pytest -q

# The fast loop while editing (under a minute with mypy's cache warm): lint, then the unit and contract tests
# (config, router, wording, cards, storage on SQLite, both seams, deployment). No Azurite, no browser, no model,
# none marked slow; the end-to-end features, FAQ calibration and the report's browser tests run in make test.
CHECK_TESTS := tests/test_*.py tests/cards tests/storage tests/seam tests/deployment tests/answers/test_artefacts.py
check: install node lint
	$(BIN)/pytest -q -p no:cacheprovider -m "not azurite and not slow" $(CHECK_TESTS)

# The FAQ ranker's generated artefacts, in order (tools/answers/__init__.py). Each records the sha256 of what it was
# made from, and tests/answers/test_artefacts.py (in make check) fails naming the target to run when one is stale.
# retrain: the encoder adapters, the shipped one and one per fold of splits (tools/answers/folds.py), each trained
# only if stale, then the encoder graph and vectors (make model) and make refit. Needs PyTorch, which the bot does
# not: it is installed from PyPI in a separate venv, FT_VENV (a CPU wheel where pip finds one). About 8 minutes per
# adapter on two idle cores, so ~50 minutes when all six are stale (after any change to the FAQ's phrasings or the
# examples); much longer when the cores are busy.
FT_VENV ?= var/venv-train
$(FT_VENV)/.installed:
	$(PYTHON) -m venv $(FT_VENV)
	$(FT_VENV)/bin/pip install --quiet torch 'transformers>=4.44' tokenizers safetensors numpy snowballstemmer
	touch $@

retrain: $(FT_VENV)/.installed $(MODEL_DIR)/manifest.json
	PYTHONPATH=. nice -n 10 $(FT_VENV)/bin/python -m tools.answers.finetune $(MODEL_DIR) --all
	$(MAKE) refit

# refit: the confidence model and its threshold (bot/answers/confidence_model.json), fitted on every split held out
# (a few minutes). After a change to the FAQ, its examples or the ranker; after retrain.
refit: install model
	$(BIN)/python -m tools.answers.fit_confidence --write

bench: install node model
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .data .pytest_cache .mypy_cache .ruff_cache

# Teams app package (manifest.json + icons) for upload in Teams or the Teams admin center; see deployment/README.md.
# Needs the bot's app id (MICROSOFT_APP_ID or CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, a GUID) and
# COPBOT_PUBLIC_URL (https) from the environment or the make command line.
.PHONY: package
package: install
	MICROSOFT_APP_ID="$(MICROSOFT_APP_ID)" COPBOT_PUBLIC_URL="$(COPBOT_PUBLIC_URL)" \
		$(BIN)/python -m deployment.manifest --out deployment/build/appPackage.zip

# The Playground journey test (tests/playground) drives Debian's Chromium. Install it when it is missing and
# apt-get can run without a prompt (root); otherwise say so and go on: that test then skips with the reason.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "Chromium is missing and apt-get needs root here: the Playground journey test will be skipped"; exit 0; fi; \
	echo "Installing Chromium with apt-get for the Playground journey test..."; \
	export DEBIAN_FRONTEND=noninteractive; \
	if timeout 900 apt-get install -y -q chromium >/dev/null 2>&1 \
		|| { timeout 300 apt-get update -q >/dev/null 2>&1 \
			&& timeout 900 apt-get install -y -q chromium >/dev/null 2>&1; }; then \
		echo "Chromium installed."; \
	else echo "Could not install Chromium with apt-get: the Playground journey test will be skipped"; fi

# The bot behind the Microsoft 365 Agents Playground (a Teams-like web client, offline) on 127.0.0.1; Ctrl-C stops
# both. See deployment/playground/README.md. ARGS="--fresh" starts from an empty store.
playground: install node
	$(BIN)/python -m deployment.playground $(ARGS)
