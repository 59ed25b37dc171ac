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


# ---------------------------------------------------------------- per-row thresholds and caps

def test_per_row_thresholds_exact():
    # row 1: 0.7 < 0.75 -> HOLD; row 3: 1 - 0.2 = 0.8 < 0.85 -> HOLD
    out = apply_signal_rule([0.75, 0.75, 0.25, 0.25], [0.0, 0.0, 0.5, 0.5], [1.0] * 4,
                            confidence_threshold=[0.625, 0.875, 0.75, 0.875])
    assert out["signal"].tolist() == [1, 0, -1, 0]
    assert out["size"].tolist() == [0.5, 0.0, 0.5, 0.0]
    assert out["confidence"].tolist() == [0.75, 0.75, 0.75, 0.75]


def test_max_size_caps_each_row_and_leaves_hold_at_zero():
    out = apply_signal_rule([0.875, 0.875, 0.125, 0.5], [0.0, 0.0, 1.0, 0.0], [1.0, 0.5, 1.0, 1.0],
                            confidence_threshold=0.75, max_size=[0.5, 0.5, 0.0, 0.25])
    # scaled sizes 0.75, 0.375, 0.75, (HOLD) -> min with the caps
    assert out["signal"].tolist() == [1, 1, -1, 0]
    assert out["size"].tolist() == [0.5, 0.375, 0.0, 0.0]
    scalar = apply_signal_rule([0.875, 0.125], [0.0, 1.0], [1.0, 1.0], confidence_threshold=0.75,
                               max_size=0.25)
    assert scalar["size"].tolist() == [0.25, 0.25]


def test_per_row_rule_equals_the_rule_row_by_row():
    rng = np.random.default_rng(7)
    n = 200
    p, p_exit, size = rng.uniform(size=n), rng.uniform(size=n), rng.uniform(size=n)
    threshold = rng.choice([0.55, 0.6, 0.7], n)
    cap = rng.uniform(size=n)
    out = apply_signal_rule(p, p_exit, size, confidence_threshold=threshold, max_size=cap)
    rows = pd.concat([
        apply_signal_rule(p[i:i + 1], p_exit[i:i + 1], size[i:i + 1],
                          confidence_threshold=float(threshold[i]), max_size=float(cap[i]),
                          index=[i])
        for i in range(n)
    ])
    pd.testing.assert_frame_equal(out, rows, check_exact=True, check_index_type=False)
    # one threshold repeated per row is the scalar rule
    pd.testing.assert_frame_equal(
        apply_signal_rule(p, p_exit, size, confidence_threshold=np.full(n, 0.6)),
        apply_signal_rule(p, p_exit, size, confidence_threshold=0.6), check_exact=True)


@pytest.mark.parametrize(("threshold", "message"), [
    ([0.6, 0.4, 1.2], r"`confidence_threshold` must be in \[0.5, 1\], got "
                      r"`confidence_threshold\[1\]=0.4`"),
    ([np.nan, 0.6, 0.6], r"`confidence_threshold\[0\]=nan`"),
    ([0.6, 0.6], r"`confidence_threshold` must be one value or one per row \(3 rows\), "
                 r"got shape \(2,\)"),
])
def test_per_row_threshold_errors_name_the_first_bad_row(threshold, message):
    with pytest.raises(ValueError, match=message):
        apply_signal_rule([0.5] * 3, [0.5] * 3, [0.5] * 3, confidence_threshold=threshold)


@pytest.mark.parametrize(("cap", "message"), [
    (1.5, r"`max_size` must be in \[0, 1\], got `max_size=1.5`"),
    ([0.5, -0.1], r"`max_size` must be in \[0, 1\], got `max_size\[1\]=-0.1`"),
    ([0.5], r"`max_size` must be one value or one per row \(2 rows\), got shape \(1,\)"),
])
def test_max_size_errors(cap, message):
    with pytest.raises(ValueError, match=message):
        apply_signal_rule([0.5] * 2, [0.5] * 2, [0.5] * 2, confidence_threshold=0.6,
                          max_size=cap)
