"""marts.fct_dividends on the real embedded QuantConnect factor files, in a throwaway warehouse
(warehouse.sandbox) that lands only the factor files and builds only the mart and its calendar.

Checked three ways: against the amounts the issuers published (State Street for SPY, Apple for
AAPL), against a second source in the vendor folder (Yahoo's dividend-adjusted SPY closes, divided
by the raw closes), and against the raw bars and the NYSE session list the derivation rests on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from warehouse.paths import REPO_ROOT
from warehouse.sandbox import VENDOR_DIR, Sandbox

pytestmark = pytest.mark.slow
RAW_DAILY = VENDOR_DIR / "prices" / "raw_daily"
SESSIONS_SEED = REPO_ROOT / "models_sql" / "seeds" / "nyse_sessions.csv"

#: Published cash dividends per share, USD, by ex-date, 2019-2021 (to 2021-03, where the factor
#: files end): SPDR S&P 500 ETF Trust distributions and Apple's quarterly dividends. AAPL's are
#: in the shares of the day: 0.82 before the 4:1 split of 2020-08-31, 0.205 after it.
#: SPY 2021-03-19 is 1.278 (1.277955): both the factor file (391.48 x (1 - 0.996736)) and Yahoo's
#: adjusted closes give 1.2778-1.2780; 1.264 is not what either source says.
PUBLISHED = {
    ("SPY", "2019-03-15"): 1.233,
    ("SPY", "2019-06-21"): 1.432,
    ("SPY", "2019-09-20"): 1.384,
    ("SPY", "2019-12-20"): 1.570,
    ("SPY", "2020-03-20"): 1.406,
    ("SPY", "2020-06-19"): 1.366,
    ("SPY", "2020-09-18"): 1.339,
    ("SPY", "2020-12-18"): 1.580,
    ("SPY", "2021-03-19"): 1.278,
    ("AAPL", "2019-02-08"): 0.73,
    ("AAPL", "2019-05-10"): 0.77,
    ("AAPL", "2019-08-09"): 0.77,
    ("AAPL", "2019-11-07"): 0.77,
    ("AAPL", "2020-02-07"): 0.77,
    ("AAPL", "2020-05-08"): 0.82,
    ("AAPL", "2020-08-07"): 0.82,
    ("AAPL", "2020-11-06"): 0.205,
    ("AAPL", "2021-02-05"): 0.205,
}


@pytest.fixture(scope="module")
def dividends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pl.DataFrame]:
    sandbox = Sandbox.create(tmp_path_factory.mktemp("dividends"), 1)
    sandbox.run("load", "--only", "quantconnect/adjustment_factors")
    # the seed: the calendar's tests compare it with the NYSE session list; `buildable` keeps
    # out the tests of other models that read the seed
    sandbox.run(
        "dbt", "build", "--select", "+fct_dividends", "nyse_sessions",
        "--indirect-selection", "buildable",
    )  # fmt: skip
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        yield con.sql("select * from marts.fct_dividends").pl()


def _window(mart: pl.DataFrame, symbol: str) -> pl.DataFrame:
    return mart.filter(
        (pl.col("underlying_symbol") == symbol)
        & pl.col("ex_date").is_between(dt.date(2019, 1, 1), dt.date(2021, 12, 31))
    )


def test_spy_and_aapl_match_the_published_amounts_within_a_cent(dividends: pl.DataFrame) -> None:
    for symbol in ("SPY", "AAPL"):
        got = dict(_window(dividends, symbol).select("ex_date", "dividend_usd").iter_rows())
        expected = {
            dt.date.fromisoformat(day): amount
            for (sym, day), amount in PUBLISHED.items()
            if sym == symbol
        }
        # the same ex-dates, no more (a split is not a dividend: AAPL 2020-08-31 is absent)
        assert set(got) == set(expected), symbol
        for day, amount in expected.items():
            assert got[day] == pytest.approx(amount, abs=0.01), (symbol, day)
            # the factors are far finer than a cent: within 0.0005 of the published amounts,
            # which are themselves rounded to 3 places (SPY 2019-06-21: 1.4316 vs 1.432)
            assert got[day] == pytest.approx(amount, abs=5e-4), (symbol, day)
    aapl = dict(_window(dividends, "AAPL").select("ex_date", "dividend_usd").iter_rows())
    # 455.61 x (1 - 0.9949942 / 0.9967882) = 0.8200: the raw amount, before the 4:1 split
    assert aapl[dt.date(2020, 8, 7)] == pytest.approx(0.82, abs=1e-4)
    spy = dict(_window(dividends, "SPY").select("ex_date", "dividend_usd").iter_rows())
    # 295.86 x (1 - 0.9645123 / 0.9692021) = 1.4316
    assert spy[dt.date(2019, 6, 21)] == pytest.approx(1.4316, abs=1e-4)


def test_spy_matches_the_dividends_implied_by_yahoos_adjusted_closes(
    dividends: pl.DataFrame,
) -> None:
    # Yahoo multiplies every close before an ex-date by (1 - D / C), C the raw close of the day
    # before; so D = C x (1 - f(t-1) / f(t)) with f = adjusted close / raw close.
    raw = pl.read_csv(RAW_DAILY / "SPY.csv", try_parse_dates=True).select("date", "close")
    adjusted = pl.read_csv(
        VENDOR_DIR / "prices" / "yfinance_auto_adjusted" / "SPY.csv", try_parse_dates=True
    ).select(pl.col("Date").alias("date"), pl.col("Close").alias("adjusted_close"))
    implied = (
        raw.join(adjusted, on="date", how="inner")
        .sort("date")
        .with_columns(factor=pl.col("adjusted_close") / pl.col("close"))
        .with_columns(
            implied_dividend_usd=pl.col("close").shift(1)
            * (1 - pl.col("factor").shift(1) / pl.col("factor"))
        )
        .select(pl.col("date").alias("ex_date"), "implied_dividend_usd")
    )
    spy = _window(dividends, "SPY").join(implied, on="ex_date", how="left")
    assert spy.height == 9
    worst = (spy["dividend_usd"] - spy["implied_dividend_usd"]).abs().max()
    assert worst < 0.001, spy


def test_reference_price_is_the_raw_close_of_the_factor_date(dividends: pl.DataFrame) -> None:
    # Lean's reference price is the raw close of the row's date; QQQ has no bars from 2004-12 to
    # 2011-03, so its dividends of those years have no bar to compare with.
    bars = pl.concat(
        pl.read_csv(RAW_DAILY / f"{symbol}.csv", try_parse_dates=True).select(
            pl.lit(symbol).alias("underlying_symbol"),
            pl.col("date").alias("factor_date"),
            "close",
        )
        for symbol in ("SPY", "QQQ", "IWM", "AAPL")
    )
    joined = dividends.join(bars, on=["underlying_symbol", "factor_date"], how="left")
    without_bar = joined.filter(pl.col("close").is_null())
    assert set(without_bar["underlying_symbol"]) == {"QQQ"}
    assert without_bar["factor_date"].is_between(dt.date(2004, 12, 1), dt.date(2011, 3, 22)).all()
    with_bar = joined.filter(pl.col("close").is_not_null())
    assert with_bar.height > 250
    assert (with_bar["reference_price"] - with_bar["close"]).abs().max() < 0.005


def test_ex_date_is_the_next_nyse_session(dividends: pl.DataFrame) -> None:
    sessions = (
        pl.read_csv(SESSIONS_SEED, try_parse_dates=True).select("session_date").sort("session_date")
    )
    expected = (
        dividends.sort("factor_date")
        .join_asof(
            sessions,
            left_on="factor_date",
            right_on="session_date",
            strategy="forward",
            allow_exact_matches=False,
        )
        .select("underlying_symbol", "factor_date", "session_date")
    )
    got = dividends.select("underlying_symbol", "factor_date", "ex_date")
    joined = got.join(expected, on=["underlying_symbol", "factor_date"], how="inner")
    assert joined.height == dividends.height
    assert (joined["ex_date"] == joined["session_date"]).all()
    # the factor row is itself a session: the last one before the ex-date
    assert dividends["factor_date"].is_in(sessions["session_date"].implode()).all()
    # a weekend in between: QQQ row Friday 2019-03-15 -> ex Monday 2019-03-18
    qqq = dividends.filter(pl.col("underlying_symbol") == "QQQ")
    assert (
        dt.date(2019, 3, 18)
        in qqq.filter(pl.col("factor_date") == dt.date(2019, 3, 15))["ex_date"].to_list()
    )


def test_one_row_per_ex_date_and_only_positive_amounts(dividends: pl.DataFrame) -> None:
    assert dividends.select("underlying_symbol", "ex_date").is_unique().all()
    assert (dividends["dividend_usd"] > 0).all()
    assert set(dividends["source"]) == {"quantconnect_factor_file"}
    # quarterly payers: four a year in each full year 2013-2020 (AAPL pays from 2012-08), plus
    # QQQ's extra 0.3731 on 2014-02-27, which Yahoo's adjusted closes carry too (0.3730)
    per_year = (
        dividends.filter(pl.col("ex_date").dt.year().is_between(2013, 2020))
        .group_by("underlying_symbol", pl.col("ex_date").dt.year().alias("year"))
        .len()
    )
    assert per_year.height == 4 * 8
    extra = per_year.filter(pl.col("len") != 4)
    assert extra.rows() == [("QQQ", 2014, 5)], extra
