"""The simulated market with a planted edge: seeded, valid bars, the break where documented, the
edge measurable before it and inverted after it, the committed file and the profile that uses it."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.config import load_config
from ml_core.data import as_bars, check_bars, load_bars
from ml_core.data._planted import (PLANTED_SEED, PlantedMarket, edge_hit_rate, planted_bars)

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "ml_core" / "datasets" / "planted_1h.parquet"
BREAK = pd.Timestamp("2025-04-01T00:00Z")


@pytest.fixture(scope="module")
def sample():
    return planted_bars()


def test_a_seed_gives_the_same_bars_to_the_bit(sample) -> None:
    bars = sample.bars
    assert bars.iloc[0].tolist() == [100.0, 100.39670648695598, 99.97689039109764,
                                     100.37612110608205, 1524.4910479854639]
    assert bars.iloc[10944].tolist() == [110.1843853427904, 112.32967553838162,
                                         109.73635990679959, 112.28957080272521,
                                         1463.0428769556681]
    assert bars["close"].iloc[-1] == 137.86986020972864
    pd.testing.assert_frame_equal(planted_bars(seed=PLANTED_SEED).bars, bars, check_exact=True)
    assert not np.array_equal(planted_bars(seed=PLANTED_SEED + 1).bars["close"], bars["close"])


def test_the_bars_are_valid_ohlcv_without_gaps(sample) -> None:
    bars = sample.bars
    check_bars(bars)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "timestamp" and str(bars.index.tz) == "UTC"
    assert (np.diff(bars.index.asi8) == 3_600 * 10**9).all()  # 1h apart, none missing
    assert (bars[["open", "high", "low", "close", "volume"]] > 0).all().all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["open"].to_numpy()[1:] == bars["close"].to_numpy()[:-1]).all()


def test_the_break_is_at_the_documented_time(sample) -> None:
    market = PlantedMarket()
    assert (market.n_bars, market.break_index) == (14_592, 10_944)
    assert market.break_at == sample.break_at == BREAK
    assert sample.bars.index[market.break_index] == BREAK
    assert sample.bars.index[-1] == pd.Timestamp("2025-08-30T23:00Z")
    assert np.bincount(sample.states).tolist() == [5720, 3772, 5100]


def test_the_edge_holds_before_the_break_and_inverts_after_it(sample) -> None:
    bull = edge_hit_rate(sample.bars, sample.states, state=0)
    bear = edge_hit_rate(sample.bars, sample.states, state=1)
    sideways = edge_hit_rate(sample.bars, sample.states, state=2)
    # bull: the last 4 bars' direction continues 75% of the time, then only 22%
    assert bull.round(4).to_dict() == {"before": 0.7525, "after": 0.217}
    # bear: it reverses 67% of the time, then 34%
    assert bear.round(4).to_dict() == {"before": 0.6733, "after": 0.3436}
    assert abs(sideways["before"] - 0.5) < 0.01  # no edge planted there


def test_the_market_turns_twice_as_volatile_at_the_break(sample) -> None:
    returns = np.log(sample.bars["close"]).diff()
    before, after = returns.iloc[1:10944].std(), returns.iloc[10944:].std()
    assert 1.8 < after / before < 2.2
    calm = planted_bars(PlantedMarket(post_break_vol=1.0)).bars
    np.testing.assert_array_equal(calm["close"].to_numpy()[:10944],
                                  sample.bars["close"].to_numpy()[:10944])  # same past


def test_post_break_zero_removes_the_edge() -> None:
    market = PlantedMarket(post_break=0.0)
    vanished = planted_bars(market)
    bull = edge_hit_rate(vanished.bars, vanished.states, market, state=0)
    assert bull["before"] > 0.74
    assert abs(bull["after"] - 0.5) < 0.02


def test_the_committed_file_is_the_generator_output(sample) -> None:
    committed = as_bars(load_bars(COMMITTED))
    # to the last bits of a float: numpy's vectorised exp/log differ by an ulp across CPUs
    pd.testing.assert_frame_equal(committed, sample.bars, check_exact=False, rtol=1e-12,
                                  atol=0.0, check_freq=False)


def test_the_script_rewrites_the_committed_file(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_planted.py"
    spec = importlib.util.spec_from_file_location("make_planted", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.write_planted(tmp_path / "bars.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(COMMITTED),
                                  check_exact=False, rtol=1e-12, atol=0.0)


def test_the_profile_loads_and_its_holdout_ends_before_the_break() -> None:
    config = load_config(ROOT / "configs" / "simulated.yaml")
    assert (config.profile, config.registry.experiment, config.registry.model_name) == (
        "simulated", "regimeforest-simulated", "regimeforest-simulated")
    assert (ROOT / config.data.path).resolve() == COMMITTED.resolve()
    assert config.data.timeframe == timedelta(hours=1)
    assert config.regime.timeframe == timedelta(hours=4)  # the states change on 4h boundaries
    # retrained --as-of the break, the holdout is the last 15% of the bars before it
    assert config.validation.holdout_fraction == 0.15
    gate = config.promotion.gate
    assert (gate.min_trades, gate.pbo_max, gate.dsr_min) == (20, 0.5, 0.95)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"break_fraction": 1.0}, "break_fraction must be in (0, 1), got break_fraction=1.0"),
    ({"tail_df": 2.0}, "tail_df must exceed 2 (finite variance), got tail_df=2.0"),
    ({"anchor_halflife": 0.0}, "anchor_halflife must be positive or None, got anchor_halflife=0.0"),
    ({"transmat": ((1.0, 0.0, 0.0),) * 2}, "transmat must be a 3x3 row-stochastic matrix"),
])
def test_invalid_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PlantedMarket(**kwargs)


def test_edge_hit_rate_names_a_bad_state(sample) -> None:
    with pytest.raises(ValueError, match="state must be 0, 1 or 2, got state=3"):
        edge_hit_rate(sample.bars, sample.states, state=3)
