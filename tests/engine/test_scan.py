"""engine.scan on tiny SYNTHETIC chains whose every trade can be priced by hand.

The base chain (SYNTHETIC, index points): underlying SYN, one root, expiration E = 2024-03-15.
Entry day D0 = 2024-03-01 (dte 14, S = 100), exit day D1 = 2024-03-08 (dte 7 = exit_dte, S = 104).

    strike          90    95   100   105   110
    call mid D0   11.0   7.0   4.0   2.0   1.0
    call mid D1   14.0   9.0   5.0   2.0   0.5
    put  mid D0    1.0   2.0   4.0   7.0  11.0
    put  mid D1    0.5   0.5   1.0   2.5   6.5

A far expiration F = 2024-03-22 quotes only the 100 call (D0 6.0, D1 8.0) and put (D0 5.0,
D1 3.0), for calendars; F has no exit day in the data (2024-03-15 is not quoted), so it makes no
other trade. Every quote has ``bid = mid - 0.5``, ``ask = mid + 0.5`` (at least 0) unless a test
says otherwise.
"""

from __future__ import annotations

import datetime as dt
import doctest
import statistics

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine import scan
from engine.scan import ScanConfig, ScanConfigError, run_scan, scan_summary, scan_trades

E = dt.date(2024, 3, 15)
F = dt.date(2024, 3, 22)
D0 = dt.date(2024, 3, 1)
D1 = dt.date(2024, 3, 8)
STRIKES = (90.0, 95.0, 100.0, 105.0, 110.0)
MIDS = {
    ("call", D0): (11.0, 7.0, 4.0, 2.0, 1.0),
    ("call", D1): (14.0, 9.0, 5.0, 2.0, 0.5),
    ("put", D0): (1.0, 2.0, 4.0, 7.0, 11.0),
    ("put", D1): (0.5, 0.5, 1.0, 2.5, 6.5),
}
FAR_MIDS = {("call", D0): 6.0, ("call", D1): 8.0, ("put", D0): 5.0, ("put", D1): 3.0}
SPOT = {D0: 100.0, D1: 104.0}
# Every base test runs with these: entries at dte 8..20, exit at dte 7, no moneyness trim to
# speak of; iron condors and butterflies with 5- or 10-point wings.
BASE = {"max_entry_dte": 20, "exit_dte": 7}


def quote(
    day: dt.date,
    expiration: dt.date,
    option_type: str,
    strike: float,
    mid: float | None,
    *,
    spot: float,
    bid: float | None = None,
    ask: float | None = None,
    delta: float | None = 0.5,
) -> dict:
    """One SYNTHETIC quote row; bid/ask default to mid -/+ 0.5 (bid floored at 0)."""
    if bid is None:
        bid = max(mid - 0.5, 0.0)
    if ask is None:
        ask = mid + 0.5
    symbol = f"SYN{expiration:%y%m%d}{option_type[0].upper()}{int(strike * 1000):08d}"
    return {
        "contract_symbol": symbol,
        "underlying_symbol": "SYN",
        "option_root": "SYN",
        "quote_date": day,
        "expiration": expiration,
        "dte": (expiration - day).days,
        "option_type": option_type,
        "strike": strike,
        "bid": bid,
        "ask": ask,
        "mid": mid,
        "underlying_price": spot,
        "delta": delta,
    }


def frame(rows: list[dict]) -> pl.LazyFrame:
    schema = {
        "contract_symbol": pl.String,
        "underlying_symbol": pl.String,
        "option_root": pl.String,
        "quote_date": pl.Date,
        "expiration": pl.Date,
        "dte": pl.Int32,
        "option_type": pl.String,
        "strike": pl.Float64,
        "bid": pl.Float64,
        "ask": pl.Float64,
        "mid": pl.Float64,
        "underlying_price": pl.Float64,
        "delta": pl.Float64,
    }
    return pl.LazyFrame(rows, schema=schema, orient="row")


