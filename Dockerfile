# One image for every Python service of compose.yaml: the MLflow tracking server, the Prefect
# server and worker, the Dask scheduler and workers. The locked dependencies, then the project,
# so that a flow run (Prefect worker) or a task (Dask worker) imports the same code as the
# machine that deployed it. Build: docker compose build (or docker build -t regimeforest .)
FROM python:3.11-slim-bookworm

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    MLFLOW_DISABLE_TELEMETRY=true \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    GX_ANALYTICS_ENABLED=false

RUN pip install --no-cache-dir uv==0.13.8 \
    && useradd --create-home --uid 1000 regimeforest \
    && mkdir /mlartifacts && chown regimeforest /mlartifacts

WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN uv pip sync --system --no-cache --compile-bytecode requirements.lock

COPY pyproject.toml README.md prefect.yaml ./
COPY ml_core ml_core
COPY reporting reporting
COPY tasks tasks
COPY flows flows
COPY expectations expectations
COPY deployments deployments
COPY regimeforest regimeforest
COPY configs configs
RUN uv pip install --system --no-cache --compile-bytecode --no-deps . \
    && mkdir mlruns && chown -R regimeforest /app

USER regimeforest
