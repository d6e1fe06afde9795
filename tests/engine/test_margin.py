"""Tests of engine.margin: the Cboe strategy-based requirement of every structure, per lot.

Test data is SYNTHETIC and hand-computed (the arithmetic is in a comment beside each case),
except:

* the worked examples of the Cboe *Margin Manual* (November 2021 edition, page cited; its prices
  are the manual's own illustrations) and of tastytrade's support page on short strangles;
* the SPX short strangle (2815P/2985C) and 1x2 put ratio (long 2940P, 2x short 2885P) at spot
  2919.04, from the real 2019 SPX chain: the engine charged $71,994 and $85,612 per lot by
  summing the naked requirement of every short; the premium sums used here are derived from
  those two numbers (the split between the legs, and the ratio's long premium, are SYNTHETIC).

Cross-check, not a source of truth: ``margin-estimator`` 0.4.1 (pip, a throwaway venv, not a
project dependency) gives the same numbers for the manual's pp. 28, 32, 39, 42, 52, 56 cases,
the SPX strangle ($38,612.40), the ratio ($44,381.60 with a 40.00 long premium: 40 + 403.816),
the tastytrade strangle ($1,030) and the SPY iron condor of its README ($262); it rounds
requirements to cents in points, so p. 34 comes out $7,370.00 there against $7,370.25 here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import doctest
import math
import time

import numpy as np
import polars as pl
import pytest

from engine import margin as mg
from engine.margin import MARGIN_RULES, strategy_margin

FRONT = dt.date(2019, 4, 18)
BACK = dt.date(2019, 5, 17)
MULT = 100


@dataclasses.dataclass(frozen=True)
class Leg:
    leg_type: str
    sign: int
    strike: float | None
    price: float
    ratio: int = 1
    expiration: dt.date = FRONT


@dataclasses.dataclass(frozen=True)
class Position:
    spot: float
    legs: tuple[Leg, ...]
    is_cash_secured: bool = False


def pos(spot: float, *legs: Leg, cash: bool = False) -> Position:
    return Position(spot, legs, cash)


def short(leg_type: str, strike: float | None, price: float, ratio: int = 1, exp=FRONT) -> Leg:
    return Leg(leg_type, -1, strike, price, ratio, exp)


def long(leg_type: str, strike: float | None, price: float, ratio: int = 1, exp=FRONT) -> Leg:
    return Leg(leg_type, 1, strike, price, ratio, exp)


def shares(n: int, price: float, sign: int = 1) -> Leg:
    return Leg("stock", sign, None, price, n, FRONT)


def frames(*positions: Position, multiplier: int = MULT) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two input frames, ``entry_value`` = Σ units·price (as engine.backtest builds it)."""
    leg_rows, pos_rows = [], []
    for pid, p in enumerate(positions, start=1):
        value = 0.0
        for no, leg in enumerate(p.legs, start=1):
            units = leg.sign * leg.ratio / (multiplier if leg.leg_type == "stock" else 1)
            value += units * leg.price
            leg_rows.append(
                {
                    "position_id": pid,
                    "leg_no": no,
                    "leg_type": leg.leg_type,
                    "sign": leg.sign,
                    "ratio": leg.ratio,
                    "units": units,
                    "strike": leg.strike,
                    "expiration": leg.expiration,
                    "entry_price": leg.price,
                    "mid": leg.price,
                }
            )
        pos_rows.append(
            {
                "position_id": pid,
                "entry_value": value,
                "entry_underlying_price": p.spot,
                "is_cash_secured": p.is_cash_secured,
            }
        )
    legs = pl.DataFrame(
        leg_rows,
        schema={
            "position_id": pl.Int64,
            "leg_no": pl.Int32,
            "leg_type": pl.String,
            "sign": pl.Int32,
            "ratio": pl.Int32,
            "units": pl.Float64,
            "strike": pl.Float64,
            "expiration": pl.Date,
            "entry_price": pl.Float64,
            "mid": pl.Float64,
        },
    )
    return legs, pl.DataFrame(pos_rows)