def base_rows(exit_day: dt.date = D1) -> list[dict]:
    rows = []
    for (kind, day), mids in MIDS.items():
        out_day = exit_day if day == D1 else day
        for strike, mid in zip(STRIKES, mids, strict=True):
            rows.append(quote(out_day, E, kind, strike, mid, spot=SPOT[day]))
    for (kind, day), mid in FAR_MIDS.items():
        rows.append(quote(exit_day if day == D1 else day, F, kind, 100.0, mid, spot=SPOT[day]))
    return rows


@pytest.fixture(scope="module")
def chain() -> pl.LazyFrame:
    return frame(base_rows())


def trades_of(chain: pl.LazyFrame, **settings) -> pl.DataFrame:
    result = run_scan(chain, ScanConfig(**BASE, **settings))
    assert result.trades is not None
    return result.trades


# --- each structure priced by hand ----------------------------------------------------------------

# (settings, strikes of the trade checked, its entry premium, exit premium, number of candidates)
PRICED = {
    # +1 call 100: entry 4.0, exit 5.0, pnl +1.0, return 1 / 4 = 0.25; 5 calls.
    "single": ({"structure": "single"}, (100.0,), 4.0, 5.0, 5),
    # +1 put 100 +1 call 100: entry 4 + 4 = 8, exit 1 + 5 = 6, pnl -2, return -0.25; 5 strikes.
    "straddle": ({"structure": "straddle"}, (100.0, 100.0), 8.0, 6.0, 5),
    # +1 put 95 +1 call 105: entry 2 + 2 = 4, exit 0.5 + 2 = 2.5, pnl -1.5, return -0.375;
    # put K1 < call K2 within 10 points: (90,95) (90,100) (95,100) (95,105) (100,105) (100,110)
    # (105,110) -> 7.
    "strangle": (
        {"structure": "strangle", "max_strike_width": 10.0},
        (95.0, 105.0),
        4.0,
        2.5,
        7,
    ),
    # Long (debit) call vertical +95 -105: entry 7 - 2 = 5, exit 9 - 2 = 7, pnl +2, return 0.4;
    # every K1 < K2 of 5 strikes: 10 pairs.
    "call_vertical": (
        {"structure": "vertical", "option_type": "call"},
        (95.0, 105.0),
        5.0,
        7.0,
        10,
    ),
    # Short put vertical (bull put, credit) +95 -100: entry 2 - 4 = -2 (credit 2), exit
    # 0.5 - 1.0 = -0.5, pnl -0.5 - (-2) = +1.5, return 1.5 / 2 = 0.75 (of the credit).
    "short_put_vertical": (
        {"structure": "vertical", "option_type": "put", "side": "short"},
        (95.0, 100.0),
        -2.0,
        -0.5,
        10,
    ),
    # Short (credit) iron condor +90p -95p -105c +110c: entry 1 - 2 - 2 + 1 = -2, exit
    # 0.5 - 0.5 - 2 + 0.5 = -1.5, pnl +0.5, return 0.25. 5-point wings, shorts within 5 % of
    # S = 100 (put 95 or 100, call 100 or 105), K2 < K3: (90,95,100,105) (90,95,105,110)
    # (95,100,105,110) -> 3.
    "iron_condor": (
        {"structure": "iron_condor", "side": "short", "max_wing_width": 5.0},
        (90.0, 95.0, 105.0, 110.0),
        -2.0,
        -1.5,
        3,
    ),
    # Long call butterfly +100 -2x105 +110: entry 4 - 4 + 1 = 1, exit 5 - 4 + 0.5 = 1.5,
    # pnl +0.5, return 0.5. Wings up to 10: (90,95,100) (95,100,105) (100,105,110)
    # (90,100,110) -> 4.
    "butterfly": (
        {"structure": "butterfly", "max_wing_width": 10.0},
        (100.0, 105.0, 110.0),
        1.0,
        1.5,
        4,
    ),
    # Long call calendar -E 100 +F 100: entry -4 + 6 = 2, exit on E's exit day -5 + 8 = 3,
    # pnl +1, return 0.5; only the 100 strike has a far leg -> 1.
    "calendar": ({"structure": "calendar"}, (100.0, 100.0), 2.0, 3.0, 1),
}


