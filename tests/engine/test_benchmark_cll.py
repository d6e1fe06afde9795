"""The Cboe S&P 500 95-110 Collar Index (CLL) config (engine/configs/benchmarks/cll.yaml): three
hand-computed SYNTHETIC rolls, and the ``entry.back_expiry_months`` option it needs.

Rules: Cboe, "CBOE S&P 500 95-110 Collar Index (CLL)", methodology (2008/2009): hold the S&P 500
and its dividends; buy 5 % out-of-the-money SPX puts of the March quarterly cycle on the quarterly
roll date and hold them to the next quarterly expiration (SOQ); sell 10 % out-of-the-money
one-month SPX calls monthly (SOQ); strikes at 95 % (the closest listed below) and 110 % (the
closest listed above) of the index; a cross-roll re-strikes the put when the new call's strike
is below it.

How the engine holds the put (named in the config's header): a position opens and closes all
its legs together, so on a non-quarterly roll date the standing put is sold at its mid and the
same contract bought again at that mid (``entry.back_strike: standing``; at a mid fill without
costs, the same as holding it), unless the new call's strike is below it, when a new 95 % put of
the same quarterly expiration is bought (the cross-roll). A call with a zero bid is written for
nothing (``execution.zero_bid: trade``).

The SYNTHETIC chain (the harness of tests/engine/test_benchmark_rolls.py, extended by a cycle):
roll 1 Friday 2024-01-19 (spot 100.3), marks Thursday 02-15 (104.0), roll 2 Friday 02-16 at
103.0 with the SOQ proxy (index open) 102.5, marks Thursday 03-14 (96.0), roll 3 Friday 03-15
at 96.5 with the index open 95.0. Every expiration is a standard monthly: 2024-02-16, 03-15
(quarterly), 04-19, 06-21 (quarterly). Dividend yield 3.65 % on every quoted session: a lot of
100 units accrues 100 × (100.3 × 0.0365 × 27 / 365 + 104.0 × 0.0365 / 365) = 28.121 USD from
roll 1 to roll 2 and 100 × (103.0 × 0.0365 × 27 / 365 + 96.0 × 0.0365 / 365) = 28.77 USD from
roll 2 to roll 3 (27 calendar days to each Thursday, one more to the Friday).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.config import (
    HASHED_ONLY_AWAY_FROM_DEFAULT,
    BacktestConfig,
    ConfigError,
    load_config,
)
from engine.entries import expiration_combos, hold_standing_strikes

from .conftest import Chain
from .test_benchmark_rolls import benchmark_raw

CONFIGS = Path(__file__).parents[2] / "engine" / "configs" / "benchmarks"
ROLL1, MARK1, ROLL2 = dt.date(2024, 1, 19), dt.date(2024, 2, 15), dt.date(2024, 2, 16)
MARK2, ROLL3 = dt.date(2024, 3, 14), dt.date(2024, 3, 15)
FEB, MAR, APR, JUN = ROLL2, ROLL3, dt.date(2024, 4, 19), dt.date(2024, 6, 21)
SPOT = {ROLL1: 100.3, MARK1: 104.0, ROLL2: 103.0, MARK2: 96.0, ROLL3: 96.5}
OPENS = {ROLL2: 102.5, ROLL3: 95.0}  # the SOQ proxy of the AM-settled monthlies


def _raw(name: str = "cll") -> dict[str, Any]:
    return benchmark_raw(name)


def _q(day: dt.date, option_type: str, strike: float, mid: float, expiration: dt.date):
    return Chain.quote(
        day, option_type, strike, mid, expiration=expiration, underlying_price=SPOT[day], root="SPX"
    )


def _run(quotes: list[dict[str, Any]], cfg: BacktestConfig | None = None):
    frames = Chain.frames(quotes, opens=OPENS)
    frames["chain"] = frames["chain"].with_columns(pl.lit("monthly").alias("expiry_type"))
    yields = pl.LazyFrame({"quote_date": list(SPOT), "dividend_yield": [0.0365] * len(SPOT)})
    cfg = cfg or BacktestConfig.from_mapping(_raw())
    res = run_backtest(**frames, cfg=cfg, dividend_yields=yields)
    legs = res.legs.sort("trade_id", "leg_no")
    equity = {r["quote_date"]: r for r in res.equity_daily.iter_rows(named=True)}
    return res.trades.sort("trade_id"), legs, equity, res.skipped_entries


def _leg(legs: pl.DataFrame, trade_id: int, leg_no: int) -> dict[str, Any]:
    return legs.filter((pl.col("trade_id") == trade_id) & (pl.col("leg_no") == leg_no)).row(
        0, named=True
    )


CHAIN = [
    # roll 1, 2024-01-19, spot 100.3: the call level 110 % = 110.33, the first listed strike at
    # or above is 111; the put level 95 % = 95.285, the first at or below is 95, of the first
    # March-cycle expiration on or after the call's (02-16): 2024-03-15. The February 95 put
    # (0.80) is nearer in time but February is not a quarterly month.
    _q(ROLL1, "call", 110, 0.20, FEB),
    _q(ROLL1, "call", 111, 0.15, FEB),
    _q(ROLL1, "call", 112, 0.10, FEB),
    _q(ROLL1, "put", 95, 0.80, FEB),
    _q(ROLL1, "put", 95, 1.40, MAR),
    _q(ROLL1, "put", 96, 1.70, MAR),
    _q(MARK1, "call", 111, 0.05, FEB),
    _q(MARK1, "put", 95, 0.60, MAR),
    # roll 2, 2024-02-16, spot 103.0: call level 113.3 -> 114 (03-15); the first quarterly
    # expiration on or after the call's is the call's own, 03-15, the standing put's: it is held
    # (95 <= 114) where the rule alone would take 97 (97.85 -> 97)
    _q(ROLL2, "put", 95, 0.50, MAR),  # the standing put, sold and bought again at this mid
    _q(ROLL2, "call", 113, 0.30, MAR),
    _q(ROLL2, "call", 114, 0.20, MAR),
    _q(ROLL2, "call", 115, 0.12, MAR),
    _q(ROLL2, "put", 97, 0.70, MAR),
    _q(ROLL2, "put", 98, 0.95, MAR),
    _q(MARK2, "call", 114, 0.01, MAR),
    _q(MARK2, "put", 97, 1.20, MAR),
    # roll 3, 2024-03-15, spot 96.5: call level 106.15 -> 107 of 04-19 (35 days); put level
    # 91.675 -> 91 of 2024-06-21 (98 days), the next quarterly; the April 91 put is not one
    _q(ROLL3, "call", 107, 0.40, APR),
    _q(ROLL3, "put", 91, 1.00, APR),
    _q(ROLL3, "put", 91, 2.10, JUN),
]


def test_cll_synthetic_rolls_strike_settle_and_hold_the_quarterly_put():
    """SYNTHETIC, hand-computed. The March 95 put bought on 01-19 is held to its expiration on
    03-15 as Cboe holds it: on 02-16 it is sold and bought again at the same mid 0.50 (the
    standing strike), not re-struck at 95 % of the new index level (97).

    Roll 1 (01-19): stock 100.3, short 111 call at 0.15, long 95 put (2024-03-15) at 1.40; a lot
    (100.3 + 1.40 - 0.15) x 100 = 10,155 USD: floor(100,000 / 10,155) = floor(9.85) = 9 lots
    (8,605 USD in cash). 02-16: the call settles on the SOQ proxy 102.5 < 111 at 0 (the open,
    ``intrinsic_am_index_open``); the March put does not expire: it is SOLD at its mid 0.50 on
    the roll date; the units at the quote-time spot 103.0. Per lot: stock 270, call +15, put
    (0.50 - 1.40) x 100 = -90, dividends 28.121 -> 223.121; 9 lots: 2,008.089 (equity
    102,008.089).

    Roll 2 (02-16): short 114 call (03-15) at 0.20, the standing long 95 put (03-15, the same
    expiration) bought again at 0.50; a lot (103.0 + 0.50 - 0.20) x 100 = 10,330:
    floor(102,008.089 / 10,330) = floor(9.87) = 9 lots. 03-15: BOTH options expire on the SOQ
    proxy 95.0: the call at 0, the put at 95 - 95.0 = 0 (``intrinsic_am_index_open``, no mid
    involved); the units at 96.5. Per lot: stock (96.5 - 103.0) x 100 = -650, call +20, put
    (0 - 0.50) x 100 = -50, dividends 28.77 -> -651.23; 9 lots: -5,861.07 (equity
    96,147.019).

    Roll 3 (03-15): short 107 call (04-19) at 0.40, long 91 put of the next quarterly
    expiration 2024-06-21 (98 days out, a new expiration: the rule's strike) at 2.10;
    floor(96,147.019 / ((96.5 + 2.10 - 0.40) x 100)) = floor(9.79) = 9 lots; open at the end
    of the data.
    """
    trades, legs, equity, skipped = _run(CHAIN)
    assert skipped.is_empty()
    assert trades["lots"].to_list() == [9, 9, 9]
    assert trades["status"].to_list()[:2] == ["closed", "closed"]

    call1, put1 = _leg(legs, 1, 2), _leg(legs, 1, 3)
    assert (call1["strike"], call1["expiration"], call1["quantity"]) == (111.0, FEB, -9)
    assert (put1["strike"], put1["expiration"], put1["quantity"]) == (95.0, MAR, 9)
    # the call settles on the SOQ proxy; the put, expiring later, is sold at its mid
    assert (call1["exit_price"], call1["settlement_method"]) == (0.0, "intrinsic_am_index_open")
    assert call1["settlement_price"] == pytest.approx(102.5)
    assert (put1["exit_date"], put1["exit_price"], put1["exit_kind"]) == (ROLL2, 0.50, "traded")
    assert put1["settlement_method"] == "traded"
    first = trades.row(0, named=True)
    assert first["dividends_usd"] == pytest.approx(9 * 28.121)
    assert first["pnl_usd"] == pytest.approx(2008.089)
    assert equity[ROLL2]["equity_usd"] == pytest.approx(102_008.089)

    call2, put2 = _leg(legs, 2, 2), _leg(legs, 2, 3)
    assert (call2["strike"], call2["expiration"]) == (114.0, MAR)
    # the standing put, bought again at the mid it was sold at; it expires with the call
    assert (put2["strike"], put2["expiration"], put2["entry_price"]) == (95.0, MAR, 0.50)
    assert put2["contract_symbol"] == put1["contract_symbol"]
    # both settle on the SOQ proxy at the shared expiration, never at a mid
    for leg in (call2, put2):
        assert (leg["exit_date"], leg["settlement_method"]) == (MAR, "intrinsic_am_index_open")
        assert (leg["exit_price"], leg["settlement_price"]) == (0.0, pytest.approx(95.0))
    assert (put2["exit_kind"], call2["exit_kind"]) == ("expired_worthless", "expired_worthless")
    second = trades.row(1, named=True)
    assert second["pnl_usd"] == pytest.approx(-5861.07)
    assert equity[ROLL3]["equity_usd"] == pytest.approx(96_147.019)

    call3, put3 = _leg(legs, 3, 2), _leg(legs, 3, 3)
    assert (call3["strike"], call3["expiration"]) == (107.0, APR)
    assert (put3["strike"], put3["expiration"], put3["quantity"]) == (91.0, JUN, 9)


def test_cll_without_the_quarterly_put_opens_nothing():
    """SYNTHETIC: roll 1's quotes without any March put (only February's): no quarterly
    expiration holds the put, so the session opens nothing and says why."""
    quotes = [q for q in CHAIN if q["quote_date"] == ROLL1 and q["expiration"] == FEB]
    quotes.append(_q(MARK1, "call", 111, 0.05, FEB))
    trades, _, _, skipped = _run(quotes)
    assert trades.is_empty()
    assert skipped.filter(pl.col("quote_date") == ROLL1)["reason"].to_list() == [
        "no_expiration_in_window"
    ]


# --- entry.back_expiry_months -----------------------------------------------------------------


def _combos(cfg: BacktestConfig, expirations: list[tuple[dt.date, str]]) -> list[tuple]:
    day = dt.date(2024, 1, 19)
    frame = pl.LazyFrame(
        {
            "quote_date": [day] * len(expirations),
            "option_root": ["SPX"] * len(expirations),
            "root_rank": [0] * len(expirations),
            "expiration": [e for e, _ in expirations],
            "dte": [(e - day).days for e, _ in expirations],
            "expiry_type": [t for _, t in expirations],
        }
    )
    out = expiration_combos(frame, cfg).sort("_order").collect()
    return list(zip(out["_front"], out["back_expiration"], strict=True))


def test_back_expirations_are_the_listed_months_on_or_after_the_front():
    # SYNTHETIC: on 2024-01-19 the front window 20-40 days holds 02-16; the back window 20-100
    # holds 02-16, 03-15, 04-19 (monthlies), 03-28 (a weekly in March): only the March monthly
    # is a quarterly standard expiration; 02-16 is not in [3, 6, 9, 12]
    cfg = BacktestConfig.from_mapping(_raw())
    listed = [
        (FEB, "monthly"),
        (MAR, "monthly"),
        (dt.date(2024, 3, 28), "weekly"),
        (APR, "monthly"),
    ]
    assert _combos(cfg, listed) == [(FEB, MAR)]


def test_back_expiry_months_allows_the_back_expiration_to_be_the_front_one():
    # SYNTHETIC: with February in the months, 02-16 is both the front and the nearest back
    raw = _raw()
    raw["entry"] = {**raw["entry"], "back_expiry_months": [2, 3]}
    cfg = BacktestConfig.from_mapping(raw)
    assert _combos(cfg, [(FEB, "monthly"), (MAR, "monthly")]) == [(FEB, FEB), (FEB, MAR)]


def test_cll_configs_state_the_rules_they_run():
    for name in ("cll", "cll_real_2019"):
        cfg = load_config(CONFIGS / f"{name}.yaml")
        stock, call, put = cfg.strategy.legs
        assert (stock.leg_type, stock.side, stock.ratio) == ("stock", "long", 100)
        assert (call.side, call.rule, call.value, call.expiry) == (
            "short",
            "strike_at_or_above_pct",
            10.0,
            "front",
        )
        assert (put.side, put.rule, put.value, put.expiry) == (
            "long",
            "strike_at_or_below_pct",
            -5.0,
            "back",
        )
        assert cfg.entry.back_expiry_months == (3, 6, 9, 12)
        assert cfg.sizing.mode == "premium_fraction" and cfg.sizing.fraction == 1.0
        assert cfg.execution.stock_exit_price == "quote_time_spot"
        assert cfg.stock_dividends == "trailing_yield"
        assert (cfg.entry.back_strike, cfg.execution.zero_bid) == ("standing", "trade")
    header = (CONFIGS / "cll.yaml").read_text()
    assert "STANDING strike" in header and "cross-roll" in header


def _with_entry(**entry: Any) -> BacktestConfig:
    raw = _raw()
    raw["entry"] = {**raw["entry"], **entry}
    return BacktestConfig.from_mapping(raw)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"back_expiry_months": [3, 13]},
            r"entry.back_expiry_months must list distinct month numbers in \[1, 12\], "
            r"got \[3, 13\]",
        ),
        ({"back_expiry_months": [0]}, r"distinct month numbers in \[1, 12\], got \[0\]"),
        ({"back_expiry_months": [6, 6]}, r"distinct month numbers in \[1, 12\], got \[6, 6\]"),
        ({"back_expiry_months": "3,6"}, "entry.back_expiry_months must be a list of integers"),
        ({"back_expiry_months": [3, True]}, r"must be a list of integers, got \[3, True\]"),
        ({"back_expiry_months": [3.0]}, r"must be a list of integers, got \[3.0\]"),
        (
            {"back_min_dte": 50, "back_target_dte": 20},
            "back_expiry_months needs back_min_dte <= back_target_dte <= back_max_dte, "
            "got 50, 20, 100",
        ),
    ],
)
def test_bad_back_expiry_months_are_named(entry, message):
    with pytest.raises(ConfigError, match=message):
        _with_entry(**entry)


def test_back_expiry_months_needs_a_back_leg():
    raw = _raw("pput")
    raw["entry"] = {**raw["entry"], "back_expiry_months": [3, 6, 9, 12]}
    with pytest.raises(
        ConfigError,
        match=r"entry.back_expiry_months \[3, 6, 9, 12\] needs a leg with expiry: back; "
        r"strategy 'pput' has none",
    ):
        BacktestConfig.from_mapping(raw)


def test_without_back_expiry_months_calendars_still_need_disjoint_windows():
    with pytest.raises(ConfigError, match="calendars need max_dte < back_min_dte"):
        _with_entry(back_expiry_months=[])


def test_back_expiry_months_is_hashed_only_when_set():
    """Unset, the key leaves every run id as it was before it existed (the hash of the canonical
    config without it); set, it changes the run id; its order does not matter (a set of months,
    sorted on construction)."""
    plain = _with_entry(back_expiry_months=[], back_min_dte=41, back_target_dte=41)
    canonical = plain.to_dict()
    assert canonical["entry"].pop("back_expiry_months") == []  # config_json still shows it
    for (section, key), default in HASHED_ONLY_AWAY_FROM_DEFAULT.items():
        holder = canonical if section is None else canonical[section]
        if key in holder and holder[key] == default:
            del holder[key]
    legacy = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    assert plain.config_hash == legacy
    quarterly = _with_entry(back_min_dte=41, back_target_dte=41)
    shuffled = _with_entry(back_expiry_months=[12, 3, 9, 6], back_min_dte=41, back_target_dte=41)
    assert quarterly.config_hash != plain.config_hash
    assert quarterly.config_hash == shuffled.config_hash
    assert quarterly.entry.back_expiry_months == (3, 6, 9, 12)


# --- entry.back_strike: standing ---------------------------------------------------------------


def _legs_and_pool(days: list[tuple[dt.date, float, float, dt.date]], listed: list[tuple]):
    """SYNTHETIC ``select_legs`` rows of a call (leg 2) and a back put (leg 3) per entry day
    ``(day, call strike, put strike by the rule, put expiration)``, and the tradable puts
    ``(day, strike, expiration, mid)``."""
    rows = []
    for day, call_strike, put_strike, expiration in days:
        for no, option_type, strike, exp in (
            (2, "call", call_strike, FEB),
            (3, "put", put_strike, expiration),
        ):
            quote = Chain.quote(day, option_type, strike, 1.0, expiration=exp, root="SPX")
            rows.append({**quote, "leg_no": no})
    pool = [
        Chain.quote(day, "put", strike, mid, expiration=exp, root="SPX")
        for day, strike, exp, mid in listed
    ]
    legs = pl.DataFrame(rows).select(
        "quote_date",
        pl.col("leg_no").cast(pl.Int32),
        "contract_symbol",
        "option_type",
        "strike",
        "expiration",
        "settlement_type",
        "exercise_style",
        "bid",
        "ask",
        "mid",
        "delta",
        "underlying_price",
    )
    return legs, pl.DataFrame(pool).lazy()


def test_standing_strike_is_held_until_a_new_expiration_or_the_cross_roll():
    """SYNTHETIC, one row per case. Day 1 buys the June 95 put (the rule's strike). Day 2 (rule:
    97, same June expiration, call 114): the standing 95 is held, at its own quote (mid 0.70).
    Day 3 (rule: 90, call 94 < 95): the cross-roll, the rule's 90 put of June, now standing.
    Day 4 (rule: 92, call 110): the standing 90 is held. Day 5 (rule: 93, a September put): a new
    expiration takes the rule's strike."""
    d = [dt.date(2024, 1, 19), dt.date(2024, 2, 16), dt.date(2024, 3, 15)]
    d += [dt.date(2024, 4, 19), dt.date(2024, 5, 17)]
    sep = dt.date(2024, 9, 20)
    legs, pool = _legs_and_pool(
        [
            (d[0], 111, 95, JUN),
            (d[1], 114, 97, JUN),
            (d[2], 94, 90, JUN),
            (d[3], 110, 92, JUN),
            (d[4], 111, 93, sep),
        ],
        [(d[1], 95, JUN, 0.70), (d[1], 97, JUN, 1.10), (d[3], 90, JUN, 0.30)],
    )
    cfg = BacktestConfig.from_mapping(_raw())
    out = hold_standing_strikes(legs, pool, cfg).filter(pl.col("leg_no") == 3).sort("quote_date")
    assert out["strike"].to_list() == [95.0, 95.0, 90.0, 90.0, 93.0]
    assert out["mid"].to_list() == [1.0, 0.70, 1.0, 0.30, 1.0]  # the held contract's own quote
    calls = hold_standing_strikes(legs, pool, cfg).filter(pl.col("leg_no") == 2)
    assert calls.equals(legs.filter(pl.col("leg_no") == 2))  # front legs are untouched