def run(*positions: Position, underlying_class: str = "equity") -> pl.DataFrame:
    legs, p = frames(*positions)
    return strategy_margin(legs, p, multiplier=MULT, underlying_class=underlying_class)


def one(position: Position, underlying_class: str = "equity") -> dict:
    return run(position, underlying_class=underlying_class).row(0, named=True)


# --- the Cboe Margin Manual's worked examples ---------------------------------------------------


@pytest.mark.parametrize(
    ("case", "underlying_class", "expected_usd"),
    [
        # p. 28, short 1 Sep 80 put at 2.00, XYZ at 95: 20 % x 95 - 15 OTM = 4 < 10 % x 80 = 8
        # -> (2.00 + 8.00) x 100 = $1,000
        (pos(95.0, short("put", 80, 2.00)), "equity", 1000.00),
        # p. 28, short 1 Jan 20 put at 1.50, XYZ at 19.50 (ITM): 20 % x 19.50 = 3.90 > 2.00
        # -> (1.50 + 3.90) x 100 = $540
        (pos(19.50, short("put", 20, 1.50)), "equity", 540.00),
        # p. 32, short 1 Nov 120 call at 8.40, XYZ at 128.50 (ITM): 20 % x 128.50 = 25.70
        # -> (8.40 + 25.70) x 100 = $3,410
        (pos(128.50, short("call", 120, 8.40)), "equity", 3410.00),
        # p. 32, short 1 Feb 30 call at .05, XYZ at 26.38: 5.276 - 3.62 = 1.656 < 10 % x 26.38
        # -> (0.05 + 2.638) x 100 = $268.80
        (pos(26.38, short("call", 30, 0.05)), "equity", 268.80),
        # p. 30, broad-based ETF, short 410 put at .10, at 445.35: 15 % x 445.35 - 35.35 =
        # 31.4525 < 10 % x 410 = 41 -> (0.10 + 41) x 100 = $4,110
        (pos(445.35, short("put", 410, 0.10)), "broad_based_index", 4110.00),
        # p. 34, broad-based index, short 430 call at 8.70, index at 433.35 (ITM):
        # 15 % x 433.35 = 65.0025 -> (8.70 + 65.0025) x 100 = $7,370.25
        (pos(433.35, short("call", 430, 8.70)), "broad_based_index", 7370.25),
    ],
    ids=["p28_otm_put", "p28_itm_put", "p32_itm_call", "p32_otm_call", "p30_etf", "p34_index"],
)
def test_naked_short_matches_manual_examples(case, underlying_class, expected_usd):
    row = one(case, underlying_class)
    assert row["margin_usd"] == pytest.approx(expected_usd)
    assert row["margin_rule"] == "naked"


def test_credit_call_spread_manual_p42():
    # p. 42: long Nov 125 call at 3.80, short Nov 120 call at 8.40, XYZ at 128.50. Manual:
    # requirement min(naked 3,410, 500 spread) + 380 long = $880, proceeds $840 applied ->
    # $40 cash call = strike difference 5 less the credit 4.60 = the maximum loss
    row = one(pos(128.50, long("call", 125, 3.80), short("call", 120, 8.40)))
    assert row["margin_usd"] == pytest.approx(40.0)
    assert row["max_loss_usd"] == pytest.approx(40.0)
    assert row["margin_rule"] == "vertical_spread"


def test_debit_put_spread_manual_p39():
    # p. 39: long Nov 250 put at 3, short Nov 240 put at .95, XYZ at 255: the long put is the
    # more protective -> no requirement on the short; requirement $300, proceeds $95 applied ->
    # $205 = the debit
    row = one(pos(255.0, long("put", 250, 3.00), short("put", 240, 0.95)))
    assert row["margin_usd"] == pytest.approx(205.0)
    assert row["max_loss_usd"] == pytest.approx(205.0)
    assert row["margin_rule"] == "vertical_spread"


