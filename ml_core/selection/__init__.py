"""Feature selection fitted on training data only: constant, correlated and unimportant features.

:class:`FeatureSelector` drops constant columns, one feature of each pair with ``|Pearson r|``
above a threshold (keeping the more important, by a ranking forest) and the features whose
normalised importance is below a threshold, never keeping fewer than ``min_features``. What it
dropped and why is in ``dropped_``. :class:`~ml_core.ensemble.RegimeForestEnsemble` fits one inside
its own ``fit``, so a cross-validation split never selects with its test rows.
"""

from ml_core.selection._selector import DROP_REASONS, DROPPED_COLUMNS, FeatureSelector

__all__ = ["DROPPED_COLUMNS", "DROP_REASONS", "FeatureSelector"]
