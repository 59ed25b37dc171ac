"""The backfill's walk-forward of the MLOps loop: schedule, champion chain, period returns."""

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import (
    LOOP_COLUMNS,
    EmptyRangeError,
    backfill_schedule,
    champion_chain,
    decision_bars,
    exposure,
    loop_table,
    replay_periods,
    replay_returns,
    schedule_in_span,
)
from tasks.registry import decide_promotion

UTC = "UTC"
H = timedelta(hours=1)
IDX = pd.date_range("2024-01-01", periods=6, freq="h", tz=UTC)  # open times 00:00 .. 05:00
CLOSE = pd.Series([100.0, 110.0, 99.0, 108.9, 98.01, 107.811], index=IDX)  # +10 %, -10 %, ...


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


# ----------------------------------------------------------------------------- schedule
def test_schedule_steps_from_start_and_keeps_end_when_on_the_grid():
    got = backfill_schedule("2024-01-01", "2024-01-15", "7d")
    assert got == [_t("2024-01-01"), _t("2024-01-08"), _t("2024-01-15")]


def test_schedule_stops_before_end_off_the_grid_and_reads_hours():
    got = backfill_schedule("2024-01-01T00:00", "2024-01-01T20:00", "12h")
    assert got == [_t("2024-01-01T00:00"), _t("2024-01-01T12:00")]


def test_schedule_of_one_moment_and_time_zones_become_utc():
    assert backfill_schedule("2024-01-01T02:00+02:00", "2024-01-01T00:00Z", timedelta(days=1)) \
        == [_t("2024-01-01T00:00")]


@pytest.mark.parametrize(("start", "end", "every", "message"), [
    ("2024-02-01", "2024-01-01", "7d",
     "`start` must not be after `end`, got `start=2024-02-01T00:00:00+00:00`, "
     "`end=2024-01-01T00:00:00+00:00`"),
    ("2024-01-01", "2024-02-01", "0d", "`every` must be a positive duration, got `every='0d'`"),
    ("2024-01-01", "2024-02-01", "-1d", "`every` must be a positive duration, got `every='-1d'`"),
    ("2024-01-01", "2024-02-01", "weekly", "got `every='weekly'`"),
    ("nope", "2024-02-01", "7d", "`start` must be a date-time, got `start='nope'`"),
    ("2024-01-01", "later", "7d", "`end` must be a date-time, got `end='later'`"),
])
def test_schedule_refusals_name_the_parameter_and_value(start, end, every, message):
    with pytest.raises(ValueError) as info:
        backfill_schedule(start, end, every)
    assert message in str(info.value)


def test_schedule_in_span_keeps_moments_with_bars_before_and_after():
    index = pd.date_range("2024-01-01", periods=10, freq="h", tz=UTC)  # closes 01:00 .. 10:00
    as_ofs = [_t("2024-01-01T00:00"), _t("2024-01-01T01:00"), _t("2024-01-01T09:30"),
              _t("2024-01-01T10:00"), _t("2024-01-01T12:00")]
    assert schedule_in_span(as_ofs, index, H) == [as_ofs[1], as_ofs[2]]


@pytest.mark.parametrize("as_ofs", [
    [_t("2023-12-01"), _t("2023-12-08")],  # before the first bar's close
    [_t("2024-01-01T10:00"), _t("2024-02-01")],  # from the last bar's close on
])
def test_a_range_without_bars_is_refused_naming_the_range_and_the_span(as_ofs):
    index = pd.date_range("2024-01-01", periods=10, freq="h", tz=UTC)
    with pytest.raises(EmptyRangeError) as info:
        schedule_in_span(as_ofs, index, H)
    assert str(info.value) == (
        f"no bars in the backfill range {as_ofs[0].isoformat()} .. {as_ofs[-1].isoformat()}: the "
        "data holds 10 bars closing from 2024-01-01T01:00:00+00:00 to 2024-01-01T10:00:00+00:00; "
        "choose --start and --end inside that span")


def test_a_range_over_no_data_says_so():
    with pytest.raises(ValueError, match="the data holds no bars"):
        schedule_in_span([_t("2024-01-01")], pd.DatetimeIndex([], tz=UTC), H)