def test_broken_wing_put_butterfly_manual_p52():
    # p. 52: long 540 put at 5.60, short 2 x 550 puts at 7.20, long 555 put at 9.80, XYZ at
    # 550. Maximum potential loss 5 (at or below 540: 15 - 2 x 10) -> requirement
    # 500 + 560 + 980 = $2,040, proceeds 2 x 720 applied -> $600 (= 5 + the 1.00 debit).
    # Pairwise spreads would charge (555/550: 0) + (540/550: 10) + 1 = 11 -> the cap binds.
    row = one(
        pos(550.0, long("put", 540, 5.60), short("put", 550, 7.20, ratio=2), long("put", 555, 9.80))
    )
    assert row["margin_usd"] == pytest.approx(600.0)
    assert row["max_loss_usd"] == pytest.approx(600.0)
    assert row["margin_rule"] == "butterfly"


def test_short_iron_butterfly_manual_p56():
    # p. 56: long Oct 16 put .10, short Oct 20 put .20, short Oct 20 call 7, long Oct 24 call 4,
    # XYZ at 26.75. Put side: min(naked 0.20 + 10 % x 20 = 2.20, gap 4) = 2.20; call side:
    # min(7 + 20 % x 26.75 = 12.35, 4) = 4; the greater, 4, + longs 4.10 - proceeds 7.20
    # = 0.90 -> $90 (the manual's $810 requirement less $720 proceeds)
    row = one(
        pos(
            26.75,
            long("put", 16, 0.10),
            short("put", 20, 0.20),
            short("call", 20, 7.00),
            long("call", 24, 4.00),
        )
    )
    assert row["margin_usd"] == pytest.approx(90.0)
    assert row["max_loss_usd"] == pytest.approx(90.0)
    assert row["margin_rule"] == "iron_condor"


@pytest.mark.parametrize(
    ("case", "expected_usd"),
    [
        # tastytrade support, "Short Straddle/Strangle": stock at 45, short 47 call 2.10, short
        # 43 put 1.20. Call: 2.10 + 9 - 2 = 9.10; put: 1.20 + 9 - 2 = 8.20; 9.10 + 1.20 = $1,030
        (pos(45.0, short("call", 47, 2.10), short("put", 43, 1.20)), 1030.0),
        # manual p. 45 (as quoted in a public forum thread): XYZ 92.63, short 90 call 7.00, short
        # 90 put 3.70. Call: 7 + 18.526 = 25.526; put: 3.70 + 18.526 - 2.63 = 19.596
        # -> 25.526 + 3.70 = 29.226 -> $2,922.60
        (pos(92.63, short("call", 90, 7.00), short("put", 90, 3.70)), 2922.60),
    ],
    ids=["tastytrade_strangle", "p45_straddle"],
)
def test_short_straddle_strangle_examples(case, expected_usd):
    row = one(case)
    assert row["margin_usd"] == pytest.approx(expected_usd)
    assert row["max_loss_usd"] == math.inf
    assert row["margin_rule"] == "straddle_strangle"


# --- the two SPX cases the engine over-charged (real 2019 chain, spot 2919.04) ------------------

SPX = 2919.04
# naked requirements, index rate 15 %: 0.15 x 2919.04 = 437.856
# 2815P: 437.856 - (2919.04 - 2815 = 104.04) = 333.816 > 10 % x 2815 = 281.5
# 2985C: 437.856 - (2985 - 2919.04 = 65.96) = 371.896 > 10 % x 2919.04 = 291.904
# 2885P: 437.856 - (2919.04 - 2885 = 34.04) = 403.816 > 288.5
# sum of naked (the old charge) = 333.816 + 371.896 + premiums = 719.94 -> premiums = 14.228
STRANGLE_PREMIUM = 719.94 - 333.816 - 371.896


