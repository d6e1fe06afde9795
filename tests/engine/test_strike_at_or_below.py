"""The leg strike rule ``strike_at_or_below_pct`` on hand-made SYNTHETIC strike grids.

Rule: the closest listed strike at or below spot × (1 + value / 100), the mirror of
``strike_at_or_above_pct``. Source: Cboe, CBOE S&P 500 95-110 Collar Index (CLL) methodology
(the put "equal to 95 % of the value of the S&P 500 ... If this strike is not listed, the closest
strike below is selected"); the 5 % Put Protection Index (PPUT) uses the same rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.config import BacktestConfig, ConfigError

from .conftest import Chain

DAY, EXP = dt.date(2024, 1, 10), dt.date(2024, 2, 9)


def _config(value: Any = -5, rule: str = "strike_at_or_below_pct", **entry: Any) -> BacktestConfig:
    return BacktestConfig.from_mapping(
        {
            "strategy": "protective_put_5pct",
            "legs": [{"type": "put", "side": "long", "ratio": 1, rule: value}],
            "option_roots": ["SPXW"],
            "entry": {"target_dte": 30, "min_dte": 1, "max_dte": 45, **entry},
        }
    )


def _run(strikes: list[float], spot: float, cfg: BacktestConfig | None = None):
    """SYNTHETIC: one session of 30-day puts at ``strikes`` (mid 1.00), spot ``spot``."""
    quotes = [
        Chain.quote(DAY, "put", k, 1.0, expiration=EXP, underlying_price=spot) for k in strikes
    ]
    return run_backtest(**Chain.frames(quotes), cfg=cfg or _config())


def _strike(res) -> float:
    return res.legs.filter(pl.col("leg_no") == 1)["strike"].item()


def test_synthetic_closest_strike_below_the_level():
    # SYNTHETIC: spot 100.3, -5 % -> level 95.285; strikes 90, 94, 95, 96, 100 -> 95 (96 is above)
    assert _strike(_run([90, 94, 95, 96, 100], 100.3)) == 95.0


def test_synthetic_an_exactly_listed_strike_is_taken():
    # SYNTHETIC: spot 100, -5 % -> level exactly 95: 95 itself, not 94
    assert _strike(_run([94, 95, 96], 100.0)) == 95.0


def test_synthetic_a_round_level_is_exact_for_both_rules():
    # SYNTHETIC: spot 1300, +10 % -> 1430; spot × 1.1 would be 1430.0000000000002 and miss the
    # listed 1430 (the CLL call: "the closest strike above"); spot 2000, -10 % -> 1800
    above = _config(10, "strike_at_or_above_pct")
    assert _strike(_run([1425, 1430, 1435], 1300.0, above)) == 1430.0
    assert _strike(_run([1795, 1800, 1805], 2000.0, _config(-10))) == 1800.0


def test_synthetic_nothing_listed_below_skips_the_entry_with_its_reason():
    # SYNTHETIC: level 95, strikes 96 and 100 only: no contract for the leg, no position
    res = _run([96, 100], 100.0)
    assert res.trades.is_empty()
    skipped = res.skipped_entries.row(0, named=True)
    assert (skipped["quote_date"], skipped["reason"]) == (DAY, "no_expiration_with_all_legs")


def test_synthetic_a_strike_below_beyond_the_tolerance_is_not_taken():
    # SYNTHETIC: level 95; the closest strike below, 90, is 5 % of spot away: beyond a 2 %
    # strike_tolerance_pct (skipped), within 6 %
    assert _run([90, 100], 100.0, _config(strike_tolerance_pct=2.0)).trades.is_empty()
    assert _strike(_run([90, 100], 100.0, _config(strike_tolerance_pct=6.0))) == 90.0


def test_leg_overrides_accept_the_rule():
    cfg = BacktestConfig.from_mapping(
        {"strategy": "long_put", "leg_overrides": {1: {"strike_at_or_below_pct": -5}}}
    )
    leg = cfg.strategy.legs[0]
    assert (leg.rule, leg.value) == ("strike_at_or_below_pct", -5.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (500, "strike_at_or_below_pct is % of spot in [-80, 400], got 500"),
        (-90.5, "strike_at_or_below_pct is % of spot in [-80, 400], got -90.5"),
        ("low", "strike_at_or_below_pct must be a number, got 'low'"),
        (True, "strike_at_or_below_pct must be a number, got True"),
    ],
)
def test_a_bad_value_is_refused_naming_it(value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(value)


def test_two_strike_rules_on_one_leg_are_refused():
    with pytest.raises(ConfigError, match="give exactly one strike rule"):
        BacktestConfig.from_mapping(
            {
                "strategy": "x",
                "legs": [
                    {
                        "type": "put",
                        "side": "long",
                        "strike_at_or_below_pct": -5,
                        "strike_at_or_above_pct": -5,
                    }
                ],
            }
        )
