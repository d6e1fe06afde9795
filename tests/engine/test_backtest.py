"""engine.backtest on hand-computed SYNTHETIC chains, and invariants on Black-Scholes ones."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.backtest import run_backtest, run_sweep, sweep_grid
from engine.config import BacktestConfig, ExitConfig
from engine.strategies import load_catalogue

from .conftest import Chain, bs_chain, make_config

D = dt.date
D1, D2, D3, D4 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)
EXP = D(2024, 2, 2)


def test_straddle_round_trip_hand_computed():
    # SYNTHETIC: strike 100, S = 100. Day 1 call 5.00 / put 4.00; day 2 call 6.00 / put 3.50.
    # 2 lots, fills at mid +/- 100 bps, 0.50 per contract per leg, hold 1 day.
    #   entry = (5 + 4) * 1.01 = 9.09 per lot; cash day 1 = 10000 - 9.09*200 - 0.5*2*2 = 8180
    #   marks day 1 = 9 * 200 = 1800 -> equity 9980 (daily return -0.002)
    #   exit = 6 * 0.99 = 5.94 is under the call's bid 5.95, so 5.95 (fills stay in the quote);
    #   put 3.5 * 0.99 = 3.465 -> 9.415; cash day 2 = 8180 + 1883 - 2 = 10061
    #   pnl = (9.415 - 9.09) * 200 - 4 = 61; capital at risk = the debit, 1818
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "put", 100, 4.0, expiration=EXP),
        Chain.quote(D2, "call", 100, 6.0, expiration=EXP),
        Chain.quote(D2, "put", 100, 3.5, expiration=EXP),
    ]
    cfg = make_config(
        "long_straddle",
        initial_capital_usd=10_000,
        entry={"schedule": "weekly"},  # one entry: the week's first trading day
        sizing={"contracts": 2},
        execution={"fill": "mid_slippage", "slippage_bps": 100, "commission_per_contract_usd": 0.5},
        exits={"holding_days": 1},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert res.trades.height == 1
    assert (t["entry_date"], t["exit_date"], t["exit_reason"], t["lots"]) == (
        D1,
        D2,
        "holding_period",
        2,
    )
    assert t["entry_value"] == pytest.approx(9.09)
    assert t["exit_value"] == pytest.approx(9.415)
    assert t["commission_usd"] == pytest.approx(4.0)
    assert t["pnl_usd"] == pytest.approx(61.0)
    assert t["trade_return"] == pytest.approx(61.0 / 1818.0)
    assert t["slippage_usd"] == pytest.approx((0.09 + 0.085) * 200)
    eq = res.equity_daily.rows(named=True)
    assert [r["quote_date"] for r in eq] == [D1, D2]
    assert (eq[0]["cash_usd"], eq[0]["positions_value_usd"]) == pytest.approx((8180.0, 1800.0))
    assert eq[0]["daily_return"] == pytest.approx(-0.002)
    assert eq[1]["equity_usd"] == pytest.approx(10061.0)
    assert res.legs.height == 2 and set(res.legs["exit_kind"]) == {"traded"}
    assert res.legs["quantity"].to_list() == [2, 2]


def test_vertical_held_to_expiry_settles_at_intrinsic_on_the_pm_close():
    # SYNTHETIC bull call spread 100/102 expiring day 2 (PM-settled SPXW), close 101.50:
    #   debit 3.00 - 1.90 = 1.10; value at expiry (101.5 - 100) - 0 = 1.50; pnl 0.40 * 100 = 40
    #   max loss = the debit, 110
    quotes = [
        Chain.quote(D1, "call", 100, 3.0, expiration=D2),
        Chain.quote(D1, "call", 102, 1.9, expiration=D2),
        Chain.quote(D2, "call", 100, 1.5, expiration=D2, underlying_price=101.5),
    ]
    cfg = make_config("bull_call_spread", entry={"min_dte": 1, "target_dte": 1})
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 101.5}), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_type"], t["settlement_method"]) == (
        "expiration",
        "settlement",
        "intrinsic_pm_official_close",
    )
    assert t["pnl_usd"] == pytest.approx(40.0)
    assert t["max_loss_usd"] == pytest.approx(110.0)
    legs = res.legs.sort("strike")
    assert legs["exit_price"].to_list() == pytest.approx([1.5, 0.0])
    assert legs["exit_kind"].to_list() == ["settled", "expired_worthless"]


@pytest.mark.parametrize(
    ("opens", "price", "method"),
    [
        ({D2: 103.0}, 3.0, "intrinsic_am_index_open"),
        ({}, 1.0, "intrinsic_am_close_fallback"),
    ],
)
def test_am_settlement_uses_the_open_when_the_data_has_it(opens, price, method):
    # SYNTHETIC SPX (AM-settled) call 100 expiring day 2, no settlement-values frame: open 103
    # -> 3; no open -> the close 101 -> 1, flagged as a fallback (never silently the close)
    quotes = [
        Chain.quote(D1, "call", 100, 2.0, expiration=D2, root="SPX"),
        Chain.quote(D2, "call", 100, 1.0, expiration=D2, root="SPX"),
    ]
    cfg = make_config("long_call", option_roots=["SPX"], entry={"min_dte": 1, "target_dte": 1})
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 101.0}, opens=opens), cfg=cfg)
    leg = res.legs.row(0, named=True)
    assert (leg["exit_price"], leg["settlement_method"]) == (pytest.approx(price), method)


def test_in_the_money_short_equity_option_is_assigned():
    # SYNTHETIC SPY (American, physically settled) short 30-delta call 102 sold at 1.50; the
    # close at expiry is 105: assigned, stock delivered at 102 and sold at 105 -> -3.00 + 1.50
    quotes = [
        Chain.quote(D1, "call", 102, 1.5, expiration=D2, root="SPY", delta=0.3),
        Chain.quote(D2, "call", 102, 3.0, expiration=D2, root="SPY", delta=1.0),
    ]
    cfg = make_config("short_call", option_roots=["SPY"], entry={"min_dte": 1, "target_dte": 1})
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 105.0}), cfg=cfg)
    leg = res.legs.row(0, named=True)
    assert (leg["exit_kind"], leg["exit_price"]) == ("assigned", pytest.approx(3.0))
    assert res.trades["pnl_usd"][0] == pytest.approx(-150.0)


def test_a_stale_day_is_never_filled_the_exit_moves_to_the_next_quoted_day():
    # SYNTHETIC: hold 1 day, but on day 2 the put has no quote (its 4.00 mark is carried and the
    # day flagged stale); the exit moves to day 3 ('nearest_day') at call 7 + put 3 = 10.
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "put", 100, 4.0, expiration=EXP),
        Chain.quote(D2, "call", 100, 6.0, expiration=EXP),
        Chain.quote(D3, "call", 100, 7.0, expiration=EXP),
        Chain.quote(D3, "put", 100, 3.0, expiration=EXP),
    ]
    cfg = make_config("long_straddle", entry={"schedule": "weekly"}, exits={"holding_days": 1})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_date"], t["exit_type"], t["exit_value"]) == (D3, "nearest_day", 10.0)
    day2 = res.positions_daily.filter(pl.col("quote_date") == D2).row(0, named=True)
    assert day2["is_stale"] and day2["mark_value_usd"] == pytest.approx((6.0 + 4.0) * 100)


def test_take_profit_fires_before_the_holding_period():
    # SYNTHETIC long call bought at 5.00; day 2 mid 8.00 = +60 % >= 50 % take-profit
    quotes = [
        Chain.quote(d, "call", 100, mid, expiration=EXP)
        for d, mid in ((D1, 5.0), (D2, 8.0), (D3, 9.0))
    ]
    cfg = make_config(
        "long_call", entry={"schedule": "weekly"}, exits={"take_profit_pct": 50, "holding_days": 5}
    )
    t = run_backtest(**Chain.frames(quotes), cfg=cfg).trades.row(0, named=True)
    assert (t["exit_date"], t["exit_reason"], t["pnl_usd"]) == (D2, "take_profit", 300.0)


def test_credit_stop_loss_is_a_percent_of_the_credit():
    # SYNTHETIC short call sold at 2.00 (credit); day 2 mid 5.00: loss 3.00 = 150 % of the credit
    quotes = [
        Chain.quote(d, "call", 102, mid, expiration=EXP, delta=0.3)
        for d, mid in ((D1, 2.0), (D2, 5.0), (D3, 1.0))
    ]
    cfg = make_config(
        "short_call", entry={"schedule": "weekly"}, exits={"stop_loss_pct": 100, "holding_days": 5}
    )
    t = run_backtest(**Chain.frames(quotes), cfg=cfg).trades.row(0, named=True)
    assert (t["exit_date"], t["exit_reason"], t["pnl_usd"]) == (D2, "stop_loss", -300.0)


# --- invariants on SYNTHETIC Black-Scholes chains ----------------------------------------------

SPOTS = [100.0, 101.2, 99.5, 98.7, 100.9, 102.3, 101.1, 103.0, 102.2, 100.4, 99.9, 101.7]


@pytest.fixture(scope="module")
def bs():
    return bs_chain(SPOTS, expirations=(14, 45, 75), strikes=range(80, 125, 1))


def test_nav_is_cash_plus_marks_every_day(bs):
    res = run_backtest(**bs, cfg=make_config("iron_condor", exits={"holding_days": 3}))
    eq = res.equity_daily
    assert res.trades.height > 5
    assert_frame_equal(
        eq.select((pl.col("cash_usd") + pl.col("positions_value_usd")).alias("x")),
        eq.select(pl.col("equity_usd").alias("x")),
    )
    marks = res.positions_daily.group_by("quote_date").agg(pl.col("mark_value_usd").sum())
    joined = eq.join(marks, on="quote_date", how="left").fill_null(0.0)
    np.testing.assert_allclose(joined["positions_value_usd"], joined["mark_value_usd"])


@pytest.mark.parametrize(
    ("long", "short"),
    [
        ("long_straddle", "short_straddle"),
        ("iron_condor", "reverse_iron_condor"),
        ("long_call_butterfly", "short_call_butterfly"),
        ("long_put_calendar", "short_put_calendar"),
    ],
)
def test_long_and_short_of_the_same_trade_have_opposite_pnl_before_costs(bs, long, short):
    a = run_backtest(**bs, cfg=make_config(long, exits={"holding_days": 4})).trades
    b = run_backtest(**bs, cfg=make_config(short, exits={"holding_days": 4})).trades
    assert a.height > 0 and a["trade_id"].to_list() == b["trade_id"].to_list()
    np.testing.assert_allclose(a["pnl_usd"], -b["pnl_usd"], atol=1e-9)


def test_costs_never_raise_pnl(bs):
    free = run_backtest(**bs, cfg=make_config("bull_put_spread", exits={"holding_days": 3}))
    costly = run_backtest(
        **bs,
        cfg=make_config(
            "bull_put_spread",
            exits={"holding_days": 3},
            execution={
                "fill": "touch",
                "commission_per_contract_usd": 0.65,
                "fee_per_order_usd": 1.0,
            },
        ),
    )
    assert free.trades["trade_id"].to_list() == costly.trades["trade_id"].to_list()
    assert (costly.trades["pnl_usd"] <= free.trades["pnl_usd"] + 1e-9).all()
    assert (costly.trades["commission_usd"] > 0).all()


def test_results_do_not_depend_on_row_order(bs):
    cfg = make_config("iron_butterfly", exits={"holding_days": 2, "take_profit_pct": 20})
    shuffled = {
        k: v.collect().sample(fraction=1.0, shuffle=True, seed=1).lazy() for k, v in bs.items()
    }
    a, b = run_backtest(**bs, cfg=cfg), run_backtest(**shuffled, cfg=cfg)
    for table in ("trades", "legs", "positions_daily", "equity_daily", "metrics"):
        assert_frame_equal(getattr(a, table), getattr(b, table))


def test_expiry_value_equals_intrinsic(bs):
    res = run_backtest(**bs, cfg=make_config("iron_condor", entry={"target_dte": 14}))
    settled = res.legs.filter(pl.col("settlement_price").is_not_null())
    assert settled.height > 0
    intrinsic = np.where(
        settled["leg_type"] == "call",
        np.maximum(settled["settlement_price"] - settled["strike"], 0),
        np.maximum(settled["strike"] - settled["settlement_price"], 0),
    )
    np.testing.assert_allclose(settled["exit_price"], intrinsic)


def test_a_sweep_equals_the_runs_one_by_one(bs):
    cfg = make_config("short_strangle")
    grid = sweep_grid({"take_profit_pct": [None, 25.0], "holding_days": [2, 5]})
    swept = run_sweep(**bs, cfg=cfg, grid=grid)
    assert len(swept) == 4
    for exits, result in zip(grid, swept, strict=True):
        alone = run_backtest(**bs, cfg=dataclasses.replace(cfg, exits=exits))
        assert result.run_id == alone.run_id
        assert_frame_equal(result.trades, alone.trades)
        assert_frame_equal(result.equity_daily, alone.equity_daily)


def test_risk_fraction_sizes_by_capital_at_risk(bs):
    cfg = make_config(
        "bull_put_spread",
        initial_capital_usd=100_000,
        sizing={"mode": "risk_fraction", "fraction": 0.05},
        entry={"max_open_positions": 1},
    )
    trades = run_backtest(**bs, cfg=cfg).trades
    first = trades.row(0, named=True)
    per_lot = first["capital_at_risk_usd"] / first["lots"]
    assert first["lots"] == int(0.05 * 100_000 // per_lot)
    # one position at a time: the next opens only after the previous one closed
    assert (trades["entry_date"].slice(1) >= trades["exit_date"].slice(0, trades.height - 1)).all()


def test_every_catalogue_strategy_runs(bs):
    catalogue = load_catalogue()
    assert len(catalogue) >= 28
    silent = []
    for name in catalogue:
        res = run_backtest(**bs, cfg=make_config(name, exits={"holding_days": 3}))
        assert res.equity_daily.height > 0, name
        if res.trades.is_empty():
            silent.append(name)
    assert silent == []


def test_config_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"unknown strategy 'long_moon'"):
        make_config("long_moon")
    with pytest.raises(ValueError, match=r"entry.max_dte must be an integer, got 'x'"):
        make_config(entry={"max_dte": "x"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['tp'\] in exits"):
        make_config(exits={"tp": 5})
    with pytest.raises(
        ValueError,
        match=r"leg 1: delta is the target \|delta\| in \(0, 1\), "
        r"got 1.5",
    ):
        BacktestConfig.from_mapping(
            {"strategy": "x", "legs": [{"type": "call", "side": "long", "ratio": 1, "delta": 1.5}]}
        )


def test_run_id_is_deterministic():
    a, b = make_config("iron_condor"), make_config("iron_condor")
    assert a.run_id == b.run_id and a.run_id.startswith("iron_condor-")
    assert make_config("iron_condor", exits={"holding_days": 3}).run_id != a.run_id
    assert ExitConfig() == make_config().exits


def test_calendar_back_leg_is_sold_at_the_front_expiration():
    # SYNTHETIC long call calendar, strike 100: sell the front (expiring day 2) at 2.00, buy the
    # back at 4.00 (debit 2.00). Day 2 close 100.5: front settles at 0.50, back sold at its 4.20
    # mid -> value 4.20 - 0.50 = 3.70; pnl (3.70 - 2.00) * 100 = 170
    back = D(2024, 3, 1)
    quotes = [
        Chain.quote(D1, "call", 100, 2.0, expiration=D2),
        Chain.quote(D1, "call", 100, 4.0, expiration=back),
        Chain.quote(D2, "call", 100, 0.5, expiration=D2),
        Chain.quote(D2, "call", 100, 4.2, expiration=back),
    ]
    cfg = make_config(
        "long_call_calendar",
        entry={
            "min_dte": 1,
            "target_dte": 1,
            "max_dte": 5,
            "back_min_dte": 30,
            "back_target_dte": 59,
            "back_max_dte": 90,
        },
    )
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 100.5}), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["entry_value"], t["exit_value"]) == (
        "expiration",
        pytest.approx(2.0),
        pytest.approx(3.7),
    )
    assert t["pnl_usd"] == pytest.approx(170.0)
    assert res.legs["exit_kind"].to_list() == ["settled", "traded"]


def test_iron_condor_max_loss_is_the_wider_wing_less_the_credit():
    # SYNTHETIC condor, S = 100: short put 95 (delta -0.20) at 1.00, long put 93 at 0.50,
    # short call 105 (0.20) at 1.10, long call 107 at 0.40: credit 1.20; wings 2 wide ->
    # max loss (2 - 1.20) * 100 = 80. Held to expiry with the close 100: keeps the credit, 120.
    q = [
        ("put", 95, 1.0, -0.2),
        ("put", 93, 0.5, -0.1),
        ("call", 105, 1.1, 0.2),
        ("call", 107, 0.4, 0.1),
    ]
    quotes = [Chain.quote(D1, cp, k, mid, expiration=D2, delta=dl) for cp, k, mid, dl in q]
    quotes.append(Chain.quote(D2, "call", 105, 0.0, expiration=D2))
    cfg = make_config("iron_condor", entry={"min_dte": 1, "target_dte": 1, "delta_tolerance": 0.01})
    t = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 100.0}), cfg=cfg).trades.row(
        0, named=True
    )
    assert t["entry_value"] == pytest.approx(-1.2)
    assert t["max_loss_usd"] == pytest.approx(80.0)
    assert t["capital_at_risk_usd"] == pytest.approx(80.0)
    assert t["pnl_usd"] == pytest.approx(120.0)


def test_covered_call_stock_trades_at_the_quote_time_spot_not_the_close():
    # SYNTHETIC: 100 shares at the 15:45 spot 100 and a short 102 call at 1.50 (delta 0.3); day 2
    # spot at 15:45 101 (close 101.40, 15 minutes later, ignored), call 1.00, exit after 1 day:
    # stock +1.00 * 100, call +0.50 * 100 -> pnl 150. Entry day: the stock is marked at the spot
    # it was bought at, so the position shows no P&L from nothing (the close, 100.70, would).
    quotes = [
        Chain.quote(D1, "call", 102, 1.5, expiration=EXP, delta=0.3),
        Chain.quote(D2, "call", 102, 1.0, expiration=EXP, delta=0.3, underlying_price=101.0),
    ]
    cfg = make_config("covered_call", entry={"schedule": "weekly"}, exits={"holding_days": 1})
    res = run_backtest(**Chain.frames(quotes, closes={D1: 100.7, D2: 101.4}), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert t["pnl_usd"] == pytest.approx(150.0)
    assert res.positions_daily["unrealized_pnl_usd"][0] == pytest.approx(0.0)
    stock = res.legs.filter(pl.col("leg_type") == "stock").row(0, named=True)
    assert (stock["quantity"], stock["entry_price"], stock["exit_price"]) == (
        100,
        pytest.approx(100.0),
        pytest.approx(101.0),
    )


def _two_day_straddle() -> list[dict]:
    return [
        Chain.quote(d, cp, 100, mid, expiration=EXP)
        for d, cp, mid in (
            (D1, "call", 5.0),
            (D1, "put", 4.0),
            (D2, "call", 6.0),
            (D2, "put", 3.5),
            (D3, "call", 5.5),
            (D3, "put", 3.8),
            (D4, "call", 6.2),
            (D4, "put", 3.1),
        )
    ]


def test_probability_signal_gates_entries_and_its_reversal_exits():
    # SYNTHETIC p_up: day 1 0.40 (<= 0.55), known at day 1's 16:00 close: the first quotes after
    # it are day 2's 15:45 ones, so the entry is day 2 (never day 1's 15:45 quotes, taken before
    # the forecast existed); day 2 0.90 (signal off) is known for day 3: exit day 3
    forecasts = pl.LazyFrame({"as_of_date": [D1, D2, D3], "p_up": [0.40, 0.90, 0.95]})
    cfg = make_config(
        "long_straddle",
        entry={"signal": "prob_up_at_most", "threshold": 0.55, "forecast_model": "m"},
        exits={"exit_on_signal": True, "holding_days": 10},
    )
    res = run_backtest(**Chain.frames(_two_day_straddle()), cfg=cfg, forecasts=forecasts)
    t = res.trades.row(0, named=True)
    assert res.trades.height == 1
    assert (
        t["signal_date"],
        t["entry_date"],
        t["exit_date"],
        t["exit_reason"],
        t["signal_value"],
    ) == (D1, D2, D3, "signal", 0.40)


def test_selector_signal_sizes_half_and_full():
    # SYNTHETIC selector: day 1 picks long_straddle at HALF (4 lots -> 2), day 2 FULL (4 lots),
    # day 3 another strategy (no entry); each fills on the next session's quotes
    selector = pl.LazyFrame(
        {
            "as_of_date": [D1, D2, D3],
            "strategy": ["long_straddle", "long_straddle", "iron_condor"],
            "size_tier": ["HALF", "FULL", "FULL"],
            "direction_confidence": [0.56, 0.65, 0.7],
        }
    )
    cfg = make_config(
        "long_straddle",
        entry={"signal": "selector", "forecast_model": "m"},
        sizing={"contracts": 4},
        exits={"holding_days": 1},
    )
    trades = run_backtest(**Chain.frames(_two_day_straddle()), cfg=cfg, selector=selector).trades
    assert trades.select("signal_date", "entry_date", "lots").rows() == [(D1, D2, 2), (D2, D3, 4)]


def test_top_k_opens_the_highest_scored_contracts():
    # SYNTHETIC scores on day 1: put 100 0.9, call 100 0.2, call 105 0.5 -> top 2 calls: 105, 100
    quotes = _two_day_straddle() + [
        Chain.quote(d, "call", 105, 2.0, expiration=EXP) for d in (D1, D2, D3)
    ]
    scores = pl.LazyFrame(
        {
            "contract_symbol": [
                "SPXW240202P00100000",
                "SPXW240202C00100000",
                "SPXW240202C00105000",
            ],
            "as_of_date": [D1, D1, D1],
            "score": [0.9, 0.2, 0.5],
        }
    )
    cfg = make_config(
        "long_call",
        entry={"signal": "top_k", "k": 2, "forecast_model": "m"},
        exits={"holding_days": 1},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg, scores=scores)
    legs = res.legs.sort("trade_id")
    assert legs["strike"].to_list() == [105.0, 100.0]
    assert res.trades["signal_value"].to_list() == [0.5, 0.2]


def test_call_butterfly_at_expiry_hand_computed():
    # SYNTHETIC long call butterfly 98/100/102 (wings 2 % of S = 100): buy 98 at 3.00, sell two
    # 100 at 1.80, buy 102 at 0.90: debit 3.00 - 3.60 + 0.90 = 0.30. Close at expiry 100.5:
    # value 2.5 - 2 * 0.5 + 0 = 1.50 -> pnl 1.20 * 100 = 120; max loss = the debit, 30
    quotes = [
        Chain.quote(D1, "call", k, mid, expiration=D2)
        for k, mid in ((98, 3.0), (100, 1.8), (102, 0.9))
    ]
    quotes.append(Chain.quote(D2, "call", 100, 0.5, expiration=D2))
    cfg = make_config("long_call_butterfly", entry={"min_dte": 1, "target_dte": 1})
    t = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 100.5}), cfg=cfg).trades.row(
        0, named=True
    )
    assert t["entry_value"] == pytest.approx(0.3)
    assert t["exit_value"] == pytest.approx(1.5)
    assert (t["pnl_usd"], t["max_loss_usd"]) == (pytest.approx(120.0), pytest.approx(30.0))


def test_put_ratio_spread_is_margined_as_naked_below_the_short_strike():
    # SYNTHETIC 1x2 put ratio: buy 100 put at 3.00, sell two 98 puts at 2.00: credit 1.00.
    # Close at expiry 95: value 5 - 2 * 3 = -1 -> pnl (-1 - (-1)) * 100 = 0. Below 98 the loss
    # grows with the fall (max loss at S = 0: 100 - 196 + 1 = -95 points): margin is the lesser
    # of that 9,500 and the naked requirement of the two short puts.
    quotes = [
        Chain.quote(D1, "put", 100, 3.0, expiration=D2),
        Chain.quote(D1, "put", 98, 2.0, expiration=D2),
        Chain.quote(D2, "put", 100, 5.0, expiration=D2),
    ]
    cfg = make_config("put_ratio_spread", entry={"min_dte": 1, "target_dte": 1})
    t = run_backtest(**Chain.frames(quotes, closes={D1: 100.0, D2: 95.0}), cfg=cfg).trades.row(
        0, named=True
    )
    assert t["entry_value"] == pytest.approx(-1.0)
    assert t["pnl_usd"] == pytest.approx(0.0)
    assert t["max_loss_usd"] == pytest.approx(9500.0)
    # Cboe ratio spread: one short 98 put is covered by the long 100 put (a debit put spread:
    # 3 - 2 = 1.00 paid), the other is naked: max(15 % * 100 - 2 OTM, 10 % * 98) + premium 2 =
    # 15 -> (1 + 15) * 100 = 1,600 (the old sum of two naked requirements charged 3,000)
    assert t["capital_at_risk_usd"] == pytest.approx(1600.0)


def test_a_probability_signal_turning_off_exits_only_when_asked():
    # SYNTHETIC: same entry as above (day 2), p_up 0.90 on day 2, but exit_on_signal is off: the
    # position is held its 2 sessions (exit day 4)
    forecasts = pl.LazyFrame({"as_of_date": [D1, D2, D3], "p_up": [0.40, 0.90, 0.95]})
    cfg = make_config(
        "long_straddle",
        entry={"signal": "prob_up_at_most", "threshold": 0.55, "forecast_model": "m"},
        exits={"holding_days": 2},
    )
    t = run_backtest(**Chain.frames(_two_day_straddle()), cfg=cfg, forecasts=forecasts).trades.row(
        0, named=True
    )
    assert (t["exit_date"], t["exit_reason"], t["settlement_method"]) == (
        D4,
        "holding_period",
        "traded",
    )
