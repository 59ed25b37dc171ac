import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_core.config import EnsembleConfig
from ml_core.ensemble._signal import apply_signal_rule
from ml_core.ensemble._sizing import SizingPolicy
from ml_core.ensemble._smoothing import SignalSmoother, SmootherState, turnover

ONES = [1.0] * 6

# ---------------------------------------------------------------- EWMA


def test_ewma_recursion_exact_values():
    # span 3: a = 0.5; s_0 = p_0, s_t = 0.5 p_t + 0.5 s_{t-1}
    smoother = SignalSmoother("ewma", span=3)
    assert smoother.smooth_probabilities([0.75, 0.25, 0.5, 1.0]).tolist() == [0.75, 0.5, 0.5, 0.75]
    # span 7: a = 0.25
    assert SignalSmoother("ewma", span=7).smooth_probabilities([1.0, 0.0, 0.0]).tolist() == [
        1.0, 0.75, 0.5625]
    assert SignalSmoother("ewma", span=1).smooth_probabilities([0.2, 0.9]).tolist() == [0.2, 0.9]


def test_ewma_matches_pandas_adjust_false():
    p = np.random.default_rng(3).uniform(size=300)
    expected = pd.Series(p).ewm(span=4, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(SignalSmoother("ewma", span=4).smooth_probabilities(p), expected,
                               rtol=0, atol=1e-14)


def test_ewma_feeds_the_rule():
    p = [0.75, 0.25, 0.75, 0.25]
    raw = SignalSmoother("none").apply(p, [1.0] * 4, [1.0] * 4, confidence_threshold=0.6)
    assert raw["signal"].tolist() == [1, -1, 1, -1]
    out = SignalSmoother("ewma", span=3).apply(p, [1.0] * 4, [1.0] * 4, confidence_threshold=0.6)
    # smoothed p: 0.75, 0.5, 0.625, 0.4375 (1 - 0.4375 = 0.5625 < 0.6: HOLD)
    assert out["p_long"].tolist() == [0.75, 0.5, 0.625, 0.4375]
    assert out["signal"].tolist() == [1, 0, 1, 0]
    assert out["size"].tolist() == [0.5, 0.0, 0.25, 0.0]


def test_none_is_the_identity():
    p, p_exit, size = [0.7, 0.3, 0.55], [0.0, 0.9, 0.0], [1.0, 0.5, 1.0]
    smoother = SignalSmoother("none")
    assert smoother.smooth_probabilities(p).tolist() == p
    frame = apply_signal_rule(p, p_exit, size, confidence_threshold=0.6)
    pd.testing.assert_frame_equal(smoother.smooth_signals(frame, 0.6), frame, check_exact=True)
    pd.testing.assert_frame_equal(smoother.apply(p, p_exit, size, confidence_threshold=0.6),
                                  frame, check_exact=True)


# ---------------------------------------------------------------- hysteresis
# threshold 0.75, band 0.125: a position is kept down to confidence 0.625 (exact in binary)


def test_hysteresis_keeps_a_long_through_a_dip_within_the_band_and_exits_below_it():
    p = [0.875, 0.6875, 0.625, 0.5625, 0.6875, 0.8125]
    raw = apply_signal_rule(p, [0.0] * 6, ONES, confidence_threshold=0.75)
    assert raw["signal"].tolist() == [1, 0, 0, 0, 0, 1]
    out = SignalSmoother("hysteresis", band=0.125).smooth_signals(raw, 0.75)
    # kept at 0.6875 and at the edge 0.625 with the entry size; exits at 0.5625; the band never
    # opens a position (row 4 is flat before it)
    assert out["signal"].tolist() == [1, 1, 1, 0, 0, 1]
    assert out["size"].tolist() == [0.75, 0.75, 0.75, 0.0, 0.0, 0.625]
    pd.testing.assert_series_equal(out["confidence"], raw["confidence"])
    pd.testing.assert_series_equal(out["p_long"], raw["p_long"])


def test_hysteresis_keeps_a_short_and_flips_only_at_the_full_threshold():
    p = [0.125, 0.3125, 0.3125, 0.6875, 0.875, 0.3125]
    p_exit = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    raw = apply_signal_rule(p, p_exit, ONES, confidence_threshold=0.75)
    assert raw["signal"].tolist() == [-1, 0, 0, 0, 1, 0]
    out = SignalSmoother("hysteresis", band=0.125).smooth_signals(raw, 0.75)
    # SELL kept while 1 - p = 0.6875 (the exit forest gates entries only); p = 0.6875 is in the
    # long's band but not at its threshold: the short is left, no long is opened; the long at
    # 0.875 is a full-threshold entry; then 0.3125 is in no band of the long: exit, not SELL.
    assert out["signal"].tolist() == [-1, -1, -1, 0, 1, 0]
    assert out["size"].tolist() == [0.75, 0.75, 0.75, 0.0, 0.75, 0.0]


def test_hysteresis_reverses_when_the_other_side_qualifies():
    p = [0.875, 0.125]
    out = SignalSmoother("hysteresis", band=0.125).apply(p, [1.0, 1.0], [1.0, 1.0],
                                                         confidence_threshold=0.75)
    assert out["signal"].tolist() == [1, -1]


def test_hysteresis_never_keeps_a_side_the_model_no_longer_favours():
    # threshold 0.625, band 0.25: threshold - band = 0.375, floored at 0.5
    p = [0.75, 0.5, 0.4375]
    raw = apply_signal_rule(p, [0.0] * 3, [1.0] * 3, confidence_threshold=0.625)
    out = SignalSmoother("hysteresis", band=0.25).smooth_signals(raw, 0.625)
    assert out["signal"].tolist() == [1, 1, 0]


def test_hysteresis_caps_a_kept_size_and_a_zero_cap_exits():
    p = [0.875, 0.6875, 0.6875, 0.6875]
    raw = apply_signal_rule(p, [0.0] * 4, [1.0] * 4, confidence_threshold=0.75)
    out = SignalSmoother("hysteresis", band=0.125).smooth_signals(
        raw, 0.75, max_size=[1.0, 0.5, 1.0, 0.0])
    # the kept size never grows back after a cap
    assert out["signal"].tolist() == [1, 1, 1, 0]
    assert out["size"].tolist() == [0.75, 0.5, 0.5, 0.0]


def test_hysteresis_with_per_row_thresholds():
    p = [0.875, 0.6875, 0.6875]
    thresholds = [0.75, 0.75, 0.875]  # row 2's regime demands more: floor 0.75 > 0.6875
    raw = apply_signal_rule(p, [0.0] * 3, [1.0] * 3, confidence_threshold=thresholds)
    out = SignalSmoother("hysteresis", band=0.125).smooth_signals(raw, thresholds)
    assert out["signal"].tolist() == [1, 1, 0]


def test_hysteresis_with_sizing_policy():
    # half Kelly at b = 1 for the side p favours: 0.375, 0.1875
    sizing = SizingPolicy(payoff_ratio=1.0, kelly_fraction=0.5)
    out = SignalSmoother("hysteresis", band=0.125).apply(
        [0.875, 0.6875], [0.0, 0.0], [1.0, 1.0], confidence_threshold=0.75, sizing=sizing)
    assert out["signal"].tolist() == [1, 1]
    assert out["size"].tolist() == [0.375, 0.1875]


# ---------------------------------------------------------------- batch == streaming


def test_step_carries_the_state():
    smoother = SignalSmoother("hysteresis", band=0.125)
    state = smoother.initial_state()
    assert state == SmootherState(ewma=None, signal=0, size=0.0)
    row, state = smoother.step(state, 0.875, 0.0, 1.0, confidence_threshold=0.75, label="a")
    assert row.index.tolist() == ["a"] and row["signal"].tolist() == [1]
    assert state == SmootherState(ewma=None, signal=1, size=0.75)
    row, state = smoother.step(state, 0.6875, 0.0, 1.0, confidence_threshold=0.75)
    assert row["signal"].tolist() == [1] and row["size"].tolist() == [0.75]
    ewma = SignalSmoother("ewma", span=3)
    _, state = ewma.step(ewma.initial_state(), 0.75, 0.0, 1.0, confidence_threshold=0.6)
    row, state = ewma.step(state, 0.25, 0.0, 1.0, confidence_threshold=0.6)
    assert row["p_long"].tolist() == [0.5] and state.ewma == 0.5


_probability = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_probability, _probability, st.floats(-0.5, 1.5),
                            st.sampled_from([0.5, 0.55, 0.6, 0.75])), min_size=1, max_size=40),
    method=st.sampled_from(["none", "hysteresis", "ewma"]),
    band=st.sampled_from([0.0, 0.05, 0.2, 0.45]),
    span=st.integers(1, 8),
    sized=st.booleans(),
    cut=st.integers(0, 40),
)
def test_batch_equals_streaming(rows, method, band, span, sized, cut):
    p, p_exit, size, threshold = (np.array(col) for col in zip(*rows, strict=True))
    sizing = SizingPolicy(payoff_ratio=1.5, kelly_fraction=0.5, tail_loss=0.05,
                          cvar_budget=0.02) if sized else None
    smoother = SignalSmoother(method, band=band, span=span)
    index = pd.RangeIndex(len(rows))
    batch = smoother.apply(p, p_exit, size, confidence_threshold=threshold, sizing=sizing,
                           index=index)

    state, streamed = smoother.initial_state(), []
    for i in range(len(rows)):
        row, state = smoother.step(state, p[i], p_exit[i], size[i],
                                   confidence_threshold=float(threshold[i]), sizing=sizing,
                                   label=i)
        streamed.append(row)
    pd.testing.assert_frame_equal(pd.concat(streamed), batch, check_exact=True,
                                  check_index_type=False)

    # two chunks, the second from the first's state
    k = min(cut, len(rows))
    first, mid = smoother.run(smoother.initial_state(), p[:k], p_exit[:k], size[:k],
                              confidence_threshold=threshold[:k], sizing=sizing, index=index[:k])
    second, end = smoother.run(mid, p[k:], p_exit[k:], size[k:],
                               confidence_threshold=threshold[k:], sizing=sizing, index=index[k:])
    pd.testing.assert_frame_equal(pd.concat([first, second]), batch, check_exact=True)
    assert end == state

    # the two-stage batch use equals apply
    smoothed = smoother.smooth_probabilities(p)
    caps = None if sizing is None else sizing.caps(smoothed)
    frame = apply_signal_rule(smoothed, p_exit, size, confidence_threshold=threshold, index=index,
                              max_size=1.0 if caps is None else caps)
    pd.testing.assert_frame_equal(smoother.smooth_signals(frame, threshold, max_size=caps),
                                  batch, check_exact=True)
    assert batch["size"].between(0.0, 1.0).all()


