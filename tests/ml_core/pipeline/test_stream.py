"""The live path: streamed feature rows equal the batch pipeline's, bar by bar, and a bad bar is
refused without touching the stream's state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.config import Config
from ml_core.data import load_sample_bars
from ml_core.pipeline import PipelineStream, RegimeForestPipeline
from ml_core.pipeline._stream import BarRejected
from ml_core.regime import RegimeHMM

CONFIG = Config.model_validate({
    "profile": "unit",
    "features": {"higher_timeframes": ["1h", "4h", "1d"], "frac_diff_window": 50,
                 "volatility_window": 24},
    "regime": {"n_restarts": 1, "n_iter": 200},
})


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars().iloc[-5000:]


@pytest.fixture(scope="module")
def pipeline(bars: pd.DataFrame) -> RegimeForestPipeline:
    regime = RegimeHMM.from_config(CONFIG.regime, CONFIG.data.timeframe, 3).fit(bars)
    return RegimeForestPipeline(config=CONFIG, regime=regime)


def test_streamed_rows_equal_the_batch_pipeline(pipeline, bars):
    batch = pipeline.features(bars)
    stream = pipeline.stream()
    assert isinstance(stream, PipelineStream)
    assert stream.columns == list(batch.columns)
    streamed = stream.update_frame(bars)
    assert (streamed.isna() == batch.isna()).all().all()
    error = ((streamed - batch).abs() / np.maximum(1.0, batch.abs())).max()
    assert error.max() <= 1e-9, error[error > 1e-9].to_dict()
    assert batch.iloc[-1].notna().all()  # every column was compared past its warm-up
    assert stream.n_bars == len(bars)


def test_one_update_returns_a_labelled_row(pipeline, bars):
    stream = pipeline.stream()
    row = None
    for t, bar in bars.iloc[:3].iterrows():
        row = stream.update(t, *bar[["open", "high", "low", "close", "volume"]])
    assert row.name == bars.index[2]
    assert list(row.index) == stream.columns
    assert row.isna().any()  # still warming up after three bars
    with pytest.raises(ValueError, match="this pipeline has no ensemble"):
        stream.signal(row)


# --------------------------------------------------------------------------- refused bars
STREAMED = 400  # bars fed in the refusal tests; the bad bar arrives after ``AT`` of them
AT = 200


@pytest.fixture(scope="module")
def reference(pipeline, bars):
    """The rows of a stream that only ever saw the first STREAMED clean bars."""
    return pipeline.stream().update_frame(bars.iloc[:STREAMED])


def _bad_bar(bars: pd.DataFrame, defect: str) -> tuple[object, list[object]]:
    """A bar with ``defect``, arriving right after bar ``AT - 1``."""
    last, t = bars.index[AT - 1], bars.index[AT]
    values = bars.iloc[AT][["open", "high", "low", "close", "volume"]].tolist()
    o, h, lo, c, v = values
    return {
        "late": (bars.index[AT - 5], bars.iloc[AT - 5].tolist()),
        "repeat": (last, values),
        "off_grid": (last + pd.Timedelta("7min"), values),
        "no_time": (pd.NaT, values),
        "nan_close": (t, [o, h, lo, np.nan, v]),
        "inf_volume": (t, [o, h, lo, c, np.inf]),
        "text": (t, ["abc", h, lo, c, v]),
        "zero_open": (t, [0.0, h, lo, c, v]),
        "negative_volume": (t, [o, h, lo, c, -1.0]),
        "high_below": (t, [o, min(o, c) - 1.0, lo - 2.0, c, v]),
        "low_above": (t, [o, h + 10.0, h + 5.0, c, v]),
    }[defect]


EXPECTED = {  # defect -> (field, rule)
    "late": ("timestamp", "timestamps increasing"),
    "repeat": ("timestamp", "timestamps unique"),
    "off_grid": ("timestamp", "timestamps on the bar grid"),
    "no_time": ("timestamp", "timestamps valid"),
    "nan_close": ("close", "finite numbers"),
    "inf_volume": ("volume", "finite numbers"),
    "text": ("open", "finite numbers"),
    "zero_open": ("open", "prices > 0"),
    "negative_volume": ("volume", "volume >= 0"),
    "high_below": ("high", "high >= max(open, close)"),
    "low_above": ("low", "low <= min(open, close) and low <= high"),
}


@pytest.mark.parametrize("defect", list(EXPECTED))
def test_a_refused_bar_leaves_the_stream_as_if_it_never_came(pipeline, bars, reference,
                                                             defect):
    stream = pipeline.stream()
    head = stream.update_frame(bars.iloc[:AT])
    timestamp, values = _bad_bar(bars, defect)
    with pytest.raises(BarRejected) as info:
        stream.update(timestamp, *values)
    field, rule = EXPECTED[defect]
    assert (info.value.field, info.value.rule) == (field, rule)
    assert f"rule {rule!r}" in str(info.value) and f"`{field}" in str(info.value)
    assert stream.n_bars == AT and stream.last_timestamp == bars.index[AT - 1]
    tail = stream.update_frame(bars.iloc[AT:STREAMED])
    streamed = pd.concat([head, tail])
    # the same arithmetic on the same bars: equal to the last bit, NaNs in the same places
    np.testing.assert_array_equal(streamed.to_numpy(), reference.to_numpy())
    assert streamed.iloc[-1].notna().sum() > 20  # compared past the base features' warm-up


def test_refusal_messages_name_the_bar_the_field_and_the_rule(pipeline, bars):
    stream = pipeline.stream()
    first, second = bars.index[0], bars.index[1]
    o, h, lo, c, v = bars.iloc[0][["open", "high", "low", "close", "volume"]]
    stream.update(first, o, h, lo, c, v)
    cases = [
        ((first, o, h, lo, c, v),
         f"bar {first} refused, rule 'timestamps unique': `timestamp` repeats the previous "
         "bar's; the stream is unchanged"),
        ((first - pd.Timedelta("30min"), o, h, lo, c, v),
         f"bar {first - pd.Timedelta('30min')} refused, rule 'timestamps increasing': "
         f"`timestamp` is before the previous bar's {first}; the stream is unchanged"),
        ((second + pd.Timedelta("90s"), o, h, lo, c, v),
         f"bar {second + pd.Timedelta('90s')} refused, rule 'timestamps on the bar grid': "
         "`timestamp` is 0 days 00:01:30 past the 0 days 00:30:00 grid (bars open at whole "
         "multiples of 0 days 00:30:00 since 1970-01-01 UTC); the stream is unchanged"),
        ((second, 10.0, 9.0, 8.0, 9.5, 1.0),
         f"bar {second} refused, rule 'high >= max(open, close)': `high=9.0` is below "
         "max(open, close) = 10.0; the stream is unchanged"),
        ((second, 10.0, 12.0, 13.0, 11.0, 1.0),
         f"bar {second} refused, rule 'low <= min(open, close) and low <= high': `low=13.0` "
         "is above min(open, close) = 10.0; the stream is unchanged"),
        ((second, 10.0, 12.0, 9.0, 11.0, float("nan")),
         f"bar {second} refused, rule 'finite numbers': `volume=nan` is not a finite number; "
         "the stream is unchanged"),
        ((second, -1.0, 12.0, -2.0, 11.0, 1.0),
         f"bar {second} refused, rule 'prices > 0': `open=-1.0`; the stream is unchanged"),
    ]
    for bar, message in cases:
        with pytest.raises(BarRejected) as info:
            stream.update(*bar)
        assert str(info.value) == message
        assert info.value.timestamp == bar[0]
    assert isinstance(info.value, ValueError)  # callers catching ValueError still catch it
    assert stream.n_bars == 1


def test_naive_timestamps_are_utc_and_the_first_bar_must_be_on_the_grid(pipeline, bars):
    stream = pipeline.stream()
    o, h, lo, c, v = bars.iloc[0][["open", "high", "low", "close", "volume"]]
    with pytest.raises(BarRejected, match="timestamps on the bar grid"):
        stream.update(pd.Timestamp("2019-01-01 00:10"), o, h, lo, c, v)
    row = stream.update(pd.Timestamp("2019-01-01 00:30"), o, h, lo, c, v)
    assert row.name == pd.Timestamp("2019-01-01 00:30", tz="UTC")
    with pytest.raises(BarRejected, match="timestamps unique"):
        stream.update(pd.Timestamp("2019-01-01 01:30+01:00"), o, h, lo, c, v)  # the same time


def test_gaps_are_taken_as_the_batch_pipeline_takes_them(pipeline, bars):
    window = bars.iloc[-2500:]
    # 3 bars missing inside a 4h bin, the last bar of a 4h bin, a whole day
    t = window.index
    closes_4h = np.flatnonzero((t + pd.Timedelta("30min")).hour % 4 == 0)[10]
    drop = [*range(300, 303), closes_4h, *range(1500, 1548)]
    gapped = window.drop(window.index[drop])
    batch = pipeline.features(gapped)
    streamed = pipeline.stream().update_frame(gapped)
    assert (streamed.isna() == batch.isna()).all().all()
    error = ((streamed - batch).abs() / np.maximum(1.0, batch.abs())).max()
    assert error.max() <= 1e-9, error[error > 1e-9].to_dict()
    assert batch.iloc[-1].notna().sum() > 0.9 * batch.shape[1]


def test_signals_after_refused_bars_equal_the_batch_predictions(unit_config, unit_training,
                                                                unit_ensemble):
    sample = load_sample_bars()
    train, live = sample.iloc[-3500:-500], sample.iloc[-500:]
    regime, dataset = unit_training(train)
    ensemble = unit_ensemble(dataset, confidence_threshold=0.51, calibration="none")
    pipeline = RegimeForestPipeline(config=unit_config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns))

    stream, signals, refused = pipeline.stream(), [], 0
    for i, (t, bar) in enumerate(live.iterrows()):
        if i in (300, 400):  # a repeated bar, then a bar with high < low, before the real one
            bad = [stream.last_timestamp, *bar] if i == 300 else [t, *bar.to_numpy() * 1.0]
            if i == 400:
                bad[3] = bad[2] + 1.0  # low above high
            with pytest.raises(BarRejected):
                stream.update(*bad)
            refused += 1
        signal = stream.signal(stream.update(t, *bar[["open", "high", "low", "close",
                                                       "volume"]]))
        if signal is not None:
            signals.append(signal)
    streamed = pd.concat(signals)
    batch = pipeline.predict(live)
    assert refused == 2 and len(batch) > 200
    assert set(batch["signal"]) == {-1, 0, 1}  # trades both ways: every kind of row compared
    assert list(streamed.columns) == list(batch.columns)
    assert streamed.index.equals(batch.index)
    np.testing.assert_array_equal(streamed["signal"], batch["signal"])
    pd.testing.assert_frame_equal(streamed, batch, rtol=1e-9, atol=1e-12, check_freq=False,
                                  check_names=False)  # the batch index is named timestamp


@pytest.mark.parametrize("engine", ["sklearn", "onnx"])
def test_on_bar_gives_the_batch_signals_without_frames(unit_config, unit_training, unit_ensemble,
                                                       engine):
    """The live path in one call per bar: the same signals and values as one ``predict`` over the
    same bars, with either engine, a refused bar in between changing nothing."""
    from ml_core.ensemble import CompiledEnsemble
    from ml_core.pipeline import LiveSignal

    sample = load_sample_bars()
    train, live = sample.iloc[-3500:-500], sample.iloc[-500:]
    regime, dataset = unit_training(train)
    ensemble = unit_ensemble(dataset, confidence_threshold=0.51, calibration="none",
                             smoothing="hysteresis")
    if engine == "onnx":
        ensemble = CompiledEnsemble.from_ensemble(ensemble)
    pipeline = RegimeForestPipeline(config=unit_config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns))
    stream, signals = pipeline.stream(), []
    values = live[["open", "high", "low", "close", "volume"]].to_numpy()
    for i, (t, bar) in enumerate(zip(live.index, values, strict=True)):
        if i == 250:
            with pytest.raises(BarRejected, match="timestamps unique"):
                stream.on_bar(stream.last_timestamp, *bar)
        signal = stream.on_bar(t, *bar)
        if signal is not None:
            signals.append(signal)
    batch = pipeline.predict(live)
    assert all(isinstance(s, LiveSignal) for s in signals)
    assert [s.timestamp for s in signals] == list(batch.index)
    assert set(batch["signal"]) == {-1, 0, 1}
    np.testing.assert_array_equal([s.signal for s in signals], batch["signal"])
    for name in ("confidence", "size", "p_long"):
        np.testing.assert_allclose([getattr(s, name) for s in signals], batch[name],
                                   rtol=1e-9, atol=1e-12)
    for column in [c for c in batch.columns if c.startswith("regime_prob_")]:
        np.testing.assert_allclose([s.regime[column] for s in signals], batch[column],
                                   rtol=1e-9, atol=1e-12)