@pytest.mark.parametrize("name", list(PRICED))
def test_each_structure_prices_by_hand(chain, name):
    settings, strikes, entry, exit_, n_candidates = PRICED[name]
    trades = trades_of(chain, **settings)
    assert trades.height == n_candidates
    picked = trades.filter(*[pl.col(f"strike_leg{i}") == k for i, k in enumerate(strikes, start=1)])
    assert picked.height == 1
    row = picked.row(0, named=True)
    assert row["entry_premium"] == pytest.approx(entry)
    assert row["exit_premium"] == pytest.approx(exit_)
    assert row["pnl_points"] == pytest.approx(exit_ - entry)
    assert row["trade_return"] == pytest.approx((exit_ - entry) / abs(entry))
    assert (row["entry_date"], row["exit_date"], row["exit_type"]) == (D0, D1, "exact")
    assert (row["dte_entry"], row["dte_exit"]) == (14, 7)
    assert (row["underlying_price_entry"], row["underlying_price_exit"]) == (100.0, 104.0)


def test_calendar_far_leg_is_the_far_expiration(chain):
    row = trades_of(chain, structure="calendar").row(0, named=True)
    # Near leg E sold at 4.0, bought back at 5.0; far leg F bought at 6.0, sold at 8.0 on D1.
    assert (row["expiration"], row["expiration_leg2"]) == (E, F)
    assert (row["entry_mid_leg1"], row["exit_mid_leg1"]) == (4.0, 5.0)
    assert (row["entry_mid_leg2"], row["exit_mid_leg2"]) == (6.0, 8.0)


@pytest.mark.parametrize("name", list(PRICED))
def test_long_and_short_have_opposite_pnl(chain, name):
    settings = {k: v for k, v in PRICED[name][0].items() if k != "side"}
    long = trades_of(chain, **settings, side="long")
    short = trades_of(chain, **settings, side="short")
    assert long.height == short.height > 0
    assert (long["pnl_points"] + short["pnl_points"]).abs().max() == 0
    assert (long["entry_premium"] + short["entry_premium"]).abs().max() == 0
    assert_frame_equal(long.select(pl.col("trade_return")), short.select(-pl.col("trade_return")))


def test_trades_come_sorted_by_key(chain):
    trades = trades_of(chain, structure="iron_condor", side="short", max_wing_width=10.0)
    key = ["expiration", "entry_date", "strike_leg1", "strike_leg2", "strike_leg3", "strike_leg4"]
    assert_frame_equal(trades, trades.sort(key))


# --- exits ----------------------------------------------------------------------------------------


def test_nearest_day_exit_when_the_exact_day_is_missing():
    # D1 (Friday, dte 7) is missing: the chain is quoted Monday 2024-03-11 (dte 4) instead.
    monday = dt.date(2024, 3, 11)
    chain = frame(base_rows(exit_day=monday))
    # 2024-03-11 is 3 days after the target: kept with a tolerance of 3 or more days.
    trades = trades_of(chain, structure="single", exit_tolerance_days=3)
    assert trades.height == 5
    assert trades["exit_date"].unique().to_list() == [monday]
    assert trades["exit_type"].unique().to_list() == ["nearest_day"]
    assert trades["dte_exit"].unique().to_list() == [4]
    # Exact matching alone keeps none: with tolerance 2 or 0 there is no exit.
    for tolerance in (0, 2):
        assert trades_of(chain, structure="single", exit_tolerance_days=tolerance).is_empty()
    summary = scan_summary(chain, ScanConfig(**BASE, structure="single", exit_tolerance_days=3))
    assert summary["n_trades"].sum() == 5
    assert summary["n_exact_exit"].sum() == 0


