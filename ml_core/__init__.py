"""regimeforest's pure library: features, regimes, labels, ensemble, validation, tuning.

Only numpy, pandas, scipy, scikit-learn, hmmlearn, optuna and pydantic are imported here; never
prefect, mlflow or great_expectations. Importing this package does no work: submodules are imported
where they are used.
"""

__version__ = "0.1.0"