@pytest.mark.parametrize("put_premium", [7.114, 8.10, 1.228, 13.0])  # SYNTHETIC splits
def test_spx_strangle_is_the_greater_side_plus_the_other_premium(put_premium):
    call_premium = STRANGLE_PREMIUM - put_premium
    strangle = pos(SPX, short("put", 2815, put_premium), short("call", 2985, call_premium))
    # the old charge: each short leg alone, naked, summed
    apart = run(
        pos(SPX, short("put", 2815, put_premium)),
        pos(SPX, short("call", 2985, call_premium)),
        underlying_class="broad_based_index",
    )
    assert apart["margin_usd"].sum() == pytest.approx(71_994.0)
    # Cboe: call side 371.896 + call premium is the greater (the put side would need a put
    # premium 38.08 above the call's); + the put premium -> 371.896 + 14.228 = 386.124
    row = one(strangle, "broad_based_index")
    assert row["margin_usd"] == pytest.approx(38_612.4)
    assert row["margin_rule"] == "straddle_strangle"


def test_spx_put_ratio_one_covered_one_naked():
    # old charge 2 x (403.816 + p) = 856.12 -> short 2885P premium p = 24.244. Long 2940P at
    # 50.00 (SYNTHETIC). Cboe: 2940P covers one 2885P (long strike higher: no requirement, the
    # spread's debit 50 - 24.244 = 25.756 paid); the other 2885P naked: 403.816 + 24.244 =
    # 428.06 -> 25.756 + 428.06 = 453.816 -> $45,381.60 = $42,806 + $2,575.60
    short_premium = 856.12 / 2 - 403.816
    assert short_premium == pytest.approx(24.244)
    both_naked = one(pos(SPX, short("put", 2885, short_premium, ratio=2)), "broad_based_index")
    assert both_naked["margin_usd"] == pytest.approx(85_612.0)
    row = one(
        pos(SPX, long("put", 2940, 50.0), short("put", 2885, short_premium, ratio=2)),
        "broad_based_index",
    )
    assert row["margin_usd"] == pytest.approx(42_806.0 + 2_575.6)
    assert row["margin_rule"] == "ratio_spread"
    # bounded below: at 0 the payoff is 2940 - 2 x 2885 = -2830, entry debit 50 - 48.488
    assert row["max_loss_usd"] == pytest.approx((2830 + 50 - 2 * short_premium) * MULT)


# --- the other structures (SYNTHETIC, equity at 100: 20 % x 100 = 20) ---------------------------


