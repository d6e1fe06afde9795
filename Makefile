# Options research warehouse: one obvious entry point per action. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# the backtests of `make all`: a forecast-gated long straddle and an ungated short iron condor on
# the real 2019 chain, the same two over the MODELED SPX chain 2007-2022 (warehouse/modeled_chain),
# and six Cboe strategy benchmarks by their published rules (engine/configs/benchmarks: BXM, BXMD,
# PUT, PPUT, CNDR, BFLY) on the modeled chain and on the real 2019 cycle, compared with the
# published indices where their histories are loaded (forecasts.rpt_benchmark_replication*)
STRATEGY_CONFIGS ?= engine/configs/long_straddle_spx.yaml engine/configs/iron_condor_spx.yaml engine/configs/long_straddle_spx_modeled.yaml engine/configs/iron_condor_spx_modeled.yaml engine/configs/iron_condor_spx_modeled_regime.yaml engine/configs/benchmarks/bxm.yaml engine/configs/benchmarks/bxmd.yaml engine/configs/benchmarks/put.yaml engine/configs/benchmarks/pput.yaml engine/configs/benchmarks/cndr.yaml engine/configs/benchmarks/bfly.yaml engine/configs/benchmarks/cll.yaml engine/configs/benchmarks/bxm_real_2019.yaml engine/configs/benchmarks/bxmd_real_2019.yaml engine/configs/benchmarks/put_real_2019.yaml engine/configs/benchmarks/pput_real_2019.yaml engine/configs/benchmarks/cndr_real_2019.yaml engine/configs/benchmarks/bfly_real_2019.yaml engine/configs/benchmarks/cll_real_2019.yaml
# the modeled chain's validation 2: five strategies on the real 2019 chain and on the modeled one over
# the same days (forecasts.rpt_modeled_chain_backtest_agreement); run after STRATEGY_CONFIGS
VALIDATION_CONFIGS ?= $(sort $(wildcard engine/configs/validation/*.yaml))
WAREHOUSE_DIR ?= warehouse
# DuckDB's memory limit and spill directory for dbt and every connection the product opens:
# WAREHOUSE_DUCKDB_MEMORY_LIMIT (default 4GB) and WAREHOUSE_DUCKDB_TEMP_DIR (default
# <WAREHOUSE_DIR>/build/tmp); e.g. `make all WAREHOUSE_DUCKDB_MEMORY_LIMIT=8GB` (warehouse/paths.py)
export WAREHOUSE_DUCKDB_MEMORY_LIMIT WAREHOUSE_DUCKDB_TEMP_DIR

export WAREHOUSE_DIR
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

# Writers run under the pipeline lock: a second `make all` (or load) fails at once with
# "pipeline already running (pid N)"; every process of one `make all` holds its lock (they inherit
# its descriptor) and dies with its holder (warehouse/pipeline.py).
LOCKED = $(BIN)/python -m warehouse locked
# One stage of a pipeline run, under the lock, recorded in build/run_manifest.json, which publish
# checks (warehouse/manifest.py): $(STAGE) <load|build|train|predict|backtest|attribute> -- <command>
STAGE = $(BIN)/python -m warehouse stage
# extra arguments of `make build`'s dbt build, e.g. DBT_ARGS="--select fct_option_quotes_universe+"
DBT_ARGS ?=
# what `make publish` checks: all (every stage of the pipeline run) or build (the last dbt build alone)
STAGES ?= all
# STRICT=1: a vendor file the load refused (no layout claims it, or it cannot be read) fails the
# command. Without it a refused file stops nothing: it is recorded in raw/_refused.parquet, the
# other files land, and `make all` publishes, then ends by listing it loudly (`python -m loaders
# refused`). With it, `make all` still publishes and then exits 1 at that last step;
# `make load STRICT=1` exits 1 at once.
STRICT ?=
# the backtest stage: each config of STRATEGY_CONFIGS then VALIDATION_CONFIGS, stopping at the first that fails
BACKTESTS = $(SHELL) $(.SHELLFLAGS) 'for c in $(STRATEGY_CONFIGS) $(VALIDATION_CONFIGS); do $(BIN)/python -m engine run --config "$$c"; done'

# Run a stage and print how long it took: $(call timed,<name>,<command>)
define timed
	@t0=$$(date +%s.%N); $(2); \
	printf '==> %-9s %6.1f s\n' '$(1)' "$$(awk "BEGIN {print $$(date +%s.%N) - $$t0}")"
endef

.DEFAULT_GOAL := help
.PHONY: help setup all pipeline load refused build forecast report attribution backtest publish sql summary app api screenshots test test-fast dq-self-test lint docs bench bench-engine clean reproducibility

help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the pinned dependencies (idempotent)

all: setup ## main job: load -> dbt build -> forecast -> backtest -> attribution -> publish, on the embedded real data; ends listing refused vendor files (STRICT=1: exit 1 if any)
	@$(LOCKED) --new-run -- $(MAKE) --no-print-directory pipeline

# `dbt build` builds the feature warehouse (default selector, selectors.yml); the models over
# ml.* and backtest.* (tag:forecasts) build after the forecasts and the backtest
pipeline: setup
	@echo "options warehouse: end-to-end run on the embedded real data (no network)"
	$(call timed,load,STRICT= $(STAGE) load -- $(BIN)/python -m loaders load)
	$(call timed,build,mkdir -p $(WAREHOUSE_DIR)/build && $(STAGE) build -- $(BIN)/dbt build --quiet --no-use-colors)
	$(call timed,train,$(STAGE) train -- $(BIN)/python -m ml train)
	$(call timed,predict,$(STAGE) predict -- $(BIN)/python -m ml predict)
	$(call timed,backtest,$(STAGE) backtest -- $(BACKTESTS))
	$(call timed,attribute,$(STAGE) attribute -- $(BIN)/dbt build --quiet --no-use-colors --select tag:forecasts)
	$(call timed,publish,$(BIN)/python -m warehouse publish >/dev/null)
	@$(BIN)/python -m ml report --model xgb_direction_5d --model xgb_iv_regime_5d --model xgb_option_return_5d
	@$(BIN)/python -m engine summary
	@STRICT='$(STRICT)' $(BIN)/python -m loaders refused

load: setup ## land the vendor files into warehouse/raw (validated parquet); refused files are recorded, not fatal (STRICT=1: exit 1)
	STRICT='$(STRICT)' $(STAGE) load -- $(BIN)/python -m loaders load

refused: setup ## list the vendor files the last load refused, with why (STRICT=1: exit 1 if any)
	@STRICT='$(STRICT)' $(BIN)/python -m loaders refused

build: setup ## dbt build of the feature warehouse (models + data tests + unit tests) into the private build database (DBT_ARGS="--select ...")
	mkdir -p $(WAREHOUSE_DIR)/build
	$(STAGE) build -- $(BIN)/dbt build $(DBT_ARGS)

forecast: setup ## train every model walk-forward, then predict the latest rows (ml.*)
	$(STAGE) train -- $(BIN)/python -m ml train
	$(STAGE) predict -- $(BIN)/python -m ml predict

report: setup ## out-of-sample scores of the current models against the naive baselines, and drift
	$(BIN)/python -m ml report

attribution: setup ## dbt build of the strategy selector and the forecast/backtest attribution marts (tag:forecasts)
	$(STAGE) attribute -- $(BIN)/dbt build --select tag:forecasts

backtest: setup ## run each config of STRATEGY_CONFIGS against the build database
	$(STAGE) backtest -- $(BACKTESTS)

publish: setup ## copy the build database atomically to warehouse/options.duckdb (every stage of the run completed; STAGES=build: the last dbt build alone)
	$(BIN)/python -m warehouse publish --stages $(STAGES)

sql: setup ## read-only SQL console on the published warehouse (no file access; end statements with ';')
	$(BIN)/python -m warehouse sql

summary: setup ## print the published backtest runs, one line each
	$(BIN)/python -m engine summary

app: setup ## serve the Streamlit app on http://127.0.0.1:8501 (reads the published warehouse)
	$(BIN)/streamlit run app/streamlit_app.py

api: setup ## serve the HTTP API on http://127.0.0.1:8000/api/v1 (docs at /docs; API_HOST, API_PORT override; POST needs OPTIONS_API_TOKEN)
	$(BIN)/python -m app.api --host $(or $(API_HOST),127.0.0.1) --port $(or $(API_PORT),8000)

# `make screenshots` needs Debian's chromium (`apt-get install chromium`) and a published warehouse
# (`make all`): without either it says which and exits 2. The tasks (tests/app/test_browser_tasks.py:
# a 20-delta bull put spread built in the form, run, saved, a trade drilled into, named on Compare)
# save into a throwaway copy of the warehouse, never into it.
screenshots: setup ## open every app page in headless Chromium (render times, errors), then a researcher's tasks on a copy of the warehouse (click-to-result times); screenshots in warehouse/reports/screenshots
	$(BIN)/python -m tests.app.browser --out $(WAREHOUSE_DIR)/reports/screenshots
	SCREENSHOTS_DIR=$(WAREHOUSE_DIR)/reports/screenshots/tasks OPTIONS_TEST_WAREHOUSE=$(WAREHOUSE_DIR) \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/app/test_browser_tasks.py

docs: setup ## dbt docs generate into target/docs (serve: .venv/bin/dbt docs serve --target-path target/docs)
	mkdir -p $(WAREHOUSE_DIR)/build
	$(BIN)/dbt docs generate --target-path target/docs

test: setup ## the whole test suite (includes an end-to-end build of a throwaway warehouse; installs Debian's chromium for the browser tests when run as root)
	@bash .ci/install-chromium
	$(BIN)/python -m pytest

test-fast: setup ## tests without the end-to-end build
	$(BIN)/python -m pytest -m "not slow"

# Two clean builds from the same inputs must be bit-identical, whatever the time zone (issue 15):
# each is a whole `make all` into its own warehouse, then warehouse/compare.py lists the tables
# that differ, ignoring only the run's own timestamps (exit 1 if any; about 7 min on 2 cores).
REPRO_DIR ?= /tmp/options-reproducibility
reproducibility: setup ## two clean `make all`s into REPRO_DIR (Asia/Tokyo, America/New_York), then list the tables that differ (none may)
	@test -n "$(REPRO_DIR)"
	rm -rf "$(REPRO_DIR)/a" "$(REPRO_DIR)/b"
	for run in a:Asia/Tokyo b:America/New_York; do \
		dir="$(REPRO_DIR)/$${run%%:*}"; mkdir -p "$$dir/build"; \
		TZ="$${run#*:}" DBT_TARGET_PATH="$$dir/target" DBT_LOG_PATH="$$dir/logs" \
			$(MAKE) --no-print-directory all WAREHOUSE_DIR="$$dir"; \
	done
	$(BIN)/python -m warehouse compare "$(REPRO_DIR)/a/options.duckdb" "$(REPRO_DIR)/b/options.duckdb"

dq-self-test: setup ## the data-quality catalogue finds exactly the violations planted in its fixtures
	$(BIN)/python -m pytest tests/models_sql/test_dq_catalogue.py

bench: setup ## benchmarks: load (vs pandas/polars), dbt build (full vs one appended day), IV solves/s (vs scipy), training and portfolio backtests (after make all)
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_build.py
	$(BIN)/python bench/bench_iv.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_portfolio.py --baseline $(BENCH_BASELINE)

# the engine before issue 14's clock, quote time, settlement and margin rework: bench_portfolio
# times it on the same inputs in the same run and prints the ratios
BENCH_BASELINE ?= 2541ddc

# optopsy (the peer) lives only in this benchmark venv, never in the project's dependencies
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: bench/requirements-bench.txt constraints.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements-bench.txt -c constraints.txt
	@touch $@

bench-engine: $(BENCH_VENV)/.installed ## scans and backtests against optopsy on the real and the 10x-tiled chain (after make all; ~10 min)
	PYTHONPATH=$(CURDIR):$(CURDIR)/bench $(BENCH_VENV)/bin/python bench/bench_engine.py

lint: setup ## ruff on the Python code
	$(BIN)/ruff check .

clean: ## remove everything generated (keeps .venv and the embedded vendor data)
	rm -rf $(WAREHOUSE_DIR)/raw $(WAREHOUSE_DIR)/build $(WAREHOUSE_DIR)/models \
		$(WAREHOUSE_DIR)/options.duckdb $(WAREHOUSE_DIR)/options.duckdb.tmp target logs
