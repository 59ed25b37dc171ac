"""Fixed-width fractional differencing (AFML ch. 5)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import frac_diff_ffd, frac_diff_weights
from ml_core.features._ops import BatchOps
from ml_core.features._spec import DEFINITIONS
from ml_core.features._stream_ops import StreamOps

from ._bars import random_walk_bars


def test_weights_of_first_difference():
    assert_array_equal(frac_diff_weights(1.0, 5), [1.0, -1.0, 0.0, 0.0, 0.0])
    assert_array_equal(frac_diff_weights(0.0, 3), [1.0, 0.0, 0.0])


def test_weights_of_half_order():
    # w_k = -w_{k-1} (d - k + 1) / k with d = 0.5: 1, -1/2, -1/8, -1/16, -5/128.
    assert_allclose(frac_diff_weights(0.5, 5), [1.0, -0.5, -0.125, -0.0625, -5 / 128],
                    rtol=1e-15)


def test_ffd_of_order_one_is_the_difference():
    x = np.log(np.array([100.0, 101.0, 99.0, 105.0, 104.0]))
    out = frac_diff_ffd(x, 1.0, 3)
    assert_array_equal(np.isnan(out), [True, True, False, False, False])
    assert_allclose(out[2:], np.diff(x)[1:], rtol=1e-12)


def test_ffd_is_a_fixed_window_dot_product():
    rng = np.random.default_rng(42)
    x = rng.normal(size=50)
    w = frac_diff_weights(0.4, 10)
    out = frac_diff_ffd(x, 0.4, 10)
    assert np.isnan(out[:9]).all()
    for t in (9, 23, 49):
        assert out[t] == pytest.approx(sum(w[k] * x[t - k] for k in range(10)), rel=1e-12)


def test_ffd_short_series_and_bad_arguments():
    assert np.isnan(frac_diff_ffd(np.arange(5.0), 0.4, 10)).all()
    with pytest.raises(ValueError, match="`d=-0.1`"):
        frac_diff_weights(-0.1, 5)
    with pytest.raises(ValueError, match="`window=0`"):
        frac_diff_weights(0.4, 0)


def test_fractional_diff_price_recipe_is_ffd_of_log_close_in_batch_and_stream():
    bars = random_walk_bars(120)
    config = FeatureConfig(higher_timeframes=[], frac_diff_d=0.35, frac_diff_window=12)
    recipe = DEFINITIONS["fractional_diff_price"].compute
    expected = frac_diff_ffd(np.log(bars["close"].to_numpy()), 0.35, 12)
    batch = recipe(BatchOps(bars, config, timedelta(minutes=30)))
    assert_allclose(batch, expected, rtol=1e-12)
    assert np.isnan(batch[:11]).all() and np.isfinite(batch[11:]).all()
    ops = StreamOps(config, timedelta(minutes=30))
    streamed = []
    for row in bars.itertuples(index=False):
        ops.step(row.open, row.high, row.low, row.close, row.volume)
        streamed.append(recipe(ops))
    assert_allclose(streamed, expected, rtol=1e-12)
