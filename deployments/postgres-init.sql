-- Run once by the postgres image on an empty data volume (compose.yaml mounts it into
-- /docker-entrypoint-initdb.d/): one database per store of the scale profile.
CREATE DATABASE mlflow;   -- MLflow's tracking store and model registry
CREATE DATABASE prefect;  -- Prefect's server: flows, deployments, runs, work pools
CREATE DATABASE optuna;   -- the tuning studies (tuning.storage)
CREATE DATABASE bars;     -- the bar store (data.store)
