import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import trade_returns

IDX = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
EVENTS = pd.DataFrame({"ret": [0.02, 0.02, -0.03, 0.05]}, index=IDX)


def test_exact_returns_with_cost_on_entry_and_exit():
    sig = pd.DataFrame({"signal": [1, -1, -1, 0], "size": [1.0, 0.5, 0.2, 0.0]}, index=IDX)
    out = trade_returns(sig, EVENTS, cost_bps=10)
    # BUY: 1*1*0.02 - 0.001*2*1; SELL: -0.5*0.02 - 0.001*2*0.5; SELL: -0.2*-0.03 - 0.001*2*0.2
    np.testing.assert_allclose(out.to_numpy(), [0.018, -0.011, 0.0056, 0.0], atol=1e-15)
    assert out.index.equals(IDX) and out.name == "trade_return"


def test_hold_pays_nothing_even_with_a_size():
    sig = pd.DataFrame({"signal": [0], "size": [0.7]}, index=IDX[:1])
    assert trade_returns(sig, EVENTS, cost_bps=50).tolist() == [0.0]


def test_subset_of_events_in_any_order():
    sig = pd.DataFrame({"signal": [1, 1], "size": [1.0, 1.0]}, index=IDX[[3, 1]])
    assert trade_returns(sig, EVENTS, cost_bps=0).tolist() == [0.05, 0.02]


@pytest.mark.parametrize(
    ("sig", "cost", "message"),
    [
        (pd.DataFrame({"signal": [2], "size": [1.0]}, index=IDX[:1]), 0, "-1, 0 or 1"),
        (pd.DataFrame({"signal": [1], "size": [1.5]}, index=IDX[:1]), 0, r"\[0, 1\]"),
        (pd.DataFrame({"signal": [1]}, index=IDX[:1]), 0, "'signal' and 'size'"),
        (pd.DataFrame({"signal": [1], "size": [1.0]}, index=IDX[:1]), -1, "`cost_bps=-1`"),
        (pd.DataFrame({"signal": [1], "size": [1.0]},
                      index=pd.DatetimeIndex(["2030-01-01"], tz="UTC")), 0, "not events"),
    ],
)
def test_errors(sig, cost, message):
    with pytest.raises(ValueError, match=message):
        trade_returns(sig, EVENTS, cost_bps=cost)
