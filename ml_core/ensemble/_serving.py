"""The prediction API shared by the fitted ensemble and its compiled (onnxruntime) form.

:class:`~ml_core.ensemble.RegimeForestEnsemble` (scikit-learn) and
:class:`~ml_core.ensemble.CompiledEnsemble` (onnxruntime) differ only in how they compute the
four forest outputs and the calibrated meta probability of each row. Everything after that — the
confidence threshold of each row, the Kelly/CVaR size caps, the signal rule and the smoother — is
written once here (:class:`SignalServing`), so the two engines cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_core.ensemble._checks import check_features
from ml_core.ensemble._regimes import REGIME_COLUMNS, row_thresholds
from ml_core.ensemble._signal import MODEL_NAMES
from ml_core.ensemble._sizing import SizingPolicy
from ml_core.ensemble._smoothing import SignalSmoother, SmootherState
from ml_core.regime import REGIME_LABELS

__all__ = ["COMPONENT_COLUMNS", "FeatureColumns", "SignalServing", "dominant_regimes"]

COMPONENT_COLUMNS: tuple[str, ...] = ("p_entry", "size", "p_exit", "profit")
"""Output of each forest, in :data:`MODEL_NAMES` order (see ``predict_components``)."""
_P_EXIT = COMPONENT_COLUMNS.index("p_exit")
"""Column of ``p_exit`` in the components (``_SIZE``: of ``size``)."""
_SIZE = COMPONENT_COLUMNS.index("size")
assert len(COMPONENT_COLUMNS) == len(MODEL_NAMES)


class FeatureColumns:
    """The fit's feature columns read from a frame, with a fast path for repeated layouts.

    :func:`~ml_core.ensemble._checks.check_features` selects the columns by name and checks every
    column's dtype: about 7 ms for one row of 141 columns, more than the forests themselves take
    in onnxruntime. A live stream sends frames of one layout, bar after bar, so the positions of
    the fit's columns are looked up once per layout and reused; a frame that is not all numeric
    and finite goes through :func:`check_features`, whose errors are the ones raised.

    Parameters
    ----------
    names : sequence of str
        The fit's columns (``feature_names_in_``), in the order of the returned values.
    """

    def __init__(self, names: Any) -> None:
        self.names = [str(c) for c in names]
        self._checked = np.asarray(self.names, dtype=object)
        # (the last layout's columns, the positions of `names` in it): one tuple, swapped whole
        self._layout: tuple[pd.Index, np.ndarray] | None = None

    def _positions(self, columns: pd.Index) -> np.ndarray | None:
        layout = self._layout
        if layout is not None and (columns is layout[0] or columns.equals(layout[0])):
            return layout[1]
        if not columns.is_unique:
            return None
        where = {c: i for i, c in enumerate(columns) if isinstance(c, str)}  # as check_features
        if any(name not in where for name in self.names):
            return None
        positions = np.asarray([where[name] for name in self.names], dtype=np.intp)
        self._layout = (columns, positions)
        return positions

    def values(self, X: pd.DataFrame) -> np.ndarray:
        """``X``'s fit columns as a float64 array of shape (n, len(names)); no NaN or inf.

        Raises what :func:`~ml_core.ensemble._checks.check_features` raises: ``TypeError`` for a
        non-frame or a non-numeric column, ``ValueError`` naming missing columns or the columns
        holding NaN or infinite values.
        """
        positions = self._positions(X.columns) if isinstance(X, pd.DataFrame) else None
        if positions is None:
            return check_features(X, self._checked)
        values = X.to_numpy()
        if values.dtype.kind not in "biuf":  # a non-numeric column: check_features names it
            return check_features(X, self._checked)
        values = values[:, positions].astype(np.float64, copy=False)
        if not np.isfinite(values).all():
            return check_features(X, self._checked)  # names the columns and the first row
        return values


class SignalServing:
    """Signals from forest outputs and calibrated meta probabilities: the serving half of the
    ensemble, shared by every engine.

    A subclass provides :meth:`_evaluate` (values → components, ``p_long``, dominant regimes) and
    :meth:`_check_ready`, and holds ``confidence_threshold``, ``regime_thresholds``,
    ``smoothing``, ``hysteresis_band``, ``ewma_span``, ``payoff_ratio``, ``kelly_fraction``,
    ``cvar_budget`` and, once fitted, ``tail_loss_`` and ``regime_mode_`` (see
    :class:`~ml_core.ensemble.RegimeForestEnsemble` for their meaning).
    """

    confidence_threshold: float
    regime_thresholds: dict[str, float] | None
    smoothing: str
    hysteresis_band: float
    ewma_span: int
    payoff_ratio: float
    kelly_fraction: float | None
    cvar_budget: float | None

    # ------------------------------------------------------------- provided by the engine

    def _check_ready(self) -> None:
        raise NotImplementedError

    def _evaluate(self, X: pd.DataFrame, *, regimes: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(components (n, 4), proba (n, 2), dominant regimes (n,) or None)`` of ``X``'s rows;
        the regimes are returned when ``regimes`` is true and ``X`` has rows."""
        raise NotImplementedError

    def _evaluate_values(self, values: np.ndarray, *, regimes: bool
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`_evaluate` of a float64 array whose columns are ``feature_names_in_``, in
        order, all finite."""
        raise NotImplementedError

    # ------------------------------------------------------------- shared

    def _mode(self) -> str:
        # a model saved before regime modes existed has no regime_mode_: it was global
        return getattr(self, "regime_mode_", "global")

    def predict_components(self, X: pd.DataFrame) -> pd.DataFrame:
        """Outputs of the four forests fitted on all rows.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n, n_features)
            The fit's feature columns (extra columns are ignored; order does not matter).

        Returns
        -------
        pandas.DataFrame of shape (n, 4)
            ``p_entry`` (entry forest P(take-profit first)), ``size`` (position forest, clipped to
            ``[0, 1]``), ``p_exit`` (exit forest P(close)), ``profit`` (profit forest), on
            ``X.index``.
        """
        components = self._evaluate(X, regimes=False)[0]
        return pd.DataFrame(components, index=X.index, columns=list(COMPONENT_COLUMNS))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated meta probabilities, shape (n, 2): ``[P(no TP first), P(take-profit first)]``.

        The meta-learner of each row's regime (``regime_mode="models"``) or the global one, then
        the calibrator (none with ``calibration="none"``).
        """
        return self._evaluate(X, regimes=False)[1]

    def confidence_thresholds(self, X: pd.DataFrame) -> np.ndarray:
        """Confidence threshold of each row, shape (n,): ``regime_thresholds`` of the row's
        dominant regime with ``regime_mode_="thresholds"``, else ``confidence_threshold``."""
        self._check_ready()
        if self._mode() != "thresholds":
            return np.full(len(X), float(self.confidence_threshold))
        from ml_core.ensemble._regimes import dominant_regime

        return self._thresholds(dominant_regime(X))

    def _thresholds(self, regimes: np.ndarray) -> np.ndarray:
        return row_thresholds(regimes, self.regime_thresholds or {}, self.confidence_threshold)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Signal, confidence and size of each row, by the signal rule (see
        :class:`~ml_core.ensemble.RegimeForestEnsemble`).

        Returns
        -------
        pandas.DataFrame of shape (n, 4)
            On ``X.index``: ``signal`` (int: +1 BUY, -1 SELL, 0 HOLD), ``confidence`` (in
            ``[0.5, 1]``), ``size`` (in ``[0, 1]``, 0 on HOLD), ``p_long`` (calibrated meta
            probability).
        """
        return self.predict_from(X, None)[0]

    def smoother(self) -> SignalSmoother:
        """The signal smoother of ``smoothing`` (its ``initial_state()`` starts a live stream)."""
        return SignalSmoother(self.smoothing, band=self.hysteresis_band, span=self.ewma_span)

    def sizing(self) -> SizingPolicy | None:
        """The size caps in force (Kelly and CVaR), None without either."""
        self._check_ready()
        if self.kelly_fraction is None and self.cvar_budget is None:
            return None
        return SizingPolicy(payoff_ratio=self.payoff_ratio,
                            kelly_fraction=self.kelly_fraction or 1.0,
                            tail_loss=self.tail_loss_, cvar_budget=self.cvar_budget)

    def predict_from(self, X: pd.DataFrame,
                     state: SmootherState | None) -> tuple[pd.DataFrame, SmootherState]:
        """:meth:`predict` continuing from a smoother ``state`` (None: a fresh start), and the
        state after the last row: the live predictor carries it from one bar to the next, so
        a stream of one-row calls equals one call on all rows."""
        thresholds = self._mode() == "thresholds"
        columns, state = self._signal(*self._evaluate(X, regimes=thresholds), state)
        return pd.DataFrame(columns, index=X.index), state

    def predict_values(self, values: np.ndarray, state: SmootherState | None
                       ) -> tuple[dict[str, np.ndarray], SmootherState]:
        """:meth:`predict_from` on an array, with no frame in or out: the live path's call.

        Parameters
        ----------
        values : numpy.ndarray of shape (n, n_features_in_)
            float64 rows whose columns are ``feature_names_in_``, in that order, all finite
            (the caller has checked them: nothing is checked here).
        state : SmootherState or None
            As in :meth:`predict_from`.

        Returns
        -------
        (dict of str to numpy.ndarray, SmootherState)
            ``signal``, ``confidence``, ``size``, ``p_long`` of each row (the columns
            :meth:`predict_from` returns), and the state after the last row.
        """
        thresholds = self._mode() == "thresholds"
        return self._signal(*self._evaluate_values(values, regimes=thresholds), state)

    def _signal(self, components: np.ndarray, proba: np.ndarray, regimes: np.ndarray | None,
                state: SmootherState | None) -> tuple[dict[str, np.ndarray], SmootherState]:
        """The signal rule and the smoother on evaluated rows (see :meth:`predict_from`)."""
        threshold: float | np.ndarray = self.confidence_threshold
        if self._mode() == "thresholds" and regimes is not None:
            threshold = self._thresholds(regimes)
        smoother = self.smoother()
        return smoother.run_arrays(
            smoother.initial_state() if state is None else state,
            proba[:, 1],
            components[:, _P_EXIT],
            components[:, _SIZE],
            confidence_threshold=threshold,
            sizing=self.sizing(),
        )


def dominant_regimes(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Dominant regime label of each row from the columns at ``positions`` (the
    :data:`REGIME_COLUMNS`, in order) of ``values``: the array form of
    :func:`~ml_core.ensemble._regimes.dominant_regime` (ties go to the first)."""
    assert len(positions) == len(REGIME_COLUMNS)
    return np.asarray(REGIME_LABELS, dtype=object)[values[:, positions].argmax(axis=1)]
