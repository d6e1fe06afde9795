"""engine.exits, engine.settlement and engine.portfolio: open positions at the end, stale back
legs, AM settlement, early assignment and dividends, on hand-computed SYNTHETIC chains."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.cli import format_summary

from .conftest import Chain, make_config

D = dt.date
D1, D2, D3, D4 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)
EXP = D(2024, 2, 2)


def _settlements(rows: list[tuple]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={
            "trade_date": pl.Date,
            "am_settlement_price": pl.Float64,
            "am_settlement_method": pl.String,
            "pm_settlement_price": pl.Float64,
            "pm_settlement_method": pl.String,
        },
        orient="row",
    )


def test_a_position_the_data_does_not_see_closed_stays_open():
    # SYNTHETIC: a straddle bought D1 at 5 + 4 = 9 and held to its Feb expiry; the data ends D2
    # (6 + 3.5 = 9.5). It is reported open, marked at 9.5: unrealised (9.5 - 9) * 100 = 50, in
    # the equity curve but not in closed-trade statistics (the old engine closed it on D2 and
    # counted a win)
    quotes = [
        Chain.quote(d, cp, 100, mid, expiration=EXP)
        for d, cp, mid in ((D1, "call", 5.0), (D1, "put", 4.0), (D2, "call", 6.0), (D2, "put", 3.5))
    ]
    cfg = make_config("long_straddle", entry={"schedule": "weekly"})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["status"], t["exit_date"], t["exit_reason"]) == ("open", None, "open")
    assert (t["exit_value"], t["pnl_usd"]) == (pytest.approx(9.5), pytest.approx(50.0))
    m = res.metrics.row(0, named=True)
    assert (m["n_closed_trades"], m["n_open_trades"]) == (0, 1)
    assert m["win_rate"] is None or m["win_rate"] != m["win_rate"]  # NaN: no closed trade
    assert res.equity_daily["equity_usd"][-1] == pytest.approx(1_000_050.0)
    assert set(res.legs["exit_kind"].drop_nulls()) == set()


def test_a_calendar_back_leg_is_never_sold_on_a_stale_quote():
    # SYNTHETIC call calendar 100: front expires D2, a session where the back leg has no quote.
    # The front settles at D2's close (101 -> 1.00); the back leg is sold on D3 at its D3 quote
    # 3.20, not at D1's carried 3.00 (the old engine sold it at the stale mid)
    back = D(2024, 2, 16)
    quotes = [
        Chain.quote(D1, "call", 100, 1.0, expiration=D2),
        Chain.quote(D1, "call", 100, 3.0, expiration=back),
        Chain.quote(D2, "call", 100, 1.0, expiration=D2, underlying_price=101.0),
        Chain.quote(D3, "call", 100, 3.2, expiration=back, underlying_price=101.0),
    ]
    cfg = make_config(
        "long_call_calendar",
        entry={"min_dte": 1, "target_dte": 1, "max_dte": 5, "back_min_dte": 30,
               "back_target_dte": 45, "back_max_dte": 60},
    )  # fmt: skip
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100, D2: 101, D3: 101}), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_date"], t["exit_reason"], t["exit_type"]) == (D3, "expiration", "nearest_day")
    legs = res.legs.sort("expiration").select("exit_date", "exit_price", "exit_kind").rows()
    assert legs == [(D2, pytest.approx(1.0), "settled"), (D3, pytest.approx(3.2), "traded")]


def test_am_contracts_settle_on_the_soq_when_a_settlement_value_is_loaded():
    # SYNTHETIC SPX (AM) call 100 expiring D2: SOQ 102.50 (close 101): worth 2.50
    quotes = [
        Chain.quote(D1, "call", 100, 2.0, expiration=D2, root="SPX"),
        Chain.quote(D2, "call", 100, 1.0, expiration=D2, root="SPX"),
    ]
    settle = _settlements(
        [
            (D1, None, "unavailable", 100.0, "official_close"),
            (D2, 102.5, "soq", 101.0, "official_close"),
        ]
    )
    cfg = make_config("long_call", option_roots=["SPX"], entry={"min_dte": 1, "target_dte": 1})
    res = run_backtest(
        **Chain.frames(quotes, closes={D1: 100.0, D2: 101.0}), cfg=cfg, settlements=settle
    )
    leg = res.legs.row(0, named=True)
    assert (leg["exit_price"], leg["settlement_method"], leg["settlement_price"]) == (
        pytest.approx(2.5),
        "intrinsic_am_soq",
        pytest.approx(102.5),
    )
    assert "settlement: intrinsic_am_soq × 1" in res.runs["approximations"][0]


def test_soq_only_refuses_am_contracts_without_an_soq():
    quotes = [Chain.quote(D1, "call", 100, 2.0, expiration=D2, root="SPX")]
    settle = _settlements([(D2, 102.0, "proxy_etf_open_gap", 101.0, "official_close")])
    cfg = make_config(
        "long_call",
        option_roots=["SPX"],
        entry={"min_dte": 1, "target_dte": 1},
        execution={"am_settlement": "soq_only"},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg, settlements=settle)
    assert res.trades.is_empty()
    assert res.skipped_entries["reason"].to_list() == ["am_settlement_unavailable"]


def test_an_am_close_fallback_is_flagged_in_the_cli_summary():
    quotes = [
        Chain.quote(D1, "call", 100, 2.0, expiration=D2, root="SPX"),
        Chain.quote(D2, "call", 100, 1.0, expiration=D2, root="SPX"),
    ]
    cfg = make_config("long_call", option_roots=["SPX"], entry={"min_dte": 1, "target_dte": 1})
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 101.0}), cfg=cfg)
    assert "intrinsic_am_close_fallback" in format_summary(cfg, res)


def _spy(d: dt.date, cp: str, k: float, mid: float, **kw) -> dict:
    return Chain.quote(d, cp, k, mid, expiration=EXP, root="SPY", **kw)


def test_a_short_american_call_is_assigned_early_before_an_ex_date():
    # SYNTHETIC covered call on SPY: stock 100 at 100, short 95 call at 5.50 (delta 0.8).
    # D2: spot 101, call 6.10: time value 6.10 - 6 = 0.10 < the 0.50 dividend going ex on D3:
    # the call is assigned on D2 at its intrinsic 6.00, the stock goes at 101 (quote time).
    # pnl per lot: stock +1 * 100, call (5.50 - 6.00) * 100 = -50 -> +50; no dividend (the
    # stock is gone before the ex-date)
    quotes = [
        _spy(D1, "call", 95, 5.5, delta=0.8),
        _spy(D2, "call", 95, 6.1, delta=0.9, underlying_price=101.0),
        _spy(D3, "call", 95, 5.6, delta=0.9, underlying_price=100.5),
    ]
    dividends = pl.LazyFrame({"ex_date": [D3], "dividend_usd": [0.5]})
    cfg = make_config(
        "covered_call", option_roots=["SPY"], underlying_symbol="SPY",
        entry={"schedule": "weekly", "delta_tolerance": 0.6},
    )  # fmt: skip
    res = run_backtest(**Chain.frames(quotes), cfg=cfg, dividends=dividends)
    t = res.trades.row(0, named=True)
    assert (t["exit_date"], t["exit_reason"]) == (D2, "early_assignment")
    assert (t["pnl_usd"], t["dividends_usd"]) == (pytest.approx(50.0), 0.0)
    call = res.legs.filter(pl.col("leg_type") == "call").row(0, named=True)
    assert (call["exit_kind"], call["exit_price"]) == ("assigned", pytest.approx(6.0))
    delivered = res.legs.filter(pl.col("exit_kind") == "delivered").row(0, named=True)
    assert (delivered["quantity"], delivered["entry_price"]) == (-100, 95.0)


def test_stock_held_over_an_ex_date_receives_the_dividend():
    # SYNTHETIC covered call, deep out of the money (no early exercise): 100 shares held over
    # D3's ex-date receive 100 * 0.50 = 50; the position is still open at the end (D4)
    quotes = [
        _spy(d, "call", 110, 0.5, delta=0.3, underlying_price=100.0) for d in (D1, D2, D3, D4)
    ]
    dividends = pl.LazyFrame({"ex_date": [D3], "dividend_usd": [0.5]})
    cfg = make_config(
        "covered_call", option_roots=["SPY"], underlying_symbol="SPY",
        entry={"schedule": "weekly"},
    )  # fmt: skip
    res = run_backtest(**Chain.frames(quotes), cfg=cfg, dividends=dividends)
    t = res.trades.row(0, named=True)
    assert (t["status"], t["dividends_usd"], t["pnl_usd"]) == ("open", 50.0, pytest.approx(50.0))
    eq = res.equity_daily["equity_usd"].to_list()
    assert eq[3] - eq[1] == pytest.approx(50.0)


def test_a_run_mostly_on_stale_marks_is_warned_about():
    # SYNTHETIC: a straddle quoted on D1, then its put never again: 3 of 4 open sessions stale
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "put", 100, 4.0, expiration=EXP),
    ] + [Chain.quote(d, "call", 100, 5.0, expiration=EXP) for d in (D2, D3, D4)]
    cfg = make_config("long_straddle", entry={"schedule": "weekly"})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    assert res.metrics["stale_mark_share"][0] == pytest.approx(0.75)
    assert "75% of open position-sessions are marked on stale quotes" in format_summary(cfg, res)
