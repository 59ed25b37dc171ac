import numpy as np
import pytest

from ml_core.config import EnsembleConfig, LabelConfig
from ml_core.ensemble._signal import apply_signal_rule
from ml_core.ensemble._sizing import (
    SizingPolicy,
    cvar_size_cap,
    expected_shortfall,
    kelly_fraction_cap,
    size_caps,
)

# ---------------------------------------------------------------- Kelly


def test_kelly_exact_values_by_payoff_and_fraction():
    # f* = p - (1 - p) / b
    assert kelly_fraction_cap([0.75], 1.0, 1.0).tolist() == [0.5]
    assert kelly_fraction_cap([0.75], 3.0, 1.0).tolist() == [0.75 - 0.25 / 3.0]
    assert kelly_fraction_cap([0.75], 0.5, 1.0).tolist() == [0.25]
    assert kelly_fraction_cap([0.75], 1.0, 0.5).tolist() == [0.25]  # half Kelly
    assert kelly_fraction_cap([1.0, 0.5, 0.25], 1.0, 1.0).tolist() == [1.0, 0.0, 0.0]  # no edge


def test_kelly_sell_wins_with_one_minus_p_long_and_hold_bets_nothing():
    # SELL at p_long = 0.375: p_win = 0.625, b = 2 -> 0.625 - 0.375 / 2 = 0.4375
    out = kelly_fraction_cap([0.375, 0.375, 0.375], 2.0, 1.0, side=[-1, 1, 0])
    assert out.tolist() == [0.4375, 0.0625, 0.0]
    assert kelly_fraction_cap([0.25, 0.75], 1.0, 0.5, side=-1).tolist() == [0.25, 0.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"p_long": [0.5, 1.25]}, r"`p_long` must be in \[0, 1\], got `p_long\[1\]=1.25`"),
    ({"p_long": [[0.5]]}, r"`p_long` must be 1-d, got shape \(1, 1\)"),
    ({"payoff_ratio": 0.0}, r"`payoff_ratio` must be a positive finite number, got "
                            r"`payoff_ratio=0.0`"),
    ({"fraction": 1.5}, r"`fraction` must be in \(0, 1\], got `fraction=1.5`"),
    ({"fraction": 0.0}, r"`fraction=0.0`"),
    ({"side": [1, 2]}, r"`side` must be -1, 0 or 1, got `side\[1\]=2`"),
    ({"side": [1, 1, 1]}, r"`side` must be one value or one per row \(2 rows\)"),
])
def test_kelly_errors_name_the_parameter(kwargs, message):
    args = {"p_long": [0.5, 0.5], "payoff_ratio": 1.0, "fraction": 0.5} | kwargs
    side = args.pop("side", 1)
    with pytest.raises(ValueError, match=message):
        kelly_fraction_cap(args["p_long"], args["payoff_ratio"], args["fraction"], side=side)


# ---------------------------------------------------------------- CVaR


def test_cvar_cap_exact():
    assert cvar_size_cap(0.08, 0.02) == 0.25
    assert cvar_size_cap(0.5, 0.125) == 0.25
    assert cvar_size_cap(0.01, 0.02) == 1.0  # the tail already fits the budget
    assert cvar_size_cap(0.0, 0.02) == 1.0
    assert cvar_size_cap(None, 0.02) == 1.0
    assert cvar_size_cap(0.08, None) == 1.0  # no budget


@pytest.mark.parametrize(("tail", "budget", "message"), [
    (-0.1, 0.02, r"`tail_loss` must be a non-negative finite number or None, got "
                 r"`tail_loss=-0.1`"),
    (float("nan"), 0.02, r"`tail_loss=nan`"),
    (0.1, 0.0, r"`budget` must be a positive finite number, got `budget=0.0`"),
    (0.1, -1.0, r"`budget=-1.0`"),
])
def test_cvar_cap_errors(tail, budget, message):
    with pytest.raises(ValueError, match=message):
        cvar_size_cap(tail, budget)


def test_expected_shortfall_is_the_mean_of_the_ceil_alpha_n_worst():
    r = [0.25, -0.5, 0.125, -0.25, 0.5]
    assert expected_shortfall(r, 0.4) == 0.375  # k = 2: mean(-0.5, -0.25)
    assert expected_shortfall(r, 0.1) == 0.5  # k = ceil(0.5) = 1
    assert expected_shortfall(r, 0.6) == 0.625 / 3  # k = 3: mean(-0.5, -0.25, 0.125)
    assert expected_shortfall(r, 0.9) == 0.0  # k = 5: mean 0.025 is a gain
    assert expected_shortfall([-0.5], 0.05) == 0.5


