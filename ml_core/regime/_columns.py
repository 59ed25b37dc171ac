"""The regime columns :meth:`RegimeHMM.transform` produces: names, order and meaning, in one place.

The batch path (:meth:`RegimeHMM.regime_features`, vectorised) and the streaming path
(:class:`~ml_core.regime.RegimeStream`, one bar at a time) both produce exactly these columns in
exactly this order; :func:`~ml_core.regime.regime_feature_specs` describes them from this table.
The first six are the original columns; later ones are appended so column positions never move.
"""

from __future__ import annotations

from ml_core.regime._labels import REGIME_LABELS

COLUMN_DESCRIPTIONS: dict[str, str] = {
    **{
        f"regime_prob_{label}": f"filtered probability P({label} | regime bars so far)"
        for label in REGIME_LABELS
    },
    "regime_state": "most likely regime (argmax of the filtered probabilities): "
    + ", ".join(f"{k} {label}" for k, label in enumerate(REGIME_LABELS)),
    "regime_duration": "regime bars since the most likely regime last changed (0 on a change)",
    "regime_transition_prob": "1 - transmat[s, s]: model probability of leaving the current "
    "regime at the next regime bar",
    "regime_confidence": "largest filtered probability (1/3 = no idea, 1 = certain)",
    "regime_entropy": "entropy of the filtered probabilities divided by log 3 (0 = certain, "
    "1 = uniform)",
    "regime_conditional_vol": "latest realised volatility over the median volatility the HMM "
    "expects in the current regime (> 1: more turbulent than the regime usually is)",
    "regime_expected_duration": "1 / (1 - transmat[s, s]): mean length in regime bars of a "
    "visit to the current regime",
    "regime_surprise": "-log p(latest observation | earlier ones) under the HMM, in standardised "
    "units: high when the bar fits none of the regimes the filter expected",
}

TRANSFORM_COLUMNS: tuple[str, ...] = tuple(COLUMN_DESCRIPTIONS)
