"""PSI on reference-quantile bins, the KS p-value and the total-variation distance."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from ml_core.monitoring import (
    PSI_FLOOR,
    bin_fractions,
    ks_pvalue,
    psi,
    quantile_edges,
    total_variation,
    window_psi,
)


def test_edges_are_the_reference_quantiles():
    # inverted_cdf: the smallest value with at least 25% / 50% / 75% of the sample at or below it
    assert quantile_edges(np.arange(1.0, 11.0), n_bins=4).tolist() == [3.0, 5.0, 8.0]
    assert quantile_edges([4.0, np.nan, 1.0, 2.0, 3.0], n_bins=2).tolist() == [2.0]


def test_constant_feature_has_one_bin_and_zero_psi():
    edges = quantile_edges([3.0] * 50)
    assert edges.size == 0
    assert psi([1.0], edges, [100.0, -5.0]) == 0.0


def test_discrete_feature_merges_repeated_quantiles():
    # 70% zeros, 30% ones: the quantiles 0.1..0.7 are 0, 0.8 and 0.9 are 1 (the maximum, dropped)
    ref = np.array([0.0] * 7 + [1.0] * 3)
    edges = quantile_edges(ref)
    assert edges.tolist() == [0.0]
    assert bin_fractions(edges, ref).tolist() == [0.7, 0.3]


def test_values_on_an_edge_go_to_the_lower_bin():
    assert bin_fractions([0.0, 1.0], [-1.0, 0.0, 0.5, 1.0, 2.0]).tolist() == [0.4, 0.4, 0.2]
    assert np.isnan(bin_fractions([0.0], [np.nan])).all()


def test_psi_hand_computed():
    # reference 50/50, live 25/75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5) = 0.25 ln 3
    assert psi([0.5, 0.5], [0.0], [-1.0, 1.0, 2.0, 3.0]) == pytest.approx(0.25 * np.log(3),
                                                                          rel=1e-12)
    assert psi([0.5, 0.5], [0.0], [-1.0, 1.0]) == 0.0


def test_an_empty_live_bin_is_floored():
    got = psi([0.5, 0.5], [0.0], [1.0, 2.0])  # everything in the upper bin
    expected = (PSI_FLOOR - 0.5) * np.log(PSI_FLOOR / 0.5) + 0.5 * np.log(1 / 0.5)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(4.605, abs=1e-3)


def test_psi_of_a_sample_of_the_same_law_is_small_and_of_a_shift_large():
    rng = np.random.default_rng(42)
    ref = rng.normal(size=5000)
    edges = quantile_edges(ref)
    fractions = bin_fractions(edges, ref)
    assert fractions.tolist() == [0.1] * 10
    assert psi(fractions, edges, rng.normal(size=336)) < 0.1
    assert psi(fractions, edges, rng.normal(1.0, 1.0, size=336)) > 0.5


def test_psi_of_no_live_value_is_nan():
    assert np.isnan(psi([0.5, 0.5], [0.0], [np.nan, np.nan]))


def test_ks_pvalue_is_scipys_without_nan():
    rng = np.random.default_rng(42)
    a, b = rng.normal(size=200), rng.normal(0.3, 1.0, size=100)
    assert ks_pvalue(a, np.append(b, np.nan)) == ks_2samp(a, b).pvalue
    assert np.isnan(ks_pvalue(a, [np.nan]))


def test_total_variation():
    assert total_variation({"buy": 0.5, "hold": 0.5},
                           {"buy": 0.2, "sell": 0.3, "hold": 0.5}) == pytest.approx(0.3)
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quantile_edges([1.0, 2.0], n_bins=1), r"`n_bins` must be an integer >= 2, got "
                                                        r"`n_bins=1`"),
        (lambda: quantile_edges([np.nan]), "`reference` must hold at least one non-NaN value"),
        (lambda: quantile_edges([[1.0]]), "`reference` must be 1-dimensional"),
        (lambda: quantile_edges([1.0, np.inf]), "`reference` must not hold infinite values"),
        (lambda: psi([0.5, 0.5], [0.0, 1.0], [1.0]), "must hold len\\(edges\\) \\+ 1 = 3"),
        (lambda: psi([0.5, 0.6], [0.0], [1.0]), "must be non-negative and sum to 1, got sum 1.1"),
    ],
)
def test_errors_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_window_psi_is_psi_of_each_window():
    rng = np.random.default_rng(42)
    values = np.cumsum(rng.normal(size=500))  # persistent: windows stray far from the whole
    values[[3, 250]] = np.nan
    edges = quantile_edges(values)
    fractions = bin_fractions(edges, values)
    got = window_psi(fractions, edges, values, window=100, step=30)
    expected = [psi(fractions, edges, values[s:s + 100]) for s in range(0, 401, 30)]
    assert got.shape == (14,)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got.min() > 0.25 and got.max() > 4.0
    assert window_psi(fractions, edges, values, window=501, step=1).size == 0
    with pytest.raises(ValueError, match="`step` must be a positive integer, got `step=0`"):
        window_psi(fractions, edges, values, window=10, step=0)
