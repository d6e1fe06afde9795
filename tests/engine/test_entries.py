"""engine.entries and engine.fills: contract choice, same strikes, skipped entries and fills
inside the quote, on hand-computed SYNTHETIC chains."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from engine.backtest import run_backtest

from .conftest import Chain, make_config

D = dt.date
D1, D2, D3 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)
EXP, EXP2 = D(2024, 2, 2), D(2024, 2, 9)


def test_same_strike_legs_share_the_strike_exactly_or_the_entry_is_skipped():
    # SYNTHETIC: spot 100; the 100 call is quoted but the only put is the 101 (within the old
    # 3 %-of-spot strike tolerance): no straddle, and the skip says why
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "put", 101, 4.5, expiration=EXP),
    ]
    cfg = make_config("long_straddle", entry={"schedule": "weekly"}, exits={"holding_days": 1})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    assert res.trades.is_empty()
    assert res.skipped_entries.select("quote_date", "reason").rows() == [
        (D1, "no_expiration_with_all_legs")
    ]


def test_the_expiration_is_chosen_among_those_where_every_leg_fills():
    # SYNTHETIC: target 30 DTE; EXP (31 DTE) has the call but no put, EXP2 (38 DTE) has both:
    # the straddle opens on EXP2 instead of vanishing
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "call", 100, 5.5, expiration=EXP2),
        Chain.quote(D1, "put", 100, 4.5, expiration=EXP2),
    ]
    cfg = make_config("long_straddle", entry={"schedule": "weekly"}, exits={"holding_days": 1})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    assert res.trades["expiration"].to_list() == [EXP2]


def test_a_short_leg_without_a_bid_is_not_tradable_and_the_skip_is_explained():
    # SYNTHETIC: the short 105 call of a bear call spread is bid 0.00 / ask 0.10 -> no entry
    quotes = [
        Chain.quote(D1, "call", 100, 0.05, expiration=EXP, delta=0.3),
        Chain.quote(D1, "call", 102, 0.05, expiration=EXP, delta=0.1),
    ]
    cfg = make_config("bear_call_spread", entry={"schedule": "weekly"})
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    assert res.trades.is_empty()
    assert res.skipped_entries["reason"].to_list() == ["spread_too_wide"]


def test_skipped_entries_name_the_signal_and_the_sizing_cap():
    # SYNTHETIC: daily schedule over 3 sessions, p_up known for D1 only (fills D2): D1 has no
    # signal mapped to it, D3's (from D2) is off; and a 10-lot short straddle (Cboe margin
    # 15 + 5 premium + 4 other premium = 24 points = $2,400 a lot) under a margin cap of 0.1 %
    # of $1M equity ($1,000) sizes to 0 lots, naming the cap
    quotes = [
        Chain.quote(d, cp, 100, mid, expiration=EXP)
        for d in (D1, D2, D3)
        for cp, mid in (("call", 5.0), ("put", 4.0))
    ]
    forecasts = pl.LazyFrame({"as_of_date": [D1, D2], "p_up": [0.40, 0.90]})
    cfg = make_config(
        "short_straddle",
        entry={"signal": "prob_up_at_most", "threshold": 0.55, "forecast_model": "m"},
        sizing={"contracts": 10, "max_margin_fraction": 0.001},
        exits={"holding_days": 1},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg, forecasts=forecasts)
    assert res.trades.is_empty()
    skipped = res.skipped_entries.select("quote_date", "reason", "detail").rows()
    assert skipped == [
        (D1, "no_signal", None),
        (D2, "sized_to_zero", "0 lots under sizing.max_margin_fraction"),
        (D3, "signal_off", None),
    ]


@pytest.mark.parametrize(
    ("fill", "extra"),
    [
        ("mid_slippage", {"slippage_bps": 10_000}),  # mid x 2 = 0.20 is over the ask: 0.15
        ("touch", {}),
        ("spread_fraction", {"spread_fraction": 1.0}),
    ],
)
def test_every_fill_stays_inside_the_quote(fill, extra):
    # SYNTHETIC short call sold near 1.00 (bid 0.95 / ask 1.05); bought back on D2 against
    # bid 0.05 / ask 0.15 (mid 0.10): every model pays at most the ask
    quotes = [
        Chain.quote(D1, "call", 100, 1.0, expiration=EXP, delta=0.3),
        Chain.quote(D2, "call", 100, 0.10, expiration=EXP, delta=0.1),
    ]
    cfg = make_config(
        "short_call",
        entry={"schedule": "weekly"},
        execution={"fill": fill, **extra},
        exits={"holding_days": 1},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    leg = res.legs.row(0, named=True)
    eps = 1e-12
    assert 0.95 - eps <= leg["entry_price"] <= 1.05 + eps
    # buying back: at most the ask 0.15, at least the bid 0.05
    assert 0.05 - eps <= leg["exit_price"] <= 0.15 + eps
    assert leg["exit_price"] == pytest.approx(0.15)


def test_a_long_leg_without_a_bid_is_abandoned_at_zero_not_sold_under_the_quote():
    # SYNTHETIC long call bought at 0.50; on D2 it is bid 0.00 / ask 0.05 (mid 0.025): it cannot
    # be sold; it is abandoned at 0 (the old engine "sold" it at mid - slippage = 0.0249)
    quotes = [
        Chain.quote(D1, "call", 100, 0.50, expiration=EXP, delta=0.5),
        Chain.quote(D2, "call", 100, 0.025, expiration=EXP, delta=0.01, half_spread=0.025),
    ]
    cfg = make_config(
        "long_call",
        entry={"schedule": "weekly", "delta_tolerance": 0.5},
        execution={"fill": "mid_slippage", "slippage_bps": 50, "commission_per_contract_usd": 1},
        exits={"holding_days": 1},
    )
    res = run_backtest(**Chain.frames(quotes), cfg=cfg)
    leg = res.legs.row(0, named=True)
    assert (leg["exit_price"], leg["exit_kind"]) == (0.0, "abandoned")
    assert res.trades["commission_usd"][0] == pytest.approx(1.0)  # the entry's only