# ------------------------------------------------------------------------- champion chain
def test_chain_follows_the_promotion_rule_version_by_version():
    steps = champion_chain([("1", 0.5), ("2", float("nan")), ("3", 0.4), ("4", 0.9)],
                           decide_promotion)
    assert [(s.version, s.alias, s.champion, s.champion_score) for s in steps] == [
        ("1", "champion", "1", 0.5), ("2", None, "1", 0.5), ("3", "challenger", "1", 0.5),
        ("4", "champion", "4", 0.9)]
    assert steps[0].reason == "first version with a valid score (0.5000): becomes champion"
    assert steps[2].reason.startswith("score 0.4000 does not beat champion's 0.5000")


def test_chain_may_start_without_a_champion_for_a_while():
    steps = champion_chain([("1", float("nan")), ("2", 0.3)], decide_promotion)
    assert [(s.alias, s.champion) for s in steps] == [(None, None), ("champion", "2")]
    assert math.isnan(steps[0].score)


def test_chain_demands_the_minimum_improvement_and_can_start_from_a_champion():
    steps = champion_chain([("8", 0.65), ("9", 0.75)], decide_promotion, 0.1,
                           champion=("7", 0.6))
    assert [(s.alias, s.champion) for s in steps] == [("challenger", "7"), ("champion", "9")]
    with pytest.raises(ValueError, match="`min_improvement=-0.1`"):
        champion_chain([("1", 0.5)], decide_promotion, -0.1)


# ------------------------------------------------------------------------------- periods
def test_periods_run_to_the_next_as_of_and_the_last_one_stops_at_the_data():
    as_ofs = [_t("2024-01-01"), _t("2024-01-08"), _t("2024-01-15")]
    got = replay_periods(as_ofs, timedelta(days=7), _t("2024-01-18"))
    assert got == [(as_ofs[0], as_ofs[1]), (as_ofs[1], as_ofs[2]), (as_ofs[2], _t("2024-01-18"))]
    assert replay_periods(as_ofs[:1], timedelta(days=7), _t("2024-02-01")) == [
        (as_ofs[0], as_ofs[1])]
    with pytest.raises(ValueError, match="strictly increasing"):
        replay_periods(as_ofs[::-1], timedelta(days=7), _t("2024-02-01"))


def test_decision_bars_are_those_closing_from_start_to_before_end():
    # closes 01:00 .. 06:00; the bars held over (01:00, 03:00] are those closing at 02:00 and
    # 03:00, decided at the closes of the bars before them (01:00 and 02:00)
    assert list(decision_bars(IDX, H, IDX[1], IDX[3])) == [IDX[0], IDX[1]]
    assert list(decision_bars(IDX, H, _t("2024-01-02"), _t("2024-01-03"))) == []


def test_exposure_is_signal_times_size_and_refuses_bad_rows():
    frame = pd.DataFrame({"signal": [1, -1, 0], "size": [0.5, 0.25, 0.9]}, index=IDX[:3])
    assert exposure(frame).tolist() == [0.5, -0.25, 0.0]
    with pytest.raises(ValueError, match=r"must be -1, 0 or 1, got \[2.0\]"):
        exposure(pd.DataFrame({"signal": [2], "size": [0.5]}))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        exposure(pd.DataFrame({"signal": [1], "size": [1.5]}))


# ------------------------------------------------------------------------ replay returns
def _replay():
    periods = replay_periods([IDX[1], IDX[3]], 2 * H, IDX[-1] + H)  # (01, 03], (03, 05]
    first = pd.Series([1.0, 0.5], index=IDX[:2])  # decided at the closes of bars 0 and 1
    return replay_returns(CLOSE, H, periods, [first, None], cost_bps=10)


