# regimeforest — two commands: `make run` (weekly retrain on the bundled sample) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
CONFIG ?= configs/demo.yaml
PORT   ?= 4200

export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false

.PHONY: install run serve serve-model loop test test-fast bench bench-tuning bench-commands ui clean

# Compiled bytecode is installed with the packages: these machines set PYTHONDONTWRITEBYTECODE,
# so without it every command compiles MLflow, Prefect and GX from source each time it starts.
SOURCES := ml_core reporting tasks flows expectations deployments regimeforest

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q $(SOURCES)  # the editable project's own modules
	@touch $@

run: install  ## install, then run the weekly retrain once on the bundled sample
	$(BIN)/regimeforest retrain --config $(CONFIG)

serve: install  ## Prefect server (unless PREFECT_API_URL), deployments of prefect.yaml, worker; Ctrl-C stops
	$(BIN)/python -m deployments.weekly_retrain --config $(CONFIG) --port $(PORT)

MODEL ?=
MODEL_PORT ?= 5001
serve-model: install  ## the champion (or, with none, the newest version, which holds) on MLflow's scoring server: POST bars to 127.0.0.1:$(MODEL_PORT)/invocations
	model="$(MODEL)"; [ -n "$$model" ] || model="$$($(BIN)/regimeforest serving-uri)" || exit 1; \
	PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI=sqlite:///mlruns/mlflow.db \
	  $(BIN)/mlflow models serve -m "$$model" --env-manager local -h 127.0.0.1 -p $(MODEL_PORT)

loop: install  ## the whole lifecycle on simulated bars: gate -> shadow -> rollout -> break -> rollback (~15 min)
	$(BIN)/regimeforest live-replay --config simulated --start 2025-03-01 --end 2025-05-10 --every 1d

test: install  ## install, then run the whole test suite
	$(BIN)/python -m pytest

test-fast: install  ## the suite without the tests marked slow or integration (Prefect, flows)
	$(BIN)/python -m pytest -m "not slow and not integration"

bench: install  ## install the `bench` extra (TA-Lib, ta), then run the benchmarks (~13 min)
	$(UV) pip install --quiet --python $(BIN)/python -r pyproject.toml --extra bench -c requirements.lock
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/regimes.py
	$(BIN)/python benchmarks/serving.py

bench-tuning: install  ## Hyperband against no pruning on BTC 5m (60 trials x 3 seeds, ~30 min)
	$(BIN)/python benchmarks/tuning.py

bench-commands: install  ## how fast the commands answer: --help, history, promote, rollback, validate-data (~2 min)
	$(BIN)/python benchmarks/commands.py

.PHONY: bench-scale
bench-scale: install  ## CPCV on 1 and 2 Dask workers, Prefect overhead, production projection (~20 min, ~30 shared; PostgreSQL)
	$(BIN)/python benchmarks/scale.py

ui: install  ## open the MLflow UI on the project's store
	$(BIN)/regimeforest ui

lock:  ## re-resolve requirements.lock from pyproject.toml and the checked versions
	$(UV) pip compile pyproject.toml --extra test -c configs/constraints.txt --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
