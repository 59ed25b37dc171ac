"""Save a small fitted model and its signals as a compatibility fixture.

Every later release must load the saved model and predict exactly these signals (same rows, same
signal, ``p_long`` within 1e-9), or refuse it naming its format version. Run this once per model
format, with the release that writes that format, into a new directory::

    python scripts/make_model_fixture.py   # -> tests/fixtures/models/format_<MODEL_FORMAT>

The directory holds ``model/`` (:func:`ml_core.pipeline.save_pipeline`), ``bars.parquet`` (the
bars it predicts on, so the fixture does not depend on the bundled sample staying as it is) and
``signals.parquet`` (what it predicted on them when it was saved).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ml_core.config import Config
from ml_core.data import load_sample_bars
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import (RegimeForestPipeline, assemble_training_set, load_pipeline,
                              save_pipeline)
from ml_core.regime import RegimeHMM

TRAIN_BARS = 3000
"""Training bars: the most recent bars of the bundled sample before the prediction window."""
PREDICT_BARS = 800
"""Bars the fixture predicts on (the first few hundred warm the features up)."""

# The format-1 fixture was made from this profile in schema 1 (the same windows counted in 30m
# bars: frac_diff_window 50, volatility_window 24, volatility_span 50, max_holding_bars 24).
PROFILE = {
    "schema_version": 2,
    "profile": "fixture",
    "seed": 11,
    "features": {"higher_timeframes": ["1h", "4h"], "frac_diff_window": "25h",
                 "volatility_window": "12h", "selection": {"n_estimators": 10, "min_features": 8}},
    "regime": {"n_restarts": 2, "n_iter": 100},
    "labels": {"volatility_span": "25h", "max_holding": "12h", "cusum_threshold": 1.5},
    "ensemble": {
        "entry": {"kind": "classifier", "n_estimators": 6, "max_depth": 4},
        "position": {"kind": "regressor", "n_estimators": 6, "max_depth": 4},
        "exit": {"kind": "classifier", "n_estimators": 6, "max_depth": 4},
        "profit": {"kind": "regressor", "n_estimators": 6, "max_depth": 4},
        "meta_folds": 2, "confidence_threshold": 0.51, "calibration": "none",  # trades both ways
    },
    "validation": {"purge": "12h", "embargo": "6h"},
}


def make_fixture(out: Path) -> None:
    """Fit the fixture model, save it with its bars and signals under ``out`` (must not exist)."""
    if out.exists():
        raise FileExistsError(f"`out` must not exist yet, got {out}")
    config = Config.model_validate(PROFILE)
    bars = load_sample_bars()
    train = bars.iloc[-(TRAIN_BARS + PREDICT_BARS):-PREDICT_BARS]
    regime = RegimeHMM.from_config(config.regime, config.data.timeframe, config.seed).fit(train)
    features_only = RegimeForestPipeline(config=config, regime=regime)
    dataset = assemble_training_set(features_only.features(train),
                                    triple_barrier_events(train, config.labels), config.labels)
    ensemble = RegimeForestEnsemble.from_config(
        config.ensemble, config.validation, config.seed, selection=config.features.selection,
        labels=config.labels)
    ensemble.fit(dataset.X, dataset.targets, dataset.t1)
    pipeline = RegimeForestPipeline(config=config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns),
                                    metadata={"fixture": "compatibility"})
    out.mkdir(parents=True)
    save_pipeline(pipeline, out / "model")
    window = bars.iloc[-PREDICT_BARS:]
    window.to_parquet(out / "bars.parquet")
    signals = load_pipeline(out / "model").predict(window)
    signals.to_parquet(out / "signals.parquet")
    print(f"{out}: {len(signals)} signals, {(signals['signal'] != 0).sum()} trades")


if __name__ == "__main__":
    from ml_core._migrations import MODEL_FORMAT

    default = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "models"
    make_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else default / f"format_{MODEL_FORMAT}")