def test_standing_strike_not_tradable_that_day_falls_back_to_the_rule():
    """SYNTHETIC: day 2 has no tradable quote of the standing 95 put (only the rule's 97), so
    the rule's 97 is bought, and it is the standing strike from then on (day 3 holds 97)."""
    d = [dt.date(2024, 1, 19), dt.date(2024, 2, 16), dt.date(2024, 3, 15)]
    legs, pool = _legs_and_pool(
        [(d[0], 111, 95, JUN), (d[1], 114, 97, JUN), (d[2], 112, 99, JUN)],
        [(d[1], 97, JUN, 1.10), (d[2], 97, JUN, 0.90)],
    )
    out = hold_standing_strikes(legs, pool, BacktestConfig.from_mapping(_raw()))
    assert out.filter(pl.col("leg_no") == 3)["strike"].to_list() == [95.0, 97.0, 97.0]


def test_back_strike_rule_restrikes_every_entry():
    """SYNTHETIC: the same three rolls with ``back_strike: rule``: roll 2 buys the rule's 97
    March put at 0.70 instead of holding the 95."""
    _, legs, _, _ = _run(CHAIN, _with_entry(back_strike="rule"))
    put2 = _leg(legs, 2, 3)
    assert (put2["strike"], put2["entry_price"]) == (97.0, 0.70)


