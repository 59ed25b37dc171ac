"""The four targets on hand-made events: exact values of the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml_core.config import LabelConfig
from ml_core.data import load_sample_bars
from ml_core.labeling import TARGET_NAMES, make_targets, triple_barrier_events

CFG = LabelConfig(take_profit=2.0, stop_loss=1.0)


def events_frame() -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=6, freq="30min", tz="UTC", name="t0")
    return pd.DataFrame(
        {
            "t1": index + pd.Timedelta("2h"),
            #        TP    TP(closed under)  SL     vertical+  vertical0  vertical-
            "ret": [0.05, 0.01, -0.02, 0.005, 0.0, -0.003],
            "barrier": [1, 1, -1, 0, 0, 0],
            "vol": [0.01, 0.01, 0.01, 0.01, 0.02, 0.01],
            "holding_bars": [3, 2, 1, 4, 4, 4],
        },
        index=index,
    )


def test_targets_exact_values():
    ev = events_frame()
    tg = make_targets(ev, CFG)
    assert list(tg.columns) == list(TARGET_NAMES)
    assert tg.index.equals(ev.index)
    assert tg["entry"].tolist() == [1, 1, 0, 0, 0, 0]
    assert tg["exit"].tolist() == [0, 0, 1, 0, 1, 1]
    # position = clip(ret / (take_profit * vol), 0, 1); take_profit * vol = 0.02 (0.04 on row 4)
    assert_allclose(tg["position"], [1.0, 0.5, 0.0, 0.25, 0.0, 0.0], rtol=1e-12)
    assert_allclose(tg["profit"], ev["ret"], rtol=0)
    assert tg["entry"].dtype == np.int64 and tg["exit"].dtype == np.int64


def test_targets_on_the_sample_are_consistent():
    bars = load_sample_bars().iloc[:6000]
    ev = triple_barrier_events(bars, LabelConfig())
    tg = make_targets(ev, LabelConfig())
    assert tg["position"].between(0, 1).all()
    assert ((tg["entry"] == 1) == (ev["barrier"] == 1)).all()
    assert not ((tg["entry"] == 1) & (tg["exit"] == 1)).any()  # never both
    vertical_exit = (tg["exit"] == 1) & (ev["barrier"] == 0)
    assert vertical_exit.any() and (tg.loc[vertical_exit, "position"] == 0).all()
    # ret is close-to-close, so a stop-loss bar that closes above the entry still exits (exit=1)
    # with a positive profit; it happens, but rarely
    odd = (ev["barrier"] == -1) & (ev["ret"] > 0)
    assert (tg.loc[odd, "exit"] == 1).all() and odd.mean() < 0.05
    assert set(tg["exit"]) == {0, 1} and set(tg["entry"]) == {0, 1}


def test_bad_events_are_rejected():
    with pytest.raises(ValueError, match="lacks columns"):
        make_targets(events_frame().drop(columns="vol"), CFG)
    with pytest.raises(ValueError, match="barrier"):
        make_targets(events_frame().assign(barrier=[1, 2, 0, 0, 0, 0]), CFG)
    with pytest.raises(ValueError, match="vol"):
        make_targets(events_frame().assign(vol=0.0), CFG)