@pytest.mark.parametrize(
    ("case", "margin_usd", "max_loss_usd", "rule"),
    [
        # naked 90P at 1.50: 1.50 + max(20 - 10, 9) = 11.50
        (pos(100, short("put", 90, 1.50)), 1150.0, (90 - 1.50) * MULT, "naked"),
        # naked 110C at 1.20: 1.20 + max(20 - 10, 10) = 11.20; unbounded
        (pos(100, short("call", 110, 1.20)), 1120.0, math.inf, "naked"),
        # strangle of the two: put side 11.50 is the greater, + call premium 1.20 = 12.70
        (pos(100, short("put", 90, 1.50), short("call", 110, 1.20)), 1270.0, math.inf,
         "straddle_strangle"),
        # long straddle: 4 + 3.50 paid
        (pos(100, long("call", 100, 4.0), long("put", 100, 3.5)), 750.0, 750.0, "long_premium"),
        # bull put (credit) spread 95/90: gap 5 less credit 2.50 - 1.00 = 3.50
        (pos(100, short("put", 95, 2.50), long("put", 90, 1.00)), 350.0, 350.0,
         "vertical_spread"),
        # bear put (debit) spread 100/95: the debit 4.00 - 2.50 = 1.50
        (pos(100, long("put", 100, 4.00), short("put", 95, 2.50)), 150.0, 150.0,
         "vertical_spread"),
        # iron condor 90/95P 105/110C: greater of the two gaps (5, 5) less the credit
        # 2.50 + 2.00 - 1.00 - 0.80 = 2.70 -> 2.30 (summing the spreads would give 7.30)
        (pos(100, short("put", 95, 2.5), long("put", 90, 1.0), short("call", 105, 2.0),
             long("call", 110, 0.8)), 230.0, 230.0, "iron_condor"),
        # unequal wings, call wing 10: max(5, 10) - (2.5 + 2.0 - 1.0 - 0.3 = 3.2) = 6.80
        (pos(100, short("put", 95, 2.5), long("put", 90, 1.0), short("call", 105, 2.0),
             long("call", 115, 0.3)), 680.0, 680.0, "iron_condor"),
        # reverse iron condor (both spreads bought): the debit 2.5 + 2.0 - 1.0 - 0.8 = 2.70
        (pos(100, long("put", 95, 2.5), short("put", 90, 1.0), long("call", 105, 2.0),
             short("call", 110, 0.8)), 270.0, 270.0, "iron_condor"),
        # long call butterfly 95/100/105: the debit 7 + 2 - 2 x 4 = 1
        (pos(100, long("call", 95, 7.0), short("call", 100, 4.0, ratio=2), long("call", 105, 2.0)),
         100.0, 100.0, "butterfly"),
        # short call butterfly: wing 5 less the credit 1 = 4
        (pos(100, short("call", 95, 7.0), long("call", 100, 4.0, ratio=2), short("call", 105, 2.0)),
         400.0, 400.0, "butterfly"),
        # 1x2 call ratio: 100C covers one 105C (debit 4 - 2 = 2); the other naked:
        # 2 + max(20 - 5, 10) = 17 -> 19; unbounded above
        (pos(100, long("call", 100, 4.0), short("call", 105, 2.0, ratio=2)), 1900.0, math.inf,
         "ratio_spread"),
        # 1x2 call backspread: one 105C covers the short 100C (gap 5), one is extra, paid:
        # 5 - 4 + 2 x 2 = 5 -> the lesser of that and the maximum loss (at 105: -5 - 0 + 0 = 5
        # - (2 x 2 - 4 = 0) = 5)
        (pos(100, short("call", 100, 4.0), long("call", 105, 2.0, ratio=2)), 500.0, 500.0,
         "ratio_spread"),
        # long call calendar 100: the debit 4.50 - 3.00
        (pos(100, short("call", 100, 3.0), long("call", 100, 4.5, exp=BACK)), 150.0, 150.0,
         "calendar_spread"),
        # long put diagonal: back 100P protects the front 95P fully: the debit 5 - 2.50
        (pos(100, short("put", 95, 2.5), long("put", 100, 5.0, exp=BACK)), 250.0, 250.0,
         "calendar_spread"),
        # call diagonal with a less protective long (back 105C): gap 5 added to the credit -1
        # -> min(5, naked 23) - 3 + 2 = 4
        (pos(100, short("call", 100, 3.0), long("call", 105, 2.0, exp=BACK)), 400.0, 400.0,
         "calendar_spread"),
        # short calendar: the long expires first and covers nothing: short back 100C naked
        # 4.50 + 20 = 24.50, + the front long 3 paid = 27.50
        (pos(100, long("call", 100, 3.0), short("call", 100, 4.5, exp=BACK)), 2750.0, math.inf,
         "calendar_spread"),
        # covered call: 100 shares at 100 paid in full, the 105C's 2.00 applied
        (pos(100, shares(100, 100.0), short("call", 105, 2.0)), 9800.0, 9800.0, "covered_call"),
        # collar: stock 100 + put 1.50 - call 2.00 = 99.50; max loss 99.50 - 95 = 4.50
        (pos(100, shares(100, 100.0), long("put", 95, 1.5), short("call", 105, 2.0)), 9950.0,
         450.0, "collar"),
        # protective put: 100 + 1.50 paid; max loss 101.50 - 95
        (pos(100, shares(100, 100.0), long("put", 95, 1.5)), 10150.0, 650.0, "protective_put"),
        # cash-secured put: strike 95 less the 2.50 received
        (pos(100, short("put", 95, 2.5), cash=True), 9250.0, 9250.0, "cash_secured_put"),
        # the same put in a margin account: naked 2.50 + max(20 - 5, 9.5) = 17.50
        (pos(100, short("put", 95, 2.5)), 1750.0, 9250.0, "naked"),
        # ratio write: 100 shares cover one of two 105C; the other naked 2 + 15 = 17:
        # 100 - 2 + 17 = 115
        (pos(100, shares(100, 100.0), short("call", 105, 2.0, ratio=2)), 11500.0, math.inf,
         "combination"),
        # long stock paid in full (cash account); short stock 50 % beyond the proceeds
        (pos(100, shares(100, 100.0)), 10000.0, 10000.0, "stock"),
        (pos(100, shares(100, 100.0, sign=-1)), 5000.0, math.inf, "stock"),
    ],
)  # fmt: skip
def test_structures(case, margin_usd, max_loss_usd, rule):
    row = one(case)
    assert row["margin_usd"] == pytest.approx(margin_usd)
    assert row["max_loss_usd"] == pytest.approx(max_loss_usd)
    assert row["margin_rule"] == rule


