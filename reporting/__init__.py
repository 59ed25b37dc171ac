"""The reporting layer: figures, markdown and HTML built from results, returned as objects or
files. Tasks wire it to MLflow and Prefect; it never imports prefect, mlflow or
great_expectations, and importing it does no work (modules are imported one by one)."""