# ---------------------------------------------------------------- turnover


def test_turnover_of_a_hand_made_sequence():
    frame = pd.DataFrame({"signal": [1, 1, 0, -1, -1, 1], "size": [0.5, 0.25, 0.0, 0.5, 0.5, 0.25]})
    # positions 0.5, 0.25, 0, -0.5, -0.5, 0.25: 0.25 + 0.25 + 0.5 + 0 + 0.75
    assert turnover(frame) == 1.75
    assert turnover(frame.iloc[:1]) == 0.0
    assert turnover(frame.iloc[:0]) == 0.0


def test_turnover_errors():
    with pytest.raises(ValueError, match="`signal_frame` must be a DataFrame with columns"):
        turnover(pd.DataFrame({"signal": [1]}))
    with pytest.raises(ValueError, match="`signal_frame` must have finite"):
        turnover(pd.DataFrame({"signal": [1, 1], "size": [0.5, np.nan]}))


def test_smoothing_lowers_turnover_on_a_noisy_probability():
    rng = np.random.default_rng(0)
    n = 400
    p = np.clip(0.5 + 0.15 * np.sin(2 * np.pi * np.arange(n) / 80) + rng.normal(0, 0.08, n),
                0.0, 1.0)
    ones = np.ones(n)

    def measured(smoother):
        return round(turnover(smoother.apply(p, ones, ones, confidence_threshold=0.6)), 6)

    raw = measured(SignalSmoother("none"))
    ewma = measured(SignalSmoother("ewma", span=5))
    hysteresis = measured(SignalSmoother("hysteresis", band=0.05))
    wide = measured(SignalSmoother("hysteresis", band=0.1))
    assert (raw, ewma, hysteresis, wide) == (76.75595, 23.738605, 57.565123, 42.169731)
    assert ewma < wide < hysteresis < raw