def test_index_and_equity_rates():
    # short 100C at 2.00, spot 100: index 2 + 15 = 17; equity 2 + 20 = 22
    case = pos(100, short("call", 100, 2.0))
    assert one(case, "broad_based_index")["margin_usd"] == pytest.approx(1700.0)
    assert one(case, "equity")["margin_usd"] == pytest.approx(2200.0)
    assert (mg.INDEX_NAKED_RATE, mg.EQUITY_NAKED_RATE, mg.MIN_NAKED_RATE) == (0.15, 0.20, 0.10)


def test_notional_is_strike_times_ratio_over_option_legs():
    # (95 + 2 x 100 + 105) x 100; the stock leg adds nothing
    row = one(
        pos(100, long("call", 95, 7.0), short("call", 100, 4.0, ratio=2), long("call", 105, 2.0))
    )
    assert row["notional_usd"] == pytest.approx(40_000.0)
    assert one(pos(100, shares(100, 100.0), short("call", 105, 2.0)))["notional_usd"] == 10_500.0


def test_output_one_row_per_position_sorted_with_schema():
    out = run(pos(100, short("put", 90, 1.5)), pos(100, long("call", 100, 4.0)))
    assert out.schema == pl.Schema(mg.OUTPUT_SCHEMA)
    assert out["position_id"].to_list() == [1, 2]
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    empty = strategy_margin(legs.clear(), p.clear(), multiplier=MULT, underlying_class="equity")
    assert empty.height == 0 and empty.schema == pl.Schema(mg.OUTPUT_SCHEMA)


