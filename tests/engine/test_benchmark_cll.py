"""The Cboe S&P 500 95-110 Collar Index (CLL) config (engine/configs/benchmarks/cll.yaml): three
hand-computed SYNTHETIC rolls, and the ``entry.back_expiry_months`` option it needs.

Rules: Cboe, "CBOE S&P 500 95-110 Collar Index (CLL)", methodology (2008/2009): hold the S&P 500
and its dividends; buy 5 % out-of-the-money SPX puts of the March quarterly cycle on the quarterly
roll date and hold them to the next quarterly expiration (SOQ); sell 10 % out-of-the-money
one-month SPX calls monthly (SOQ); strikes at 95 % (the closest listed below) and 110 % (the
closest listed above) of the index; a cross-roll re-strikes the put when the new call's strike
is below it.

DEVIATION (named in the config's header): an engine position opens and closes all its legs
together, so the put cannot be held across monthly rolls. It is RE-STRUCK EVERY MONTH: on each
roll date the standing put is sold at its mid (or, when it expires with the call, settles on the
SOQ proxy) and a new one is bought at 95 % of the index, of the first quarterly expiration on or
after the new call's. Cboe holds one put from one quarterly roll to the next; no cross-roll rule
is needed here (95 % < 110 % of the same index level).

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
from engine.entries import expiration_combos

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
    # roll 2, 2024-02-16, spot 103.0: call level 113.3 -> 114 (03-15); put level 97.85 -> 97,
    # the first quarterly expiration on or after the call's is the call's own, 03-15
    _q(ROLL2, "put", 95, 0.50, MAR),  # the standing put, sold at this mid
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


def test_cll_synthetic_rolls_strike_settle_and_restrike_the_quarterly_put():
    """SYNTHETIC, hand-computed. The DEVIATION from Cboe is visible in roll 1 -> 2: the March
    put bought on 01-19 is sold at its mid on 02-16 and a new March put bought at 95 % of the
    new index level (Cboe would hold the 95 put to 03-15).

    Roll 1 (01-19): stock 100.3, short 111 call at 0.15, long 95 put (2024-03-15) at 1.40; a lot
    (100.3 + 1.40 - 0.15) x 100 = 10,155 USD: floor(100,000 / 10,155) = floor(9.85) = 9 lots
    (8,605 USD in cash). 02-16: the call settles on the SOQ proxy 102.5 < 111 at 0 (the open,
    ``intrinsic_am_index_open``); the March put does not expire: it is SOLD at its mid 0.50 on
    the roll date; the units at the quote-time spot 103.0. Per lot: stock 270, call +15, put
    (0.50 - 1.40) x 100 = -90, dividends 28.121 -> 223.121; 9 lots: 2,008.089 (equity
    102,008.089).

    Roll 2 (02-16): short 114 call (03-15) at 0.20, long 97 put (03-15, the same expiration)
    at 0.70; a lot (103.0 + 0.70 - 0.20) x 100 = 10,350: floor(102,008.089 / 10,350) =
    floor(9.86) = 9 lots. 03-15: BOTH options expire and settle on the SOQ proxy 95.0: the call
    at 0, the put at 97 - 95.0 = 2.00 (``intrinsic_am_index_open``, no mid involved); the units
    at 96.5. Per lot: stock (96.5 - 103.0) x 100 = -650, call +20, put (2.00 - 0.70) x 100 =
    +130, dividends 28.77 -> -471.23; 9 lots: -4,241.07 (equity 97,767.019).

    Roll 3 (03-15): short 107 call (04-19) at 0.40, long 91 put of the next quarterly
    expiration 2024-06-21 (98 days out) at 2.10; floor(97,767.019 / ((96.5 + 2.10 - 0.40) x
    100)) = floor(9.96) = 9 lots; open at the end of the data.
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
    assert (put2["strike"], put2["expiration"]) == (97.0, MAR)  # the put expires with the call
    # both settle on the SOQ proxy at the shared expiration, never at a mid
    for leg, value in ((call2, 0.0), (put2, 2.0)):
        assert (leg["exit_date"], leg["settlement_method"]) == (MAR, "intrinsic_am_index_open")
        assert (leg["exit_price"], leg["settlement_price"]) == (
            pytest.approx(value),
            pytest.approx(95.0),
        )
    assert (put2["exit_kind"], call2["exit_kind"]) == ("settled", "expired_worthless")
    second = trades.row(1, named=True)
    assert second["pnl_usd"] == pytest.approx(-4241.07)
    assert equity[ROLL3]["equity_usd"] == pytest.approx(97_767.019)

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
    header = (CONFIGS / "cll.yaml").read_text()
    assert "DEVIATION" in header and "RE-STRUCK EVERY MONTH" in header


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
