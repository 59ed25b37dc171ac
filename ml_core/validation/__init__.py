"""Leakage-free cross-validation for overlapping, time-ordered events.

:class:`PurgedKFold` and :class:`CombinatorialPurgedCV` purge every training event whose
``[t0, t1]`` label span overlaps a test block (widened backwards by ``purge``) and embargo the span
after it (López de Prado, *Advances in Financial Machine Learning*, ch. 7 and 12).
:class:`WalkForwardCV` tests consecutive windows, each trained only on (purged) earlier events.
"""

from ml_core.validation._combinatorial import CombinatorialPurgedCV
from ml_core.validation._kfold import PurgedKFold
from ml_core.validation._purging import purged_train_mask
from ml_core.validation._walk_forward import WalkForwardCV

__all__ = ["CombinatorialPurgedCV", "PurgedKFold", "WalkForwardCV", "purged_train_mask"]