def test_expected_shortfall_alpha_n_that_is_an_integer_up_to_rounding():
    # 0.07 * 100 = 7.000000000000001 in floating point: still the 7 worst, not 8
    r = [-8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0] + [0.0] * 92
    assert 0.07 * 100 > 7
    assert expected_shortfall(r, 0.07) == 5.0  # mean(-8, ..., -2); with 8 it would be 4.5


def test_expected_shortfall_all_gains_is_zero():
    assert expected_shortfall([0.01, 0.02, 0.03], 0.5) == 0.0


@pytest.mark.parametrize(("returns", "alpha", "message"), [
    ([], 0.05, r"`returns` must be 1-d with at least one value, got shape \(0,\)"),
    ([0.1, float("nan")], 0.05, r"`returns` must be finite, got `returns\[1\]=nan`"),
    ([0.1], 0.0, r"`alpha` must be in \(0, 1\), got `alpha=0.0`"),
    ([0.1], 1.0, r"`alpha=1.0`"),
])
def test_expected_shortfall_errors(returns, alpha, message):
    with pytest.raises(ValueError, match=message):
        expected_shortfall(returns, alpha)


# ---------------------------------------------------------------- size caps


def test_size_caps_is_the_min_of_kelly_for_the_side_and_cvar():
    p = [0.875, 0.25, 0.625]
    kwargs = {"payoff_ratio": 1.0, "kelly_fraction": 0.5}
    # half Kelly for the side p favours: 0.375, 0.25 (SELL, p_win 0.75), 0.125
    assert size_caps(p, tail_loss=None, cvar_budget=None, **kwargs).tolist() == [0.375, 0.25,
                                                                                  0.125]
    # CVaR cap 0.03125 / 0.125 = 0.25
    assert size_caps(p, tail_loss=0.125, cvar_budget=0.03125, **kwargs).tolist() == [0.25, 0.25,
                                                                                      0.125]
    # an explicit side: a BUY at 0.25 has no edge, HOLD gets 0
    assert size_caps(p, [1, 1, 0], tail_loss=0.125, cvar_budget=0.03125,
                     **kwargs).tolist() == [0.25, 0.0, 0.0]


def test_size_caps_at_one_half_is_the_same_for_either_side():
    kwargs = {"payoff_ratio": 4.0, "kelly_fraction": 1.0, "tail_loss": None, "cvar_budget": None}
    # f* = 0.5 - 0.5 / 4 = 0.375 for a BUY and for a SELL
    assert size_caps([0.5], **kwargs).tolist() == [0.375]
    assert size_caps([0.5], [-1], **kwargs).tolist() == [0.375]


def test_sizing_policy_from_config_uses_the_barrier_payoff_ratio():
    policy = SizingPolicy.from_config(
        EnsembleConfig(kelly_fraction=0.5, cvar_budget=0.02),
        LabelConfig(take_profit=3.0, stop_loss=1.5), tail_loss=0.16)
    assert policy == SizingPolicy(payoff_ratio=2.0, kelly_fraction=0.5, tail_loss=0.16,
                                  cvar_budget=0.02)
    # 0.5 * (0.75 - 0.25 / 2) = 0.3125; CVaR cap 0.02 / 0.16 = 0.125
    assert policy.caps([0.75, 0.625]).tolist() == [0.125, 0.125]
    uncapped = SizingPolicy(payoff_ratio=2.0, kelly_fraction=0.5)
    assert uncapped.caps([0.75, 0.625]).tolist() == [0.3125, 0.21875]  # 0.5 * (0.625 - 0.1875)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kelly_fraction": 0.0}, r"`kelly_fraction` must be in \(0, 1\], got `kelly_fraction=0.0`"),
    ({"payoff_ratio": float("inf")}, r"`payoff_ratio=inf`"),
    ({"tail_loss": -0.5, "cvar_budget": 0.1}, r"`tail_loss=-0.5`"),
    ({"cvar_budget": 0.0}, r"`budget=0.0`"),
])
def test_sizing_policy_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SizingPolicy(**kwargs)


def test_caps_bound_the_rule_size():
    p = np.array([0.875, 0.125, 0.75, 0.5])
    caps = size_caps(p, payoff_ratio=1.0, kelly_fraction=0.5, tail_loss=None, cvar_budget=None)
    out = apply_signal_rule(p, [0.0, 1.0, 0.0, 0.0], [1.0] * 4, confidence_threshold=0.75,
                            max_size=caps)
    # scaled 0.75, 0.75, 0.5, HOLD; half-Kelly caps 0.375, 0.375, 0.25, 0
    assert out["signal"].tolist() == [1, -1, 1, 0]
    assert out["size"].tolist() == [0.375, 0.375, 0.25, 0.0]