def test_back_strike_standing_needs_a_back_leg():
    raw = _raw("pput")
    raw["entry"] = {**raw["entry"], "back_strike": "standing"}
    with pytest.raises(ConfigError, match=r"back_strike 'standing' .* strategy 'pput' has none"):
        BacktestConfig.from_mapping(raw)


# --- execution.zero_bid ----------------------------------------------------------------------


def _zero_bid_chain() -> list[dict[str, Any]]:
    """CHAIN with roll 1's 111 call quoted 0 / 0.05 around a model value of 0.0001, as the
    modeled chain quotes a far wing: nobody bids, and its spread is 50,000 % of that mid."""
    out = [q for q in CHAIN if not (q["quote_date"] == ROLL1 and q["strike"] == 111)]
    far = Chain.quote(
        ROLL1,
        "call",
        111,
        0.0001,
        expiration=FEB,
        underlying_price=100.3,
        root="SPX",
        half_spread=0.0499,
    )
    assert (far["bid"], far["ask"], round(far["spread_pct"])) == (0.0, 0.05, 50000)
    out.append(far)
    return out


def test_zero_bid_call_is_written_for_nothing():
    """SYNTHETIC: roll 1's 111 call has bid 0 / ask 0.05. With ``zero_bid: trade`` it is written
    at 0 (not at its mid: no one pays more than the bid), its spread notwithstanding, and the
    collar opens: a lot costs
    (100.3 + 1.40 - 0) x 100 = 10,170, floor(100,000 / 10,170) = 9 lots; the run names it."""
    cfg = BacktestConfig.from_mapping(_raw())
    frames = Chain.frames(_zero_bid_chain(), opens=OPENS)
    frames["chain"] = frames["chain"].with_columns(pl.lit("monthly").alias("expiry_type"))
    yields = pl.LazyFrame({"quote_date": list(SPOT), "dividend_yield": [0.0365] * len(SPOT)})
    res = run_backtest(**frames, cfg=cfg, dividend_yields=yields)
    call = _leg(res.legs, 1, 2)
    assert (call["strike"], call["entry_price"], call["quantity"]) == (111.0, 0.0, -9)
    assert (
        "zero bid: 1 short option leg(s) opened where the bid was 0"
        in (res.runs["approximations"][0])
    )


