"""Shadow scoring with a real fitted pipeline (the newest compatibility fixture) into a SQLite
ledger: the recorded books equal the batch paper book of the pipeline's batch signals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml_core.lifecycle._paper import paper_returns
from ml_core.pipeline import RegimeForestPipeline, load_pipeline
from tasks.ledger import Ledger
from tasks.shadow import ShadowResult, shadow_score

# scripts/make_model_fixture.py: a small fitted model and the 800 bars after its training span
FIXTURE = max((Path(__file__).resolve().parents[1] / "fixtures" / "models").glob("format_*"),
              key=lambda path: int(path.name.removeprefix("format_")))
MODEL = "fixture"
WARMUP = 300  # the fixture's first signal is at bar 270
N_BARS = 600  # 300 scored bars: ~40 paper trades, a few seconds per pass of two streams
COST = 5.0


@pytest.fixture(scope="module")
def pipeline() -> RegimeForestPipeline:
    return load_pipeline(FIXTURE / "model")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE / "bars.parquet").iloc[:N_BARS]


@pytest.fixture(scope="module")
def expected(pipeline: RegimeForestPipeline,
             bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch answer: ``predict`` over all bars, targets ``signal * size``, paper book from
    the first bar after the warm-up."""
    signals = pipeline.predict(bars)
    targets = (signals["signal"] * signals["size"]).reindex(bars.index)
    return paper_returns(bars.iloc[WARMUP:], targets.iloc[WARMUP:], COST)


def _versions(pipeline: RegimeForestPipeline) -> dict:
    return {"1": pipeline.stream(), "2": pipeline.stream()}


def _assert_books_equal(ledger: Ledger, expected: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # equal to the bit on this machine; the tolerance leaves room for the stream's documented
    # last-bit differences from predict (features to 1e-9), which are not the scorer's
    marks, trades = expected
    for version in ("1", "2"):
        pd.testing.assert_frame_equal(ledger.marks(MODEL, version), marks, check_freq=False,
                                      rtol=0, atol=1e-12)
        pd.testing.assert_frame_equal(ledger.trades(MODEL, version), trades, rtol=0, atol=1e-12)


def test_daily_runs_fed_the_history_again_equal_the_batch_book(pipeline, bars, expected,
                                                               tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = shadow_score(bars.iloc[:450], _versions(pipeline), Ledger(url), MODEL, COST,
                         warmup=WARMUP, block=64)
    marks, trades = expected
    head = marks.iloc[:150]
    n_trades = int((trades["exit"] <= head.index[-1]).sum())
    assert first == ShadowResult(
        n_bars=450, n_scored=450, refused=(), marks={"1": 150, "2": 150},
        replayed={"1": 0, "2": 0}, trades={"1": n_trades, "2": n_trades},
        signals={"1": int((head["target"] != 0).sum()), "2": int((head["target"] != 0).sum())})
    # the next day's process: fresh streams fed the same history, the books from the ledger
    later = Ledger(url)
    second = shadow_score(bars, _versions(pipeline), later, MODEL, COST, warmup=WARMUP)
    assert second.marks == {"1": 150, "2": 150} and second.replayed == {"1": 150, "2": 150}
    assert second.trades == {"1": len(trades) - n_trades, "2": len(trades) - n_trades}
    assert len(trades) >= 20 and (marks["target"] != 0).sum() > 50
    assert (marks["position"] < 0).any() and (marks["position"] > 0).any()
    _assert_books_equal(later, expected)
    # a retried run on the same bars records nothing
    again = shadow_score(bars, _versions(pipeline), later, MODEL, COST, warmup=WARMUP)
    assert again.marks == {"1": 0, "2": 0} and again.replayed == {"1": 300, "2": 300}
    _assert_books_equal(later, expected)


def test_a_refused_bar_is_skipped_for_every_version(pipeline, bars, tmp_path):
    broken = bars.iloc[:450].copy()
    bad = broken.index[400]
    broken.loc[bad, "high"] = broken.loc[bad, "close"] - 1.0  # high below the close
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    result = shadow_score(broken, _versions(pipeline), ledger, MODEL, COST, warmup=WARMUP)
    assert result.n_scored == 449 and result.marks == {"1": 149, "2": 149}
    ((when, rule, message),) = result.refused
    assert when == bad and rule == "high >= max(open, close)" and str(bad) in message
    for version in ("1", "2"):
        recorded = ledger.marks(MODEL, version).index
        assert bad not in recorded and len(recorded) == 149


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup": 601}, r"`warmup` must be in \[0, len\(bars\)\] = \[0, 600\], got "
                          r"`warmup=601`"),
        ({"block": 0}, "`block=0`"),
        ({"versions": {}}, "`versions` must name at least one version"),
        ({"bars": "bars"}, "`bars` must be a DataFrame on a DatetimeIndex, got str"),
    ],
)
def test_errors_name_the_parameter(pipeline, bars, tmp_path, kwargs, message):
    args = {"bars": bars, "versions": _versions(pipeline), "warmup": 0, "block": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        shadow_score(args["bars"], args["versions"], Ledger(f"sqlite:///{tmp_path}/l.db"), MODEL,
                     COST, warmup=args["warmup"], block=args["block"])
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['volume'\]"):
        shadow_score(bars.drop(columns="volume"), _versions(pipeline), Ledger(), MODEL, COST)