def test_exit_day_is_per_expiration():
    # F is quoted on D1 but E is not (E only on Monday 2024-03-11): E's exit is Monday. F's own
    # exit day (2024-03-15) is not in the data, so a calendar still fills its far leg on E's day.
    monday = dt.date(2024, 3, 11)
    rows = [
        r | {"quote_date": monday, "dte": (E - monday).days}
        if r["quote_date"] == D1 and r["expiration"] == E
        else r
        for r in base_rows()
    ]
    trades = trades_of(frame(rows), structure="single")
    assert trades["exit_date"].unique().to_list() == [monday]
    assert trades["exit_type"].unique().to_list() == ["nearest_day"]
    # The calendar's far leg has no quote on Monday: no calendar trade.
    assert trades_of(frame(rows), structure="calendar").is_empty()


def test_exact_day_wins_over_later_days():
    # Quotes on D1 (exact) and on the Monday after: the exit is D1, 'exact'.
    chain = frame(
        base_rows()
        + [
            r | {"quote_date": dt.date(2024, 3, 11), "dte": 4}
            for r in base_rows()
            if r["quote_date"] == D1 and r["expiration"] == E
        ]
    )
    trades = trades_of(chain, structure="straddle", exit_tolerance_days=5)
    assert trades["exit_date"].unique().to_list() == [D1]
    assert trades["exit_type"].unique().to_list() == ["exact"]


def test_exit_is_never_after_expiration():
    # exit_dte 2: the target 2024-03-13 is not quoted; the next quote date, 2024-03-18, is after
    # E = 2024-03-15, so even a 10-day tolerance finds no exit.
    rows = [r for r in base_rows() if r["quote_date"] == D0]
    rows += [
        r | {"quote_date": dt.date(2024, 3, 18), "dte": (E - dt.date(2024, 3, 18)).days}
        for r in base_rows()
        if r["quote_date"] == D1 and r["expiration"] == E
    ]
    cfg = ScanConfig(max_entry_dte=20, exit_dte=2, exit_tolerance_days=10, structure="single")
    assert run_scan(frame(rows), cfg).trades.is_empty()


def test_exit_zero_bid_is_priced_and_no_ask_is_no_exit():
    rows = base_rows()
    for r in rows:
        if (r["quote_date"], r["expiration"], r["option_type"]) == (D1, E, "call"):
            if r["strike"] == 110.0:  # bid 0, ask 1.0: mid 0.5 still fills the exit
                r.update(bid=0.0, ask=1.0, mid=0.5)
            if r["strike"] == 105.0:  # no ask: no mid (the warehouse's rule), no exit
                r.update(bid=0.0, ask=0.0, mid=None)
    trades = trades_of(frame(rows), structure="single")
    assert sorted(trades["strike_leg1"].to_list()) == [90.0, 95.0, 100.0, 110.0]
    assert trades.filter(pl.col("strike_leg1") == 110.0)["exit_mid_leg1"].item() == 0.5


def test_zero_bid_never_enters():
    rows = base_rows()
    for r in rows:
        if (r["quote_date"], r["expiration"], r["strike"]) == (D0, E, 90.0):
            r.update(bid=0.0)  # the 90 call and put: ask 11.5 / 1.5 but no bid
    trades = trades_of(frame(rows), structure="single", min_bid_ask=0.0)
    assert 90.0 not in trades["strike_leg1"].to_list()


# --- buckets and summary --------------------------------------------------------------------------


def test_bucket_assignment(chain):
    trades = trades_of(chain, structure="single")
    buckets = dict(zip(trades["strike_leg1"], trades["moneyness_bucket_leg1"], strict=True))
    # S / K at entry (S = 100): 90 -> 1.111, 95 -> 1.053, 100 -> 1.0, 105 -> 0.952, 110 -> 0.909
    assert buckets == {
        90.0: "[1.1, 1.15)",
        95.0: "[1.05, 1.1)",
        100.0: "[1.0, 1.05)",
        105.0: "[0.95, 1.0)",
        110.0: "[0.9, 0.95)",
    }
    assert trades["dte_bucket"].unique().to_list() == ["(7, 14]"]  # dte 14, right-closed
    wide = trades_of(chain, structure="single", dte_bucket_edges=(0, 10, 20))
    assert wide["dte_bucket"].unique().to_list() == ["(10, 20]"]
    beyond = trades_of(chain, structure="single", dte_bucket_edges=(0, 7))
    assert beyond["dte_bucket"].unique().to_list() == ["(7, inf)"]


