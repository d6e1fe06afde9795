"""Display formatting of run metrics, their sample and the run tables (SYNTHETIC values)."""

from __future__ import annotations

import datetime as dt
import doctest

import polars as pl
import pytest

import app.formatting as formatting
from app.formatting import (
    fmt_int,
    fmt_pct,
    fmt_ratio,
    fmt_usd,
    metric_tiles,
    numbered_legs,
    numbered_trades,
    run_label,
    run_sample,
    stat_tiles,
)
from engine.metrics import MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES


def test_doctests() -> None:
    assert doctest.testmod(formatting).failed == 0


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_values_show_as_not_available(missing) -> None:
    assert fmt_pct(missing) == fmt_ratio(missing) == fmt_usd(missing) == fmt_int(missing) == "n/a"


def test_values() -> None:
    assert fmt_pct(-0.0125) == "-1.25%"
    assert fmt_pct(0.5, digits=1) == "50.0%"
    assert fmt_ratio(-0.456) == "-0.46"
    assert fmt_usd(1000) == "$1,000.00"
    assert fmt_usd(-0.5) == "-$0.50"
    assert fmt_int(0) == "0"


# SYNTHETIC row: an older engine's metrics (no sample columns, no volatility or Calmar).
_OLD_ROW = {
    "total_return": 0.02,
    "cagr": float("nan"),
    "sharpe_ratio": 1.0,
    "sortino_ratio": 2.0,
    "max_drawdown": -0.1,
    "win_rate": 0.25,
    "n_trades": 4,
}


def test_metric_tiles_order_and_labels() -> None:
    assert metric_tiles(_OLD_ROW) == [
        ("Total return", "2.00%"),
        ("CAGR", "n/a"),
        ("Sharpe", "1.00"),
        ("Sortino", "2.00"),
        ("Max drawdown", "-10.00%"),
        ("Win rate", "25.0%"),
        ("Trades", "4"),
    ]


def test_metric_tiles_names_a_missing_metric() -> None:
    row = {k: v for k, v in _OLD_ROW.items() if k != "n_trades"}
    with pytest.raises(KeyError, match="n_trades"):
        metric_tiles(row)


def _row(n_sessions: int, n_closed: int, **extra) -> dict:
    """SYNTHETIC metrics row of the current engine with the given sample."""
    return {
        **_OLD_ROW,
        "volatility": 0.3,
        "calmar_ratio": 0.5,
        "n_trades": n_closed,
        "n_sessions": n_sessions,
        "n_closed_trades": n_closed,
        "n_open_trades": 0,
        **extra,
    }


@pytest.mark.parametrize(
    ("n_sessions", "n_closed", "meaningful", "shortfall"),
    [
        (MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES, True, ""),
        (MIN_MEANINGFUL_SESSIONS - 1, MIN_MEANINGFUL_TRADES, False, "62 sessions < 63"),
        (MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES - 1, False, "19 closed trades < 20"),
        (56, 5, False, "56 sessions < 63, 5 closed trades < 20"),
    ],
)
def test_sample_rule_at_its_thresholds(
    n_sessions: int, n_closed: int, meaningful: bool, shortfall: str
) -> None:
    """SYNTHETIC: the engine's rule, >= 63 sessions and >= 20 closed trades, at the edges."""
    sample = run_sample(_row(n_sessions, n_closed))
    assert sample.is_meaningful is meaningful
    assert sample.shortfall == shortfall
    tiles = {t.label: t for t in stat_tiles(_row(n_sessions, n_closed))}
    annualised = {"CAGR", "Volatility", "Sharpe", "Sortino", "Calmar"}
    assert {label for label, t in tiles.items() if t.annualised} == annualised
    assert all(tiles[label].meaningful is meaningful for label in annualised)
    # what is not annualised is never greyed out
    assert all(t.meaningful for label, t in tiles.items() if label not in annualised)


def test_every_annualised_figure_carries_its_sample_and_the_sharpe_its_interval() -> None:
    """SYNTHETIC: the issue's strangle, Sharpe 2.23 on 5 trades over 56 sessions."""
    row = _row(
        56,
        5,
        sharpe_ratio=2.23,
        n_open_trades=2,
        sharpe_ratio_ci_low=-2.11,
        sharpe_ratio_ci_high=6.57,
    )
    tiles = {t.label: t for t in stat_tiles(row)}
    assert tiles["Calmar"].note == "n = 56 sessions · 5 closed trades · 2 open"
    assert tiles["Sharpe"].value == "2.23"
    assert (
        tiles["Sharpe"].note == "95 % CI [-2.11, 6.57] · n = 56 sessions · 5 closed trades · 2 open"
    )
    assert tiles["Trades"].note == "closed; 2 still open"
    assert tiles["Win rate"].note == "of 5 closed trades"
    assert not tiles["Sharpe"].meaningful


def test_an_older_row_uses_the_equity_curve_for_its_sessions() -> None:
    sample = run_sample(_OLD_ROW, n_sessions=300)
    assert (sample.n_sessions, sample.n_closed_trades, sample.sharpe_ci) == (300, 4, None)
    assert sample.shortfall == "4 closed trades < 20"
    assert run_sample(_OLD_ROW).shortfall == "? sessions < 63, 4 closed trades < 20"


def test_run_label_never_prints_none() -> None:
    run = {
        "run_id": "bull_put_spread-40394552cef8",
        "strategy": "bull_put_spread",
        "underlying_symbol": "SPX",
        "forecast_model": None,
        "model_version": None,
    }
    label = run_label(run, "real chain")
    assert "None" not in label
    assert (
        label
        == "bull_put_spread-40394552cef8 · bull_put_spread · SPX · no forecast gate · real chain"
    )
    gated = {**run, "forecast_model": "xgb_direction_5d", "model_version": "v3"}
    assert run_label(gated).endswith("· xgb_direction_5d v3")


def test_numbered_trades_count_in_entry_order_beside_the_engines_ids() -> None:
    """SYNTHETIC: ids 1, 5, 8 (candidates 2-4 and 6-7 were never traded)."""
    trades = pl.DataFrame(
        {
            "trade_id": [5, 1, 8],
            "entry_date": [dt.date(2019, 5, 6), dt.date(2019, 4, 25), dt.date(2019, 5, 20)],
        }
    )
    shown = numbered_trades(trades)
    assert shown["#"].to_list() == [1, 2, 3]
    assert shown["trade_id"].to_list() == [1, 5, 8]
    legs = pl.DataFrame({"trade_id": [8, 1], "leg_no": [1, 1]})
    assert numbered_legs(legs, trades)["#"].to_list() == [3, 1]