# ---------------------------------------------------------------- parameters and errors


def test_from_config():
    smoother = SignalSmoother.from_config(
        EnsembleConfig(smoothing="hysteresis", hysteresis_band=0.1, ewma_span=4))
    assert (smoother.method, smoother.band, smoother.span) == ("hysteresis", 0.1, 4)
    assert repr(smoother) == "SignalSmoother('hysteresis', band=0.1, span=4)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "median"}, r"`method` must be one of \('none', 'hysteresis', 'ewma'\), got "
                           r"`method='median'`"),
    ({"band": 0.5}, r"`band` must be in \[0, 0.5\), got `band=0.5`"),
    ({"band": -0.1}, r"`band=-0.1`"),
    ({"span": 0}, r"`span` must be an integer of at least 1, got `span=0`"),
    ({"span": 2.5}, r"`span=2.5`"),
    ({"span": True}, r"`span=True`"),
])
def test_parameter_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SignalSmoother(**kwargs)


def test_input_errors_name_the_parameter():
    smoother = SignalSmoother("ewma")
    with pytest.raises(ValueError, match=r"`p_long` must be in \[0, 1\], got `p_long\[1\]=nan`"):
        smoother.smooth_probabilities([0.5, np.nan])
    with pytest.raises(ValueError, match=r"`p_long` must be 1-d"):
        smoother.smooth_probabilities([[0.5]])
    with pytest.raises(ValueError, match=r"`frame` must be a DataFrame with columns"):
        smoother.smooth_signals(pd.DataFrame({"signal": [1]}), 0.6)
    frame = apply_signal_rule([0.7, 0.7], [0.0, 0.0], [1.0, 1.0], confidence_threshold=0.6)
    with pytest.raises(ValueError, match=r"`confidence_threshold\[1\]=0.3`"):
        smoother.smooth_signals(frame, [0.6, 0.3])
    with pytest.raises(ValueError, match=r"`max_size\[0\]=2.0`"):
        smoother.smooth_signals(frame, 0.6, max_size=[2.0, 1.0])


@pytest.mark.parametrize("method", ["none", "hysteresis", "ewma"])
def test_run_arrays_are_run_without_the_frame(method):
    """The live path's arrays (no frame built) are exactly the columns of ``run``."""
    from ml_core.ensemble import SizingPolicy

    rng = np.random.default_rng(42)
    p, p_exit, size = rng.uniform(size=(3, 50))
    smoother = SignalSmoother(method, band=0.1, span=3)
    sizing = SizingPolicy(kelly_fraction=0.5, tail_loss=0.05, cvar_budget=0.02)
    start = SmootherState(ewma=0.55, signal=1, size=0.3)
    frame, state = smoother.run(start, p, p_exit, size, confidence_threshold=0.6, sizing=sizing)
    columns, same_state = smoother.run_arrays(start, p, p_exit, size, confidence_threshold=0.6,
                                              sizing=sizing)
    assert same_state == state and list(columns) == frame.columns.tolist()
    pd.testing.assert_frame_equal(pd.DataFrame(columns), frame, check_exact=True)
