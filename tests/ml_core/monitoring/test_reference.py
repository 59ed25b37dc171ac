"""build_reference: what the monitor keeps of the champion's training window, and its JSON."""

import json

import numpy as np
import pandas as pd
import pytest

from ml_core.monitoring import Distribution, ReferenceStatistics, build_reference

IDX = pd.date_range("2024-01-01", periods=8, freq="30min", tz="UTC")


def _small():
    features = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan],
                             "flat": [2.0] * 8}, index=IDX)
    p_long = pd.Series([0.2, 0.4, 0.6, 0.8, 0.5, 0.5, 0.3, 0.7], index=IDX)
    signals = pd.Series([1, 0, 0, -1, 1, 0, np.nan, 0], index=IDX)
    filtered = pd.Series(["bull", "bull", "bear", "bear", "bear", "sideways", None, "bull"],
                         index=IDX)
    smoothed = pd.Series(["bull", "bear", "bear", "bear", "sideways", "sideways", "bull", "bull"],
                         index=IDX)
    importances = pd.Series({"x": 0.12, "flat": 0.0})
    validated = {"hit_rate": 0.55, "sharpe_per_trade": 0.08, "n_trades": 240}
    return build_reference(features, p_long, signals, filtered, smoothed, importances, validated,
                           n_bins=2, sample_size=4, random_state=42)


def test_exact_statistics_of_a_small_window():
    ref = _small()
    x = ref.features["x"]
    assert x.edges == (4.0,) and x.fractions == (4 / 7, 3 / 7)
    assert len(x.sample) == 4 and list(x.sample) == sorted(x.sample)
    assert set(x.sample) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}
    assert ref.features["flat"] == Distribution((), (1.0,), (2.0, 2.0, 2.0, 2.0))
    assert ref.p_long.edges == (0.5,) and ref.p_long.fractions == (0.625, 0.375)
    assert ref.signal_mix == {"buy": 2 / 7, "sell": 1 / 7, "hold": 4 / 7}
    assert ref.regime_occupancy == {"bear": 3 / 7, "bull": 3 / 7, "sideways": 1 / 7}
    # 7 bars labelled by both; they differ at bars 1 and 4
    assert ref.regime_agreement == 5 / 7
    assert ref.importances == {"x": 0.12, "flat": 0.0}
    assert ref.validated == {"hit_rate": 0.55, "sharpe_per_trade": 0.08, "n_trades": 240.0}
    assert ref.n_rows == 8


def test_json_round_trip_is_exact():
    rng = np.random.default_rng(42)
    idx = pd.date_range("2024-01-01", periods=3000, freq="30min", tz="UTC")
    features = pd.DataFrame(rng.normal(size=(3000, 3)) * [1e-5, 1.0, 1e6], index=idx,
                            columns=["a", "b", "c"])
    ref = build_reference(features, pd.Series(rng.uniform(size=3000), idx),
                          validated={"hit_rate": 0.55}, sample_size=500)
    again = ReferenceStatistics.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again == ref
    assert len(ref.features["a"].sample) == 500 and len(ref.features["a"].edges) == 9
    assert ref.signal_mix == {} and ref.regime_agreement is None


def test_the_sample_is_seeded_and_shared_by_the_columns():
    rng = np.random.default_rng(42)
    features = pd.DataFrame({"a": rng.normal(size=100)})
    features["b"] = features["a"] * 2
    one = build_reference(features, sample_size=10, random_state=1)
    assert one == build_reference(features, sample_size=10, random_state=1)
    assert one != build_reference(features, sample_size=10, random_state=2)
    assert np.array(one.features["b"].sample).tolist() == (
        np.array(one.features["a"].sample) * 2).tolist()


def test_a_reference_of_another_version_is_refused():
    data = _small().to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="must have version 1, got version=99"):
        ReferenceStatistics.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(features=pd.DataFrame()), "`features` must be a non-empty DataFrame"),
        (dict(features=pd.DataFrame({"a": [np.nan, np.nan]})), "column 'a' holds no non-NaN"),
        (dict(features=pd.DataFrame({"a": [1.0]}), sample_size=0),
         "`sample_size` must be a positive integer, got `sample_size=0`"),
        (dict(features=pd.DataFrame({"a": [1.0]}), validated={"hit_rate": np.nan}),
         r"`validated` values must be finite, got validated\['hit_rate'\]=nan"),
        (dict(features=pd.DataFrame({"a": [1.0]}), signals=pd.Series([2])),
         "`signals` must be -1, 0 or 1, got 2"),
    ],
)
def test_errors_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_reference(**kwargs)


def test_psi_limit_is_the_largest_window_psi_of_the_reference():
    from ml_core.monitoring import window_psi

    rng = np.random.default_rng(42)
    features = pd.DataFrame({"walk": np.cumsum(rng.normal(size=2000)),
                             "noise": rng.normal(size=2000)})
    ref = build_reference(features, window_rows=336, step_rows=48)
    walk = ref.features["walk"]
    psis = window_psi(walk.fractions, walk.edges, features["walk"].to_numpy(), 336, 48)
    assert walk.psi_limit == psis.max() > 1.0
    assert ref.features["noise"].psi_limit < 0.1  # independent rows: (k - 1) / 336 and noise
    assert build_reference(features, window_rows=336).features["walk"].psi_limit == max(
        window_psi(walk.fractions, walk.edges, features["walk"].to_numpy(), 336, 48))
    assert build_reference(features).features["walk"].psi_limit is None
    assert ReferenceStatistics.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    with pytest.raises(ValueError, match="`window_rows` must be a positive integer, got "
                                         "`window_rows=0`"):
        build_reference(features, window_rows=0)