def test_delta_buckets_and_null_delta():
    rows = base_rows()
    for r in rows:
        if r["quote_date"] == D0 and r["expiration"] == E and r["option_type"] == "call":
            r["delta"] = {90.0: 0.9, 95.0: 0.75, 100.0: 0.5, 105.0: 0.25, 110.0: None}[r["strike"]]
    cfg = ScanConfig(**BASE, structure="single", bucket_by="delta")
    result = run_scan(frame(rows), cfg)
    buckets = dict(
        zip(result.trades["strike_leg1"], result.trades["delta_bucket_leg1"], strict=True)
    )
    assert buckets == {
        90.0: "[0.9, 1.0)",
        95.0: "[0.7, 0.8)",
        100.0: "[0.5, 0.6)",
        105.0: "[0.2, 0.3)",
        110.0: None,
    }
    # The null bucket is a summary row of its own, sorted last.
    assert result.summary["delta_bucket_leg1"].to_list()[-1] is None
    assert result.summary["n_trades"].to_list() == [1, 1, 1, 1, 1]


def test_summary_statistics_by_hand(chain):
    # One bucket for all five long calls. Returns: 90 3/11, 95 2/7, 100 1/4, 105 0, 110 -1/2.
    cfg = ScanConfig(**BASE, structure="single", bucket_edges=(0.5, 1.5))
    summary = scan_summary(chain, cfg)
    assert summary.height == 1
    row = summary.row(0, named=True)
    returns = [3 / 11, 2 / 7, 1 / 4, 0.0, -1 / 2]
    assert (row["dte_bucket"], row["moneyness_bucket_leg1"]) == ("(7, 14]", "[0.5, 1.5)")
    assert (row["n_trades"], row["n_exact_exit"]) == (5, 5)
    assert row["return_mean"] == pytest.approx(statistics.fmean(returns))
    assert row["return_std"] == pytest.approx(statistics.stdev(returns))  # ddof 1, as pandas
    # Sorted: -0.5, 0, 0.25, 0.2727, 0.2857; linear quantiles at positions 1, 2, 3.
    assert (row["return_min"], row["return_max"]) == (pytest.approx(-0.5), pytest.approx(2 / 7))
    assert row["return_p25"] == pytest.approx(0.0)
    assert row["return_median"] == pytest.approx(0.25)
    assert row["return_p75"] == pytest.approx(3 / 11)
    assert row["win_rate"] == pytest.approx(3 / 5)  # pnl > 0: 90, 95, 100
    # pnl: +3, +2, +1, 0, -0.5 -> mean 1.1
    assert row["pnl_points_mean"] == pytest.approx(1.1)


def test_zero_entry_premium_has_no_return():
    # A put vertical whose legs cost the same at entry (both 2.0): no return, still a trade.
    rows = base_rows()
    for r in rows:
        if (r["quote_date"], r["expiration"], r["option_type"], r["strike"]) == (
            D0,
            E,
            "put",
            100.0,
        ):
            r.update(mid=2.0, bid=1.5, ask=2.5)
    trades = trades_of(frame(rows), structure="vertical", option_type="put")
    flat = trades.filter(pl.col("strike_leg1") == 95.0, pl.col("strike_leg2") == 100.0)
    assert flat["entry_premium"].item() == 0.0
    assert flat["trade_return"].item() is None


def test_summary_is_the_same_with_and_without_trades(chain):
    # With trades the summary runs in memory on the collected trades; without, a vertical's runs
    # on the streaming engine: the same to the last bit (order-free aggregates).
    cfg = ScanConfig(**BASE, structure="vertical", option_type="call")
    with_trades = run_scan(chain, cfg, keep_trades=True)
    assert_frame_equal(with_trades.summary, scan_summary(chain, cfg), check_exact=True)
    assert_frame_equal(with_trades.trades, scan_trades(chain, cfg).collect(), check_exact=True)


