"""Listing rules against the real chains in warehouse/vendor, plus hand-computable cases.

Real data: the Cboe SPX chain 2019-04-25..07-22 (56 days), the iVolatility SPX week
2011-01-03..07, the SPY 2021 top-20 file and the Polygon 2023 daily bars (SPY, QQQ, AAPL).
A modeled chain that lists an expiry the exchange had not listed (or misses one it had) prices a
contract nobody could trade, so the expiration sets are compared exactly (precision and recall).
Cases marked SYNTHETIC use hand-made inputs whose answer is worked out in a comment.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from loaders.calendar import last_session_on_or_before
from warehouse.modeled_chain.listing import (
    EXPIRATION_SCHEMA,
    listed_expirations,
    listed_strikes,
)
from warehouse.paths import WarehousePaths

VENDOR = WarehousePaths.from_env().vendor_dir / "options"
KEY = ["quote_date", "expiration", "option_root"]


def _vendor_path(relative: str) -> Path:
    path = VENDOR / relative
    if not path.exists():
        pytest.skip(f"vendor data {path} is absent")
    return path


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    """Expiration as the last trading session (vendors write some as Saturdays)."""
    return frame.with_columns(expiration=last_session_on_or_before(frame["expiration"]))


@pytest.fixture(scope="module")
def spx_2019() -> pl.DataFrame:
    """One row per (quote_date, expiration, option_root, strike) of the real 2019 SPX chain."""
    files = sorted(_vendor_path("spx_2019q2_cboe").glob("SPX_*.csv.gz"))
    assert len(files) == 56
    columns = ["optionroot", "expiration", "quotedate", "strike", "underlying_last"]
    raw = pl.concat([pl.read_csv(f, columns=columns) for f in files])
    symbol = pl.col("optionroot")
    chain = raw.select(
        quote_date=pl.col("quotedate").str.to_date("%m/%d/%Y"),
        expiration=pl.col("expiration").str.to_date("%m/%d/%Y"),
        # OSI symbol: the root, then 15 characters (YYMMDD, C/P, 8 strike digits).
        option_root=symbol.str.head(symbol.str.len_chars() - 15),
        strike=pl.col("strike"),
        underlying_price=pl.col("underlying_last"),
    ).unique()
    return _normalised(chain)


@pytest.fixture(scope="module")
def spx_2011() -> pl.DataFrame:
    """The real iVolatility SPX week 2011-01-03..07, roots as Cboe wrote them.

    The file labels the end-of-quarter series (2011-03-31, 06-30, 09-30, 12-30) ``SPXPM``;
    Cboe's root for them was ``SPXQ`` (SPXpm itself was launched on C2 in October 2011).
    """
    raw = pl.read_csv(
        _vendor_path("spx_2011_week1_ivolatility.csv.gz"),
        columns=["date", "option_symbol", "option_expiration", "strike", "stock_price_close"],
    )
    root = pl.col("option_symbol").str.slice(0, 6).str.strip_chars()
    chain = raw.select(
        quote_date=pl.col("date").str.to_date("%m/%d/%Y"),
        expiration=pl.col("option_expiration").str.to_date("%m/%d/%Y"),
        option_root=pl.when(root == "SPXPM").then(pl.lit("SPXQ")).otherwise(root),
        strike=pl.col("strike"),
        underlying_price=pl.col("stock_price_close"),
    ).unique()
    return _normalised(chain)


def _precision_recall(listed: pl.DataFrame, real: pl.DataFrame, key: list[str]) -> tuple:
    hits = listed.select(key).unique().join(real.select(key).unique(), on=key, how="semi").height
    return hits / listed.select(key).n_unique(), hits / real.select(key).n_unique()


def _listed_for(real: pl.DataFrame, symbol: str, max_dte: int) -> pl.DataFrame:
    return listed_expirations(symbol, real["quote_date"].unique(), max_dte=max_dte)


# ------------------------------------------------------------------------------------------
# Expirations on real chains
# ------------------------------------------------------------------------------------------


def test_spx_2019_expirations_within_60_days_equal_the_real_chain(spx_2019) -> None:
    real = spx_2019.filter((pl.col("expiration") - pl.col("quote_date")).dt.total_days() <= 60)
    listed = _listed_for(real, "SPX", 60)
    precision, recall = _precision_recall(listed, real, KEY)
    # Measured: 1198 of 1198 (quote_date, expiration, root) over the 56 days, both ways.
    assert (precision, recall) == (1.0, 1.0), f"precision {precision:.4f} recall {recall:.4f}"
    day = dt.date(2019, 5, 1)
    assert (
        listed.filter(pl.col("quote_date") == day)
        .select(KEY)
        .sort(KEY)
        .equals(real.filter(pl.col("quote_date") == day).select(KEY).unique().sort(KEY))
    )


def test_spx_2019_expirations_to_400_days(spx_2019) -> None:
    real = spx_2019.filter((pl.col("expiration") - pl.col("quote_date")).dt.total_days() <= 400)
    precision, recall = _precision_recall(_listed_for(real, "SPX", 400), real, KEY)
    # Measured 0.991 / 1.0: the only extras are the December 2019 and January 2020 SPXW third
    # Fridays, listed about a month before Cboe listed them.
    assert recall == 1.0 and precision > 0.98, f"precision {precision:.4f} recall {recall:.4f}"


def test_spx_2011_week_expirations_equal_the_real_chain(spx_2011) -> None:
    listed = _listed_for(spx_2011, "SPX", 1100)
    precision, recall = _precision_recall(listed, spx_2011, KEY)
    # 77 rows over 5 days: the PM SPXW weeklies of Jan 7 and 14, the standard
    # months Jan-Apr, Jun, Sep, Dec 2011, Jun and Dec 2012, Dec 2013, four SPXQ quarter-ends.
    assert (precision, recall) == (1.0, 1.0), f"precision {precision:.4f} recall {recall:.4f}"


def test_spy_2021_top20_expirations_are_all_listed() -> None:
    raw = pl.read_csv(
        _vendor_path("spy_2021_top20.csv.gz"),
        columns=["expiration", "quotedate"],
        try_parse_dates=True,
    )
    real = _normalised(raw.rename({"quotedate": "quote_date"}).unique())
    listed = _listed_for(real, "SPY", 200)
    missing = real.join(listed, on=["quote_date", "expiration"], how="anti")
    # 991 (quote_date, expiration) pairs incl. Monday/Wednesday weeklies, holiday Thursdays and
    # quarter-ends; the file holds the 20 most active contracts, so only recall is measurable.
    assert missing.is_empty(), missing


def test_polygon_2023_expirations_are_listed_on_every_trade_date() -> None:
    bars = pl.read_csv(
        _vendor_path("polygon_option_bars_2023/options_daily_ohlc_45d_2023.csv.gz"),
        columns=["underlying", "trade_date", "expiration"],
        try_parse_dates=True,
    ).unique()
    for symbol in ("SPY", "QQQ", "AAPL"):
        real = bars.filter(pl.col("underlying") == symbol).rename({"trade_date": "quote_date"})
        listed = _listed_for(real, symbol, 200)
        missing = real.join(listed, on=["quote_date", "expiration"], how="anti")
        # Weeklies trading ~45 days ahead (e.g. AAPL 2023-06-02 from 2023-04-17): six Fridays
        # beyond the current week were listed.
        assert missing.is_empty(), (symbol, missing)


# ------------------------------------------------------------------------------------------
# Strikes on real chains
# ------------------------------------------------------------------------------------------


def _strike_shares(real: pl.DataFrame, band: float) -> tuple[float, float, int]:
    """(precision, recall, listed) of strikes within +-band of the real underlying price."""
    expiries = real.group_by(KEY).agg(pl.col("underlying_price").first())
    types = listed_expirations("SPX", expiries["quote_date"].unique(), max_dte=1200)
    expiries = expiries.join(types.select(*KEY, "expiry_type"), on=KEY).with_columns(
        underlying_symbol=pl.lit("SPX"),
        strike_min=pl.col("underlying_price") * (1 - band),
        strike_max=pl.col("underlying_price") * (1 + band),
    )
    listed = listed_strikes(expiries)
    in_band = real.join(expiries.select(*KEY, "strike_min", "strike_max"), on=KEY).filter(
        pl.col("strike").is_between(pl.col("strike_min"), pl.col("strike_max"))
    )
    precision, recall = _precision_recall(listed, in_band, [*KEY, "strike"])
    return precision, recall, listed.height


def test_spx_2019_strikes_near_the_money_are_real_strikes(spx_2019) -> None:
    precision, recall, n = _strike_shares(spx_2019, 0.05)
    # Measured within +-5 %: 98.4 % of the 100,601 listed strikes are real strikes, 97.9 % of the
    # real strikes are listed (all 56 days, every expiry).
    assert precision > 0.975 and recall > 0.97, (precision, recall, n)


def test_spx_2011_strikes_near_the_money_are_real_strikes(spx_2011) -> None:
    precision, recall, n = _strike_shares(spx_2011, 0.05)
    # Measured within +-5 %: 96.5 % precision, 98.1 % recall of 792 listed strikes.
    assert precision > 0.95 and recall > 0.97, (precision, recall, n)


def test_spy_2021_top20_strikes_are_on_the_grid() -> None:
    raw = pl.read_csv(
        _vendor_path("spy_2021_top20.csv.gz"),
        columns=["expiration", "quotedate", "strike", "underlying_last"],
        try_parse_dates=True,
    )
    real = _normalised(raw.rename({"quotedate": "quote_date"}).unique())
    expiries = real.group_by("quote_date", "expiration").agg(
        underlying_price=pl.col("underlying_last").first(),
        strike_min=pl.col("strike").min(),
        strike_max=pl.col("strike").max(),
    )
    types = listed_expirations("SPY", expiries["quote_date"].unique(), max_dte=200)
    expiries = expiries.join(types, on=["quote_date", "expiration"]).with_columns(
        underlying_symbol=pl.lit("SPY")
    )
    listed = listed_strikes(expiries)
    found = real.join(listed, on=["quote_date", "expiration", "strike"], how="semi").height
    # Measured 4522 of 4533: the rest are $2.50-multiple strikes (397.5 .. 457.5) off the $1 grid.
    assert found / real.height > 0.995, (found, real.height)


# ------------------------------------------------------------------------------------------
# SYNTHETIC hand-computable expirations
# ------------------------------------------------------------------------------------------


def test_synthetic_good_friday_moves_the_monthly_to_thursday() -> None:
    # SYNTHETIC: April 2019's third Friday is Good Friday (April 19), an NYSE holiday, so both the
    # AM (SPX) and PM (SPXW) monthlies expire on Thursday April 18; AAPL's April 2014 monthly
    # (OCC date Saturday April 19, Good Friday April 18) on Thursday April 17.
    spx = listed_expirations("SPX", [dt.date(2019, 4, 15)], max_dte=4)
    monthly = spx.filter(pl.col("expiry_type") == "monthly")
    assert monthly.select("expiration", "option_root", "settlement_type").rows() == [
        (dt.date(2019, 4, 18), "SPX", "AM"),
        (dt.date(2019, 4, 18), "SPXW", "PM"),
    ]
    aapl = listed_expirations("AAPL", [dt.date(2014, 4, 14)], max_dte=10)
    assert dt.date(2014, 4, 17) in aapl.filter(pl.col("expiry_type") == "monthly")["expiration"]


def test_synthetic_pre_2015_saturday_expiry_is_stored_as_its_friday() -> None:
    # SYNTHETIC: until February 2015 OCC dated standard options on the Saturday after the third
    # Friday: January 2014 -> Saturday 2014-01-18, stored as Friday 2014-01-17 (dte 15 from
    # 2014-01-02). No expiration is ever a weekend day.
    out = listed_expirations("SPY", [dt.date(2014, 1, 2)], max_dte=400)
    monthly = out.filter(pl.col("expiry_type") == "monthly")
    assert monthly.row(0, named=True)["expiration"] == dt.date(2014, 1, 17)
    assert monthly.row(0, named=True)["dte"] == 15
    assert out["expiration"].dt.weekday().max() <= 5


def test_synthetic_no_wednesday_weeklies_before_february_2016() -> None:
    # SYNTHETIC: SPX Wednesday weeklies began 2016-02-23 (first expiry 2016-03-02); 2015 has only
    # Friday weeklies (Wednesday expiries in 2015 are end-of-month series, e.g. 2015-09-30).
    sessions = pl.read_csv(
        Path(__file__).resolve().parents[2] / "models_sql" / "seeds" / "nyse_sessions.csv",
        try_parse_dates=True,
    )["session_date"]
    year = sessions.filter(sessions.dt.year() == 2015)
    out = listed_expirations("SPX", year, max_dte=60)
    weekly_days = out.filter(pl.col("expiry_type") == "weekly")["expiration"].dt.weekday()
    assert set(weekly_days.unique().to_list()) <= {4, 5}  # Fridays, Thursdays before holidays
    assert out.filter(pl.col("expiration").dt.weekday() == 3)["expiry_type"].unique().to_list() == [
        "end_of_month"
    ]
    first = listed_expirations("SPX", [dt.date(2016, 2, 23)], max_dte=20)
    wednesdays = first.filter(pl.col("expiration").dt.weekday() == 3)
    # 2016-02-29 is the February month-end (a Monday); the Wednesdays listed are Mar 2 and 9.
    assert wednesdays["expiration"].to_list() == [dt.date(2016, 3, 2), dt.date(2016, 3, 9)]


def test_synthetic_monday_holiday_weekly_moves_to_tuesday() -> None:
    # SYNTHETIC: Memorial Day 2019-05-27 is a holiday, so that week's Monday SPXW expires Tuesday
    # 2019-05-28 (a real expiry of the 2019 chain); from Friday 2019-05-24 it has dte 4.
    out = listed_expirations("SPX", [dt.date(2019, 5, 24)], max_dte=7)
    assert out.select("expiration", "option_root", "expiry_type", "dte").rows() == [
        (dt.date(2019, 5, 24), "SPXW", "weekly", 0),
        (dt.date(2019, 5, 28), "SPXW", "weekly", 4),
        (dt.date(2019, 5, 29), "SPXW", "weekly", 5),
        (dt.date(2019, 5, 31), "SPXW", "end_of_month", 7),
    ]


def test_synthetic_dte_bounds_schema_and_order() -> None:
    # SYNTHETIC: every row has 0 <= dte <= max_dte, one row per key, sorted, typed as promised.
    days = [dt.date(2019, 7, 22), dt.date(2019, 5, 1), dt.date(2019, 5, 1)]  # unsorted, repeated
    for max_dte in (0, 9, 45):
        out = listed_expirations("SPX", pl.Series(days), max_dte=max_dte)
        assert dict(out.schema) == EXPIRATION_SCHEMA
        assert out["dte"].min() >= 0 and out["dte"].max() <= max_dte
        assert out.equals(out.sort(KEY)) and out.select(KEY).is_unique().all()
        assert sorted(out["quote_date"].unique().to_list()) == sorted(set(days))
    # dte 0: Monday 2019-07-22 is itself a Monday SPXW expiry; Wednesday 2019-05-01 a Wednesday one.
    zero = listed_expirations("SPX", days, max_dte=0)
    assert zero.select("quote_date", "expiration").rows() == [
        (dt.date(2019, 5, 1), dt.date(2019, 5, 1)),
        (dt.date(2019, 7, 22), dt.date(2019, 7, 22)),
    ]
    assert listed_expirations("SPX", [], max_dte=10).is_empty()


def test_monthly_max_dte_lists_only_the_primary_monthlies_further() -> None:
    # SYNTHETIC: on quarterly roll date 2019-03-15 with max_dte 70, the SPX AM monthlies to 100
    # days add one expiration, June 21 (98 days: the quarterly put of the Cboe CLL); the SPXW
    # June monthly, end-of-month and quarterly series stop at 70 days.
    day = [dt.date(2019, 3, 15)]
    short = listed_expirations("SPX", day, max_dte=70)
    long = listed_expirations("SPX", day, max_dte=70, monthly_max_dte=100)
    added = long.join(short, on=KEY, how="anti")
    assert added.select("expiration", "option_root", "expiry_type", "dte").rows() == [
        (dt.date(2019, 6, 21), "SPX", "monthly", 98)
    ]
    assert long.filter(pl.col("option_root") != "SPX")["dte"].max() <= 70
    assert listed_expirations("SPX", day, max_dte=70, monthly_max_dte=70).equals(short)
    # an equity's own monthlies: AAPL 2019-03-15 lists June 21 (98 days) beside the 70-day set
    aapl = listed_expirations("AAPL", day, max_dte=70, monthly_max_dte=100)
    assert aapl["dte"].max() == 98


def test_spx_2019_monthlies_to_100_days_equal_the_real_chain(spx_2019) -> None:
    # Real: the SPX AM monthlies to 100 days and every other series to 60, as the real chain
    # lists them on its 56 days.
    dte = (pl.col("expiration") - pl.col("quote_date")).dt.total_days()
    real = spx_2019.filter((dte <= 60) | ((pl.col("option_root") == "SPX") & (dte <= 100)))
    listed = listed_expirations("SPX", real["quote_date"].unique(), max_dte=60, monthly_max_dte=100)
    precision, recall = _precision_recall(listed, real, KEY)
    assert (precision, recall) == (1.0, 1.0), f"precision {precision:.4f} recall {recall:.4f}"


@pytest.mark.parametrize("bad", [69, 70.5, True, "100"])
def test_monthly_max_dte_below_max_dte_or_not_an_integer_is_named(bad) -> None:
    with pytest.raises(ValueError, match=r"monthly_max_dte must be an integer >= max_dte \(70\)"):
        listed_expirations("SPX", [dt.date(2019, 3, 15)], max_dte=70, monthly_max_dte=bad)


def test_synthetic_am_weeklies_before_december_2010() -> None:
    # SYNTHETIC: Cboe's SPX Weeklys were AM-settled until the 2010-12-03 expiry; PM End-of-Week
    # series (SPXW) started 2010-12-02 with the 2010-12-10 expiry. On Thursday 2010-12-02 both
    # are listed: the current AM weekly (Dec 3) and the new PM one (Dec 10).
    out = listed_expirations("SPX", [dt.date(2010, 12, 2)], max_dte=8)
    assert out.select("expiration", "option_root", "settlement_type", "exercise_style").rows() == [
        (dt.date(2010, 12, 3), "SPX", "AM", "european"),
        (dt.date(2010, 12, 10), "SPXW", "PM", "european"),
    ]
    assert set(listed_expirations("AAPL", [dt.date(2019, 5, 1)], max_dte=30)["exercise_style"]) == {
        "american"
    }


def test_unknown_symbol_and_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="'TSLA'"):
        listed_expirations("TSLA", [dt.date(2019, 5, 1)], max_dte=30)
    with pytest.raises(ValueError, match=r"max_dte must be an integer >= 0.*-1"):
        listed_expirations("SPX", [dt.date(2019, 5, 1)], max_dte=-1)
    with pytest.raises(ValueError, match=r"sessions.*2019-05-04"):
        listed_expirations("SPX", [dt.date(2019, 5, 4)], max_dte=30)  # a Saturday
    with pytest.raises(ValueError, match="calendar_sessions must cover"):
        listed_expirations(
            "SPX",
            [dt.date(2019, 5, 1)],
            max_dte=30,
            calendar_sessions=pl.Series([dt.date(2019, 5, 1)]),
        )


# ------------------------------------------------------------------------------------------
# SYNTHETIC hand-computable strikes
# ------------------------------------------------------------------------------------------


def _row(**values) -> pl.DataFrame:
    base = {
        "underlying_symbol": "SPX",
        "quote_date": dt.date(2019, 5, 1),
        "expiration": dt.date(2019, 5, 17),
        "option_root": "SPX",
        "expiry_type": "monthly",
        "underlying_price": 2946.73,
        "strike_min": 2930.0,
        "strike_max": 2960.0,
    }
    return pl.DataFrame([base | values])


def test_synthetic_strike_grids() -> None:
    # SYNTHETIC SPX 2019, 16 days: 5-point strikes near the money, both band ends included.
    assert listed_strikes(_row())["strike"].to_list() == [2930.0 + 5 * i for i in range(7)]
    # SYNTHETIC SPX 2019 at -40 % (~1768): outside the 5-point zone (-30 %) but inside the
    # 25-point zone (-50 %): 1750, 1775 in [1740, 1800].
    far = _row(strike_min=1740.0, strike_max=1800.0)
    assert listed_strikes(far)["strike"].to_list() == [1750.0, 1775.0, 1800.0]
    # SYNTHETIC AAPL weekly at $151 (+-15 % zone: Short Term Option Series intervals): $1 below
    # $150, $2.50 from $150 -> 145..149 by 1, then 150, 152.5, 155.
    aapl = _row(
        underlying_symbol="AAPL",
        option_root="AAPL",
        expiry_type="weekly",
        expiration=dt.date(2019, 5, 3),
        underlying_price=151.0,
        strike_min=145.0,
        strike_max=155.0,
    )
    assert listed_strikes(aapl)["strike"].to_list() == [
        145.0,
        146.0,
        147.0,
        148.0,
        149.0,
        150.0,
        152.5,
        155.0,
    ]
    # SYNTHETIC SPY at $400, 30 days: whole dollars 398..402.
    spy = _row(
        underlying_symbol="SPY",
        option_root="SPY",
        expiration=dt.date(2019, 5, 31),
        underlying_price=400.0,
        strike_min=397.5,
        strike_max=402.2,
    )
    assert listed_strikes(spy)["strike"].to_list() == [398.0, 399.0, 400.0, 401.0, 402.0]
    # SYNTHETIC: a band between two listed strikes lists nothing.
    assert listed_strikes(_row(strike_min=2931.0, strike_max=2934.0)).is_empty()


def test_strikes_are_exact_sorted_and_keep_the_input(spx_2019) -> None:
    day = spx_2019.filter(pl.col("quote_date") == dt.date(2019, 6, 26))
    expiries = (
        day.group_by(KEY)
        .agg(pl.col("underlying_price").first())
        .join(
            listed_expirations("SPX", [dt.date(2019, 6, 26)], max_dte=1200).select(
                *KEY, "expiry_type"
            ),
            on=KEY,
        )
        .with_columns(
            underlying_symbol=pl.lit("SPX"),
            strike_min=pl.col("underlying_price") * 0.5,
            strike_max=pl.col("underlying_price") * 1.3,
            carried=pl.lit("kept"),
        )
        .sort(KEY)
    )
    out = listed_strikes(expiries)
    assert out.columns == [*expiries.columns, "strike"]
    assert (out["carried"] == "kept").all()
    cents = (out["strike"] * 100).round(0)
    assert (cents / 100 == out["strike"]).all()  # no float drift: exact decimal values
    assert (cents % 500 == 0).all()  # SPX strikes are multiples of 5 points
    assert (
        out.group_by(KEY, maintain_order=True)
        .agg(pl.col("strike").is_sorted().alias("ascending"))["ascending"]
        .all()
    )
    assert out.filter(
        (pl.col("strike") < pl.col("strike_min")) | (pl.col("strike") > pl.col("strike_max"))
    ).is_empty()
    # Row order of the input does not change the set of strikes listed.
    shuffled = listed_strikes(expiries.sample(fraction=1.0, shuffle=True, seed=7))
    assert shuffled.sort([*KEY, "strike"]).equals(out.sort([*KEY, "strike"]))


def test_bad_strike_input_raises() -> None:
    with pytest.raises(ValueError, match="'TSLA'"):
        listed_strikes(_row(underlying_symbol="TSLA"))
    with pytest.raises(ValueError, match="strike_min <= strike_max"):
        listed_strikes(_row(strike_min=2960.0, strike_max=2930.0))
    with pytest.raises(ValueError, match="underlying_price must be finite and > 0"):
        listed_strikes(_row(underlying_price=0.0))
    with pytest.raises(ValueError, match="missing column"):
        listed_strikes(_row().drop("strike_max"))
    assert listed_strikes(_row().clear()).columns == [*_row().columns, "strike"]


def test_carry_listed_strikes_keeps_a_strike_until_expiry_synthetic() -> None:
    """SYNTHETIC: a strike listed on day 1 and out of the band on day 2 is still there on day 2;
    a strike first listed on day 2 is not back-filled into day 1."""
    import datetime as dt

    from warehouse.modeled_chain.listing import carry_listed_strikes

    d1, d2, exp = dt.date(2019, 5, 6), dt.date(2019, 5, 7), dt.date(2019, 5, 17)
    listed = pl.DataFrame(
        {
            "quote_date": [d1, d1, d2, d2],
            "expiration": [exp] * 4,
            "option_root": ["SPXW"] * 4,
            "underlying_price": [2900.0, 2900.0, 2800.0, 2800.0],
            "strike": [2900.0, 3000.0, 2800.0, 2900.0],
        }
    )
    out = carry_listed_strikes(listed)
    assert out.filter(pl.col("quote_date") == d1)["strike"].to_list() == [2900.0, 3000.0]
    day2 = out.filter(pl.col("quote_date") == d2)
    assert day2["strike"].to_list() == [2800.0, 2900.0, 3000.0]
    # the per-day columns come from the day itself
    assert day2["underlying_price"].unique().to_list() == [2800.0]
