"""buy_and_hold_metrics: holding the asset over a span, scored at the bars' own rate."""

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import buy_and_hold_metrics
from ml_core.evaluation._buy_and_hold import check_close, event_span

IDX = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
CLOSE = pd.Series([100.0, 110.0, 99.0, 108.9, 98.01, 107.811], index=IDX)  # +10%, -10%, ...


def test_hand_computed_span():
    m = buy_and_hold_metrics(CLOSE, IDX[1], IDX[4])
    r = np.array([-0.1, 0.1, -0.1])  # bars 2, 3 and 4: the close at IDX[1] is the entry
    assert m["n_bars"] == 3.0 and m["n_trades"] == 1.0
    assert m["total_return"] == pytest.approx(98.01 / 110.0 - 1, abs=1e-12)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(8760), rel=1e-12)
    assert m["sortino"] == pytest.approx(r.mean() / np.sqrt(0.02 / 3) * np.sqrt(8760), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(1 - 0.9 * 1.1 * 0.9, abs=1e-12)
    assert m["hit_rate"] == pytest.approx(1 / 3)


def test_span_ends_between_bars_use_the_last_bar_before_them():
    m = buy_and_hold_metrics(CLOSE, IDX[0] + pd.Timedelta("10min"), IDX[2] + pd.Timedelta("59min"))
    assert m["n_bars"] == 2.0 and m["total_return"] == pytest.approx(-0.01, abs=1e-12)


def test_a_span_of_one_bar_has_no_ratio():
    m = buy_and_hold_metrics(CLOSE, IDX[0], IDX[1])
    assert np.isnan(m["sharpe"]) and np.isnan(m["sortino"])
    assert m["total_return"] == pytest.approx(0.1) and m["max_drawdown"] == 0.0


def test_event_span_runs_from_the_first_start_to_the_last_label_end():
    events = pd.DataFrame({"t1": [IDX[3], IDX[2]]}, index=IDX[:2])
    assert event_span(events) == (IDX[0], IDX[3])


@pytest.mark.parametrize(
    ("close", "start", "end", "message"),
    [
        (CLOSE, IDX[0] - pd.Timedelta("1h"), IDX[3], "`close` must cover the span"),
        (CLOSE, IDX[3], IDX[3], "`end` must be after `start`"),
        (CLOSE.iloc[::-1], IDX[0], IDX[3], "`close` must be sorted"),
        (CLOSE.where(CLOSE.index != IDX[2], -1.0), IDX[0], IDX[3],
         "`close` must be positive and finite, got -1.0"),
        (CLOSE.reset_index(drop=True), IDX[0], IDX[3], "on a DatetimeIndex"),
        (CLOSE.iloc[:1], IDX[0], IDX[3], "at least 2 prices, got 1"),
    ],
)
def test_errors_name_the_parameter(close, start, end, message):
    with pytest.raises(ValueError, match=message):
        buy_and_hold_metrics(check_close(close), start, end)
