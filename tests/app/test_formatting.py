"""Display formatting of run metrics."""

from __future__ import annotations

import doctest

import pytest

import app.formatting as formatting
from app.formatting import fmt_int, fmt_pct, fmt_ratio, fmt_usd, metric_tiles


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


def test_metric_tiles_order_and_labels() -> None:
    row = {
        "total_return": 0.02,
        "cagr": float("nan"),
        "sharpe_ratio": 1.0,
        "sortino_ratio": 2.0,
        "max_drawdown": -0.1,
        "win_rate": 0.25,
        "n_trades": 4,
    }
    assert metric_tiles(row) == [
        ("Total return", "2.00%"),
        ("CAGR", "n/a"),
        ("Sharpe", "1.00"),
        ("Sortino", "2.00"),
        ("Max drawdown", "-10.00%"),
        ("Win rate", "25.0%"),
        ("Trades", "4"),
    ]


def test_metric_tiles_names_a_missing_metric() -> None:
    with pytest.raises(KeyError, match="n_trades"):
        metric_tiles(
            {
                "total_return": 0.0,
                "cagr": 0.0,
                "sharpe_ratio": 0.0,
                "sortino_ratio": 0.0,
                "max_drawdown": 0.0,
                "win_rate": 0.0,
            }
        )
