"""pareto_front: non-dominated trials over accuracy, Sharpe (higher) and drawdown (lower)."""

import pandas as pd
import pytest

from ml_core.tuning import pareto_front


def test_hand_made_front():
    parts = pd.DataFrame({
        "accuracy": [0.60, 0.55, 0.50, 0.60, 0.58],
        "sharpe": [0.5, 1.2, 0.4, 0.5, 1.2],
        "max_drawdown": [0.10, 0.20, 0.30, 0.05, 0.20],
    }, index=[3, 4, 7, 8, 9])
    # 3 is dominated by 8 (same accuracy and Sharpe, lower drawdown); 4 by 9; 7 by everyone
    assert pareto_front(parts).to_dict() == {3: False, 4: False, 7: False, 8: True, 9: True}


def test_ties_do_not_dominate_each_other():
    parts = pd.DataFrame({"accuracy": [0.6, 0.6], "sharpe": [1.0, 1.0]})
    assert pareto_front(parts).tolist() == [True, True]


def test_one_part_is_enough_and_none_is_an_error():
    assert pareto_front(pd.DataFrame({"accuracy": [0.5, 0.7]})).tolist() == [False, True]
    with pytest.raises(ValueError, match="has none of"):
        pareto_front(pd.DataFrame({"value": [1.0]}))
