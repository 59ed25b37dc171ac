"""The regime simulator lives in :mod:`ml_core.regime._simulate` (shared with the benchmark)."""

from ml_core.regime._simulate import (CRYPTO_LIKE, SEPARATED, Scenario, bars_from_regime_returns,
                                      simulate)

__all__ = ["CRYPTO_LIKE", "SEPARATED", "Scenario", "bars_from_regime_returns", "simulate"]
