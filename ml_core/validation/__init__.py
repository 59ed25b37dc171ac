"""Leakage-free cross-validation for overlapping, time-ordered events.

:class:`PurgedKFold` and :class:`CombinatorialPurgedCV` purge every training event whose
``[t0, t1]`` label span overlaps a test block (widened backwards by ``purge``) and embargo the span
after it (López de Prado, *Advances in Financial Machine Learning*, ch. 7 and 12).
"""

from ml_core.validation._combinatorial import CombinatorialPurgedCV
from ml_core.validation._kfold import PurgedKFold
from ml_core.validation._purging import purged_train_mask

__all__ = ["CombinatorialPurgedCV", "PurgedKFold", "purged_train_mask"]
