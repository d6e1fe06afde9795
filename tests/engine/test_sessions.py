"""engine.sessions: the NYSE session clock and the quote time of signals, on SYNTHETIC chains."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.sessions import CoverageGapError, nyse_sessions, session_calendar

from .conftest import Chain, make_config

D = dt.date
D1, D2, D3, D4 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)
EXP = D(2024, 2, 2)


def _straddle(days: dict[dt.date, tuple[float, float]]) -> list[dict]:
    return [
        Chain.quote(d, cp, 100, mid, expiration=EXP)
        for d, (call, put) in days.items()
        for cp, mid in (("call", call), ("put", put))
    ]


def test_a_session_the_vendor_skipped_counts_and_is_a_stale_day():
    # SYNTHETIC: quotes on D1 and D3 only; D2 (2024-01-03) is an NYSE session the vendor lacks.
    # Hold 1 session: the exit is due on D2, which has no quote, so it moves to D3; the trade
    # held 2 sessions (the old clock, built from the vendor's dates, called D3 "day 1").
    quotes = _straddle({D1: (5.0, 4.0), D3: (6.0, 3.5)})
    cfg = make_config("long_straddle", entry={"schedule": "weekly"}, exits={"holding_days": 1})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_date"], t["exit_type"], t["holding_days_actual"]) == (D3, "nearest_day", 2)
    assert res.equity_daily["quote_date"].to_list() == [D1, D2, D3]
    day2 = res.positions_daily.filter(pl.col("quote_date") == D2).row(0, named=True)
    assert day2["is_stale"] and day2["mark_value_usd"] == pytest.approx(900.0)
    assert res.metrics["n_sessions"][0] == 3


def test_holidays_are_not_sessions():
    # 2024-01-15 is Martin Luther King Jr. Day: no NYSE session between the 12th and the 16th
    chain = pl.LazyFrame(
        {
            "quote_date": [D(2024, 1, 12), D(2024, 1, 16)],
            "quoted_at": [dt.datetime(2024, 1, 12, 20, 45, tzinfo=dt.UTC)] * 2,
            "underlying_price": [100.0, 101.0],
        }
    )
    cal = session_calendar(
        chain, nyse_sessions(), start_date=None, end_date=None, max_gap_sessions=5, label="x"
    )
    assert cal["quote_date"].to_list() == [D(2024, 1, 12), D(2024, 1, 16)]
    assert cal["has_quotes"].all()


def test_a_gap_in_the_data_longer_than_allowed_is_refused_with_its_dates():
    # SYNTHETIC: a week of quotes, then nothing until three weeks later (13 sessions missing)
    quotes = _straddle({D1: (5.0, 4.0), D(2024, 1, 23): (6.0, 3.5)})
    cfg = make_config("long_straddle", exits={"holding_days": 1})
    with pytest.raises(CoverageGapError) as err:
        run_backtest(**Chain.frames(quotes), cfg=cfg)
    message = str(err.value)
    assert "13 consecutive NYSE sessions 2024-01-03..2024-01-22" in message
    assert "start_date on or after 2024-01-23" in message
    # the same run on one side of the gap is fine
    ok = make_config("long_straddle", end_date="2024-01-02", exits={"holding_days": 1})
    assert run_backtest(**Chain.frames(quotes), cfg=ok).metrics["n_sessions"][0] == 1


def test_an_explicit_signal_lag_of_zero_fills_on_the_same_sessions_quotes():
    # SYNTHETIC p_up 0.40 on D1: by default it fills on D2 (the first quotes after D1's close);
    # with signal_lag_sessions 0 the config states the look-ahead and fills on D1's 15:45 quotes
    quotes = _straddle({D1: (5.0, 4.0), D2: (6.0, 3.5), D3: (5.5, 3.8), D4: (6.2, 3.1)})
    forecasts = pl.LazyFrame({"as_of_date": [D1, D2, D3], "p_up": [0.40, 0.90, 0.95]})
    entry = {"signal": "prob_up_at_most", "threshold": 0.55, "forecast_model": "m"}
    default = make_config("long_straddle", entry=entry, exits={"holding_days": 1})
    stated = make_config(
        "long_straddle", entry={**entry, "signal_lag_sessions": 0}, exits={"holding_days": 1}
    )
    assert run_backtest(**Chain.frames(quotes), cfg=default, forecasts=forecasts).trades[
        "entry_date"
    ].to_list() == [D2]
    assert run_backtest(**Chain.frames(quotes), cfg=stated, forecasts=forecasts).trades[
        "entry_date"
    ].to_list() == [D1]


def test_the_window_is_clipped_to_the_datas_coverage():
    # SYNTHETIC: start_date months before the first quote is not a gap: the run starts at D1
    quotes = _straddle({D1: (5.0, 4.0), D2: (6.0, 3.5)})
    cfg = make_config(
        "long_straddle", start_date="2023-06-01", end_date="2024-06-01", exits={"holding_days": 1}
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    assert res.equity_daily["quote_date"].to_list() == [D1, D2]