def test_docstring_example_runs():
    result = doctest.testmod(mg, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --- invariants (random SYNTHETIC structures) ---------------------------------------------------


def random_positions(seed: int, n: int, *, long_only: bool = False) -> list[Position]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        legs = []
        for _ in range(rng.integers(1, 5)):
            kind = rng.choice(["call", "put", "stock"], p=[0.45, 0.45, 0.10])
            sign = 1 if long_only else int(rng.choice([-1, 1]))
            if kind == "stock":
                legs.append(shares(int(rng.choice([100, 200])), 100.0, sign))
                continue
            strike = float(rng.choice([85, 90, 95, 100, 105, 110, 115]))
            price = round(float(rng.uniform(0.05, 12.0)), 2)
            exp = FRONT if rng.random() < 0.8 else BACK
            legs.append(Leg(str(kind), sign, strike, price, int(rng.integers(1, 3)), exp))
        # one leg per contract: drop repeats of the same (type, strike, expiration)
        seen, unique = set(), []
        for leg in legs:
            key = (leg.leg_type, leg.strike, leg.expiration)
            if key not in seen:
                seen.add(key)
                unique.append(leg)
        out.append(Position(float(rng.uniform(90, 110)), tuple(unique), bool(rng.random() < 0.1)))
    return out


@pytest.mark.parametrize("underlying_class", ["equity", "broad_based_index"])
def test_requirement_is_never_negative_and_rule_is_known(underlying_class):
    out = run(*random_positions(1, 400), underlying_class=underlying_class)
    assert out.height == 400
    assert out["margin_usd"].min() >= 0.0
    assert out["margin_usd"].is_finite().all()
    assert out["max_loss_usd"].min() >= 0.0
    assert set(out["margin_rule"]) <= set(MARGIN_RULES)


def test_limited_risk_never_needs_more_than_its_maximum_loss_or_debit():
    # every short option covered by a long option, one expiry, no stock: the manual's limited-
    # risk treatment caps the requirement at the maximum loss
    positions = [
        p
        for p in random_positions(2, 600)
        if all(leg.leg_type != "stock" and leg.expiration == FRONT for leg in p.legs)
        and all(
            sum(g.ratio for g in p.legs if g.leg_type == t and g.sign > 0)
            >= sum(g.ratio for g in p.legs if g.leg_type == t and g.sign < 0)
            for t in ("call", "put")
        )
    ]
    legs, p = frames(*positions)
    out = strategy_margin(legs, p, multiplier=MULT, underlying_class="equity")
    assert len(positions) > 50
    # the maximum loss, or the debit paid in full when the payoff cannot go negative (a payoff
    # that stays above 0, e.g. long 100P + long 95C, lowers the loss, not the cash paid)
    debit = p["entry_value"] * MULT
    assert (out["margin_usd"] <= np.maximum(out["max_loss_usd"], debit) + 1e-6).all()


@pytest.mark.parametrize("leg_type", ["call", "put"])
def test_a_spread_never_needs_more_than_its_legs_naked(leg_type):
    rng = np.random.default_rng(3)
    spreads, shorts, longs = [], [], []
    for _ in range(300):
        spot = float(rng.uniform(80, 120))
        k_short, k_long = (float(k) for k in rng.choice([85, 90, 95, 100, 105, 110], 2, False))
        p_short, p_long = (round(float(x), 2) for x in rng.uniform(0.05, 15.0, 2))
        exp_long = FRONT if rng.random() < 0.7 else BACK
        s = short(leg_type, k_short, p_short)
        lg = long(leg_type, k_long, p_long, exp=exp_long)
        spreads.append(pos(spot, s, lg))
        shorts.append(pos(spot, s))
        longs.append(pos(spot, lg))
    for cls in ("equity", "broad_based_index"):
        spread = run(*spreads, underlying_class=cls)["margin_usd"]
        apart = (
            run(*shorts, underlying_class=cls)["margin_usd"]
            + run(*longs, underlying_class=cls)["margin_usd"]
        )
        assert (spread <= apart + 1e-6).all()


def test_leg_and_row_order_do_not_change_the_answer():
    legs, p = frames(*random_positions(4, 300))
    expected = strategy_margin(legs, p, multiplier=MULT, underlying_class="equity")
    rng = np.random.default_rng(5)
    # renumber the legs within each position at random, then shuffle every row of both frames
    shuffled = (
        legs.with_columns(pl.Series("_r", rng.permutation(legs.height)))
        .with_columns(
            pl.col("_r").rank("ordinal").over("position_id").cast(pl.Int32).alias("leg_no")
        )
        .drop("_r")
        .sample(fraction=1.0, shuffle=True, seed=6)
    )
    got = strategy_margin(
        shuffled, p.sample(fraction=1.0, shuffle=True, seed=7), multiplier=MULT,
        underlying_class="equity",
    )  # fmt: skip
    assert got.equals(expected)


def test_long_only_positions_need_exactly_their_debit():
    positions = [
        p
        for p in random_positions(8, 200, long_only=True)
        if all(leg.leg_type != "stock" for leg in p.legs)
    ]
    legs, p = frames(*positions)
    out = strategy_margin(legs, p, multiplier=MULT, underlying_class="equity")
    debit = p["entry_value"] * MULT
    assert np.allclose(out["margin_usd"], debit)
    # the loss is the debit unless the payoff cannot reach 0 (long 100P + long 95C: 5 at least)
    assert (out["max_loss_usd"] <= debit + 1e-6).all()
    assert set(out["margin_rule"]) == {"long_premium"}


def test_long_guts_pays_its_debit_but_can_lose_less():
    # long 100P at 2.72 + long 95C at 4.42: payoff >= 5 everywhere -> debit 7.14 paid in full,
    # maximum loss 7.14 - 5 = 2.14
    row = one(pos(100, long("put", 100, 2.72), long("call", 95, 4.42)))
    assert row["margin_usd"] == pytest.approx(714.0)
    assert row["max_loss_usd"] == pytest.approx(214.0)


def test_a_few_thousand_positions_run_fast():
    positions = random_positions(9, 3000)
    legs, p = frames(*positions)
    start = time.perf_counter()
    out = strategy_margin(legs, p, multiplier=MULT, underlying_class="broad_based_index")
    assert out.height == 3000
    assert time.perf_counter() - start < 5.0  # ~0.1 s here; loose bound for slow CI machines


# --- errors -------------------------------------------------------------------------------------


def test_bad_leg_type_is_named():
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    legs = legs.with_columns(pl.lit("future").alias("leg_type"))
    with pytest.raises(ValueError, match=r"leg_type .*'future'.*position_id \[1\]"):
        strategy_margin(legs, p, multiplier=MULT, underlying_class="equity")


def test_non_positive_ratio_is_named():
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    legs = legs.with_columns(pl.lit(0, dtype=pl.Int32).alias("ratio"), pl.lit(0.0).alias("units"))
    with pytest.raises(ValueError, match=r"ratio must be >= 1, got \[0\]"):
        strategy_margin(legs, p, multiplier=MULT, underlying_class="equity")


@pytest.mark.parametrize("column", ["strike", "sign", "expiration"])
def test_missing_leg_column_is_named(column):
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    with pytest.raises(
        ValueError, match=rf"position_legs is missing required column\(s\) \['{column}'\]"
    ):
        strategy_margin(legs.drop(column), p, multiplier=MULT, underlying_class="equity")


def test_missing_position_column_is_named():
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    with pytest.raises(ValueError, match=r"positions is missing .*'entry_underlying_price'"):
        strategy_margin(
            legs, p.drop("entry_underlying_price"), multiplier=MULT, underlying_class="equity"
        )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (pl.lit(2, dtype=pl.Int32).alias("sign"), r"sign must be \+1 or -1, got \[2\]"),
        (pl.lit(-3.0).alias("units"), r"units must equal sign·ratio"),
        (pl.lit(None, dtype=pl.Float64).alias("strike"), r"strike must be > 0 for an option"),
        (pl.lit(None, dtype=pl.Float64).alias("entry_price"), r"entry_price must not be null"),
    ],
)
def test_bad_leg_values_are_named(edit, message):
    legs, p = frames(pos(100, short("put", 90, 1.5)))
    with pytest.raises(ValueError, match=message):
        strategy_margin(legs.with_columns(edit), p, multiplier=MULT, underlying_class="equity")


