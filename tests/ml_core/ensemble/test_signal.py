import numpy as np
import pandas as pd
import pytest

from ml_core.ensemble import SIGNAL_BUY, SIGNAL_HOLD, SIGNAL_SELL, apply_signal_rule


def test_exact_signals_confidence_and_size():
    p_long = [0.70, 0.20, 0.20, 0.50, 0.60, 0.41, 0.90]
    p_exit = [0.00, 0.90, 0.10, 0.90, 0.00, 0.50, 0.00]
    size = [1.00, 0.50, 1.00, 1.00, 0.80, 1.00, 1.70]
    out = apply_signal_rule(p_long, p_exit, size, confidence_threshold=0.6)
    assert out["signal"].tolist() == [1, -1, 0, 0, 1, 0, 1]
    np.testing.assert_allclose(out["confidence"], [0.7, 0.8, 0.8, 0.5, 0.6, 0.59, 0.9])
    # size = clip(size, 0, 1) * (confidence - 0.5) / 0.5 on BUY/SELL, 0 on HOLD
    np.testing.assert_allclose(out["size"], [0.4, 0.3, 0.0, 0.0, 0.16, 0.0, 0.8], atol=1e-12)
    np.testing.assert_allclose(out["p_long"], p_long)
    assert out["signal"].dtype == np.int64
    assert (SIGNAL_BUY, SIGNAL_SELL, SIGNAL_HOLD) == (1, -1, 0)


def test_sell_needs_the_exit_forest_to_say_close():
    out = apply_signal_rule([0.1, 0.1], [0.49, 0.5], [1.0, 1.0], confidence_threshold=0.6)
    assert out["signal"].tolist() == [0, -1]


def test_buy_wins_the_tie_at_threshold_one_half():
    out = apply_signal_rule([0.5], [1.0], [1.0], confidence_threshold=0.5)
    assert out["signal"].tolist() == [1]
    assert out["size"].tolist() == [0.0]


def test_ranges_on_random_inputs_and_index():
    rng = np.random.default_rng(42)
    n = 500
    idx = pd.date_range("2024", periods=n, freq="h")
    out = apply_signal_rule(rng.uniform(size=n), rng.uniform(size=n), rng.uniform(-0.5, 1.5, n),
                            confidence_threshold=0.55, index=idx)
    assert out.index.equals(idx)
    assert out["confidence"].between(0.5, 1.0).all()
    assert out["size"].between(0.0, 1.0).all()
    assert (out.loc[out["signal"] == 0, "size"] == 0).all()
    assert set(out["signal"]) == {-1, 0, 1}


@pytest.mark.parametrize("threshold", [0.49, 1.01])
def test_threshold_out_of_range(threshold):
    with pytest.raises(ValueError, match=r"`confidence_threshold=.*`"):
        apply_signal_rule([0.5], [0.5], [0.5], confidence_threshold=threshold)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same length"):
        apply_signal_rule([0.5, 0.6], [0.5], [0.5], confidence_threshold=0.6)
