"""Tests of engine.metrics on hand-computable series (SYNTHETIC numbers) and NaN cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import metrics as m
from engine.schema import METRICS_SCHEMA


def test_total_return_compounds():
    # 1.10 * 0.90 - 1 = -0.01
    assert m.total_return([0.10, -0.10]) == pytest.approx(-0.01)
    assert m.total_return([0.0, 0.0]) == 0.0


def test_cagr_over_two_years():
    # +21 % over 504 trading days = 2 years -> sqrt(1.21) - 1 = 0.10 per year
    assert m.cagr([0.21] + [0.0] * 503) == pytest.approx(0.10)
    # one year of 252 days: CAGR = total return
    r = np.full(252, 0.001)
    assert m.cagr(r) == pytest.approx(m.total_return(r))


def test_cagr_nan_when_wealth_is_wiped_out():
    assert math.isnan(m.cagr([-1.0, 0.1]))


def test_sharpe_hand_computed():
    # r = [0.01, -0.01, 0.02]: mean 0.02/3, sample std = sqrt(((1/3)^2 + (5/3)^2 + (4/3)^2)/2)/100
    r = [0.01, -0.01, 0.02]
    mean = 0.02 / 3
    std = math.sqrt(((0.01 - mean) ** 2 + (-0.01 - mean) ** 2 + (0.02 - mean) ** 2) / 2)
    assert m.sharpe_ratio(r) == pytest.approx(mean / std * math.sqrt(252))
    assert std == pytest.approx(math.sqrt((1 / 9 + 25 / 9 + 16 / 9) / 2) / 100)


def test_sortino_hand_computed():
    # downside deviation: sqrt(mean([0, 0.01^2, 0])) = 0.01/sqrt(3); annualised * sqrt(252)
    r = [0.01, -0.01, 0.02]
    dd = 0.01 / math.sqrt(3) * math.sqrt(252)
    assert m.downside_risk(r) == pytest.approx(dd)
    assert m.sortino_ratio(r) == pytest.approx((0.02 / 3) * 252 / dd)


@pytest.mark.parametrize(
    ("fn", "series"),
    [
        (m.sharpe_ratio, []),
        (m.sharpe_ratio, [0.01]),  # < 2 observations
        (m.sharpe_ratio, [0.01, 0.01, 0.01]),  # zero std
        (m.sortino_ratio, [0.01]),
        (m.sortino_ratio, [0.01, 0.02]),  # no downside
        (m.total_return, []),
        (m.cagr, []),
        (m.max_drawdown, []),
        (m.win_rate, []),  # no trades
        (m.avg_trade_pnl_usd, []),
    ],
)
def test_degenerate_inputs_give_nan(fn, series):
    assert math.isnan(fn(series))


def test_max_drawdown_hand_computed():
    # wealth 1 -> 1.1 -> 0.55 -> 0.66: the trough 0.55 is 50 % below the 1.1 peak
    assert m.max_drawdown([0.10, -0.50, 0.20]) == pytest.approx(-0.5)
    # a first-day loss counts against the starting wealth of 1
    assert m.max_drawdown([-0.02, 0.01]) == pytest.approx(-0.02)
    assert m.max_drawdown([0.01, 0.02]) == 0.0


def test_max_drawdown_is_never_positive():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert m.max_drawdown(rng.normal(0, 0.02, 100)) <= 0


def test_win_rate_and_average_pnl():
    # 1 win of 3 (a zero P&L is not a win); mean (10 - 5 + 0) / 3
    assert m.win_rate([10.0, -5.0, 0.0]) == pytest.approx(1 / 3)
    assert m.avg_trade_pnl_usd([10.0, -5.0, 0.0]) == pytest.approx(5 / 3)


def test_returns_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        m.total_return(np.zeros((2, 2)))


def test_summarize_keys_and_counts():
    out = m.summarize([0.01, -0.01], [5.0, -2.0, 3.0], holding_days=[1, 2, 3])
    assert set(out) == {
        name for name in METRICS_SCHEMA if name not in ("run_id", "first_date", "last_date")
    }
    assert out["n_trades"] == 3
    # wins 5 and 3 (avg 4), loss -2: payoff 4 / 2 = 2
    assert (out["avg_win_usd"], out["avg_loss_usd"], out["payoff_ratio"]) == (4.0, -2.0, 2.0)
    assert out["avg_holding_days"] == 2.0
    assert math.isnan(m.summarize([0.01], [])["win_rate"])


def test_drawdown_lengths_and_p99():
    # wealth 1, 1.1, 0.99, 1.0395, 1.2474, 1.2349: below the peak on days 2-3 and day 5
    r = [0.1, -0.1, 0.05, 0.2, -0.01]
    assert m.drawdown_lengths(r).tolist() == [2, 1]
    assert m.drawdown_length_p99(r) == pytest.approx(1.99)
    assert m.drawdown_length_p99([0.01, 0.02]) == 0.0


def test_calmar_is_cagr_over_max_drawdown():
    r = [0.01, -0.02, 0.03]
    assert m.calmar_ratio(r) == pytest.approx(m.cagr(r) / abs(m.max_drawdown(r)))
    assert math.isnan(m.calmar_ratio([0.01, 0.01]))


def test_sharpe_standard_error_is_lo_2002():
    # SR_p = mean / std of [0.02, 0.0] x 126 = 0.01 / 0.0100 (ddof 1: 0.010020) ~ 0.998;
    # se = sqrt((1 + SR_p^2 / 2) / 252) * sqrt(252) = sqrt(1 + 0.498) = 1.224
    r = np.array([0.02, 0.0] * 126)
    sr_p = r.mean() / r.std(ddof=1)
    assert m.sharpe_ratio_standard_error(r) == pytest.approx(math.sqrt(1 + sr_p**2 / 2))


def test_a_short_sample_is_flagged_not_meaningful():
    s = m.summarize(np.full(61, 0.001), np.array([10.0] * 9))
    assert (s["n_sessions"], s["n_closed_trades"], s["is_meaningful"]) == (61, 9, False)
    assert s["sample_note"] == "not meaningful: 61 sessions < 63, 9 closed trades < 20"
    long = m.summarize(np.full(252, 0.001) + np.tile([0.001, -0.001], 126), np.ones(25))
    assert long["is_meaningful"] and long["sample_note"] is None
    assert long["sharpe_ratio_ci_low"] < long["sharpe_ratio"] < long["sharpe_ratio_ci_high"]