# --- determinism and checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"structure": "vertical", "option_type": "put", "side": "short"},
        {"structure": "iron_condor", "side": "short", "max_wing_width": 10.0},
        {"structure": "calendar"},
    ],
)
def test_results_do_not_depend_on_row_order(chain, settings):
    cfg = ScanConfig(**BASE, **settings)
    expected = run_scan(chain, cfg)
    rows = chain.collect()
    for seed in (1, 2, 3):
        shuffled = rows.sample(fraction=1.0, shuffle=True, seed=seed).lazy()
        got = run_scan(shuffled, cfg)
        assert_frame_equal(got.trades, expected.trades, check_exact=True)
        assert_frame_equal(got.summary, expected.summary, check_exact=True)


def test_missing_column_is_named(chain):
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['delta'\]"):
        run_scan(chain.drop("delta"), ScanConfig(**BASE))


def test_duplicate_quote_is_named():
    rows = base_rows()
    rows.append(dict(rows[0]))  # the 90 call quoted twice on D0
    with pytest.raises(ValueError, match=r"two entry legs share .*SYN240315C00090000"):
        run_scan(frame(rows), ScanConfig(**BASE))
    rows = base_rows()
    rows.append(next(dict(r) for r in rows if r["quote_date"] == D1))  # twice on its exit day
    with pytest.raises(ValueError, match="quoted twice on its exit day"):
        run_scan(frame(rows), ScanConfig(**BASE))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"structure": "condor"}, "structure must be one of .* got 'condor'"),
        ({"side": "flat"}, "side must be one of .* got 'flat'"),
        ({"option_type": "C"}, "option_type must be one of .* got 'C'"),
        ({"exit_dte": 50}, "exit_dte must be < max_entry_dte = 45, got 50"),
        ({"exit_dte": -1}, "exit_dte must be >= 0, got -1"),
        ({"max_entry_dte": True}, "max_entry_dte must be an integer, got True"),
        ({"min_entry_dte": 7}, r"min_entry_dte must be in \(exit_dte, max_entry_dte\] .* got 7"),
        ({"exit_tolerance_days": -2}, "exit_tolerance_days must be >= 0, got -2"),
        ({"min_bid_ask": -0.05}, "min_bid_ask must be >= 0.0, got -0.05"),
        ({"min_moneyness": 1.2, "max_moneyness": 1.1}, "min_moneyness=1.2, max_moneyness=1.1"),
        ({"max_strike_width": 0.0}, "max_strike_width must be > 0, got 0.0"),
        ({"max_wing_width": float("nan")}, "max_wing_width must be finite, got nan"),
        ({"max_short_distance": 1.5}, r"max_short_distance must be in \(0, 1\), got 1.5"),
        ({"equal_wings": "yes"}, "equal_wings must be true or false, got 'yes'"),
        ({"max_calendar_gap_days": 0}, "max_calendar_gap_days must be >= 1, got 0"),
        ({"bucket_by": "gamma"}, "bucket_by must be one of .* got 'gamma'"),
        ({"bucket_edges": (1.0, 0.5)}, r"bucket_edges must be strictly increasing, got \(1.0"),
        ({"bucket_edges": (1.0,)}, r"bucket_edges must be a tuple of at least 2 edges"),
        ({"dte_bucket_edges": (0, 7.5)}, "dte_bucket_edges must be an integer, got 7.5"),
    ],
)
def test_config_errors_name_the_bad_value(settings, message):
    with pytest.raises(ScanConfigError, match=message):
        ScanConfig(**settings)


def test_config_from_mapping_rejects_unknown_keys():
    with pytest.raises(ScanConfigError, match=r"unknown scan config key\(s\) \['max_dte'\]"):
        ScanConfig.from_mapping({"structure": "single", "max_dte": 30})
    cfg = ScanConfig.from_mapping({"structure": "single", "bucket_edges": [0.9, 1.0, 1.1]})
    assert cfg.bucket_edges == (0.9, 1.0, 1.1)
    assert ScanConfig.from_mapping(cfg.to_dict()) == cfg


def test_docstring_examples():
    result = doctest.testmod(scan, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