def test_period_returns_with_costs_by_hand():
    replay = _replay()
    p = replay.periods
    # bar 1: 1.0 * 10 % - 10 bp * |1 - 0|; bar 2: 0.5 * -10 % - 10 bp * 0.5
    # bar 3: flat (no champion), paying 10 bp * 0.5 to close; bar 4: flat
    assert p["bars"].tolist() == [2, 2]
    assert p["trades"].tolist() == [2, 1]
    assert p["strategy_return"].tolist() == pytest.approx([1.099 * 0.9495 - 1, -0.0005],
                                                          abs=1e-15)
    assert p["buy_and_hold_return"].tolist() == pytest.approx([-0.01, -0.01], abs=1e-15)
    assert p["strategy_equity"].tolist() == pytest.approx(
        [1.0435005, 1.0435005 * 0.9995], abs=1e-15)
    assert p["buy_and_hold_equity"].tolist() == pytest.approx([0.99, 0.9801], abs=1e-15)
    assert list(p["period_start"]) == [IDX[1], IDX[3]]
    assert list(p["period_end"]) == [IDX[3], IDX[5]]


def test_equity_curves_start_at_one_at_the_first_as_of():
    equity = _replay().equity
    assert list(equity.index) == [IDX[1], IDX[2], IDX[3], IDX[4], IDX[5]]
    assert equity["strategy"].tolist() == pytest.approx(
        [1.0, 1.099, 1.0435005, 1.0435005 * 0.9995, 1.0435005 * 0.9995], abs=1e-15)
    assert equity["buy_and_hold"].tolist() == pytest.approx([1.0, 1.1, 0.99, 1.089, 0.9801],
                                                            abs=1e-13)


def test_position_carries_across_champions_and_missing_rows_are_flat():
    periods = [(IDX[1], IDX[3]), (IDX[3], IDX[5])]  # held over bars 1, 2 | 3, 4
    same = pd.Series(1.0, index=IDX)
    replay = replay_returns(CLOSE, H, periods, [same, same.drop(IDX[3])], cost_bps=10)
    # long from bar 0's close through bar 3's (no cost at the change of champion), flat from
    # bar 3's close on (its row is missing)
    assert replay.periods["trades"].tolist() == [1, 1]
    assert replay.periods["strategy_return"].tolist() == pytest.approx(
        [1.099 * 0.9 - 1, 1.1 * 0.999 - 1], abs=1e-15)


def test_a_period_without_bars_has_undefined_returns_and_keeps_the_equity():
    periods = [(IDX[1], IDX[3]), (IDX[5] + H, IDX[5] + 2 * H)]
    replay = replay_returns(CLOSE, H, periods, [None, None], cost_bps=0)
    second = replay.periods.iloc[1]
    assert second["bars"] == 0 and second["trades"] == 0
    assert np.isnan(second["strategy_return"]) and np.isnan(second["buy_and_hold_return"])
    assert second["strategy_equity"] == 1.0
    assert second["buy_and_hold_equity"] == pytest.approx(0.99, abs=1e-15)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"positions": [None]}, "one entry per period, got 1 for 2 periods"),
    ({"cost_bps": -1.0}, "`cost_bps=-1.0`"),
    ({"periods": [(IDX[1], IDX[3]), (IDX[2], IDX[4])]}, "must not overlap"),
    ({"positions": [pd.Series(2.0, index=IDX), None]}, r"\[-1, 1\]"),
])
def test_replay_refusals(kwargs, message):
    args = {"close": CLOSE, "timeframe": H, "periods": [(IDX[1], IDX[3]), (IDX[3], IDX[5])],
            "positions": [None, None], "cost_bps": 5.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        replay_returns(**args)


# --------------------------------------------------------------------------------- table
def test_loop_table_has_one_row_per_as_of():
    chain = champion_chain([("1", 0.5), ("2", 0.4)], decide_promotion)
    table = loop_table([IDX[1], IDX[3]], chain, _replay())
    assert tuple(table.columns) == LOOP_COLUMNS
    assert table[["version", "decision", "champion", "bars", "trades"]].values.tolist() == [
        ["1", "champion", "1", 2, 2], ["2", "challenger", "1", 2, 1]]
    assert table["as_of"].tolist() == [IDX[1], IDX[3]]
    with pytest.raises(ValueError, match="got 1, 2 and 2"):
        loop_table([IDX[1]], chain, _replay())