def test_zero_bid_skip_writes_the_next_strike_with_a_bid():
    """SYNTHETIC: the same chain with ``zero_bid: skip`` (the default of every other config):
    the 111 call the rule names is not tradable, so roll 1 writes the first strike above it
    with a bid, 112 at 0.10 (within the 2 % tolerance); the run names no zero-bid leg."""
    raw = _raw()
    raw["execution"] = {**raw["execution"], "zero_bid": "skip"}
    cfg = BacktestConfig.from_mapping(raw)
    _, legs, _, skipped = _run(_zero_bid_chain(), cfg)
    call = _leg(legs, 1, 2)
    assert (call["strike"], call["entry_price"]) == (112.0, 0.10)
    assert skipped.is_empty()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("execution", "zero_bid", "trade"), ("entry", "back_strike", "standing")],
)
def test_new_keys_are_hashed_only_when_set(section, key, value):
    """Unset (the default), a key leaves every run id as it was before it existed; set, it
    changes the run id."""
    raw = _raw()
    raw["execution"] = {**raw["execution"], "zero_bid": "skip"}
    raw["entry"] = {**raw["entry"], "back_strike": "rule"}
    plain = BacktestConfig.from_mapping(raw)
    canonical = plain.to_dict()
    for (sec, k), default in HASHED_ONLY_AWAY_FROM_DEFAULT.items():
        holder = canonical if sec is None else canonical[sec]
        if k in holder and holder[k] == default:
            del holder[k]
    assert key not in canonical[section]
    legacy = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    assert plain.config_hash == legacy
    raw[section] = {**raw[section], key: value}
    assert BacktestConfig.from_mapping(raw).config_hash != plain.config_hash