def test_bad_arguments_and_orphans_are_named():
    legs, p = frames(pos(100, short("put", 90, 1.5)), pos(100, long("call", 100, 4.0)))
    with pytest.raises(ValueError, match=r"underlying_class must be one of .* got 'index'"):
        strategy_margin(legs, p, multiplier=MULT, underlying_class="index")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"multiplier must be an int >= 1, got 0"):
        strategy_margin(legs, p, multiplier=0, underlying_class="equity")
    with pytest.raises(ValueError, match=r"positions without any leg .*\[2\]"):
        strategy_margin(
            legs.filter(pl.col("position_id") == 1), p, multiplier=MULT, underlying_class="equity"
        )
    with pytest.raises(ValueError, match=r"position_id\(s\) not in positions: \[2\]"):
        strategy_margin(
            legs, p.filter(pl.col("position_id") == 1), multiplier=MULT, underlying_class="equity"
        )
    with pytest.raises(ValueError, match=r"duplicated \['position_id', 'leg_no'\]"):
        strategy_margin(
            legs.with_columns(pl.lit(1, dtype=pl.Int32).alias("leg_no")).vstack(
                legs.filter(pl.col("position_id") == 1).with_columns(
                    pl.lit(1, dtype=pl.Int32).alias("leg_no")
                )
            ),
            p,
            multiplier=MULT,
            underlying_class="equity",
        )
