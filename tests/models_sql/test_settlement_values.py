"""marts.fct_settlement_values on the real embedded data, in a throwaway warehouse
(warehouse.sandbox): first with no settlement-value file landed, a fresh clone's state (the
optional source reads empty), then with Cboe's 2018-2019 settlement values and a SYNTHETIC file.

Cross-checks come from the vendor files themselves: SPY's raw QuantConnect bars for the proxy,
Cboe's "S&P 500 PM Settled Options (SPX)" lines for the official close of each expiration."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from loaders.vendor import FORMATS, parse_file
from warehouse.sandbox import VENDOR_DIR, Sandbox

pytestmark = pytest.mark.slow
REAL_FILE = VENDOR_DIR / "settlement" / "cboe_settlement_values_2018_2019.csv"
SYNTHETIC = (
    Path(__file__).parents[1]
    / "loaders"
    / "fixtures"
    / "settlement"
    / "SYNTHETIC_cboe_settlement_values.csv"
)
#: what the mart needs: underlying bars (and what fct_underlying_daily joins), settlement values
TARGETS = (
    "yahoo/index_bars",
    "yahoo/equity_bars",
    "quantconnect/equity_bars",
    "quantconnect/adjustment_factors",
    "cboe/volatility_indices",
    "fred/rates",
    "cboe/settlement_values",
)


def _load(sandbox: Sandbox, *targets: str) -> None:
    sandbox.run("load", *[arg for target in targets for arg in ("--only", target)])


def _mart(sandbox: Sandbox) -> pl.DataFrame:
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        return con.sql("select * from marts.fct_settlement_values").pl()


def _row(mart: pl.DataFrame, symbol: str, day: str) -> dict:
    rows = mart.filter(
        (pl.col("underlying_symbol") == symbol)
        & (pl.col("trade_date") == dt.date.fromisoformat(day))
    )
    assert rows.height == 1, (symbol, day)
    return rows.row(0, named=True)


def _spy_raw(day: str) -> dict:
    bars = pl.read_csv(VENDOR_DIR / "prices" / "raw_daily" / "SPY.csv", try_parse_dates=True)
    return bars.filter(pl.col("date") == dt.date.fromisoformat(day)).row(0, named=True)


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pl.DataFrame]]:
    sandbox = Sandbox.create(tmp_path_factory.mktemp("settlement_values"), 1)
    settlement = sandbox.root / "vendor" / "settlement"
    (settlement / REAL_FILE.name).unlink()
    _load(sandbox, *TARGETS)
    # the seed: tests of int_calendar_days_generated compare it with the NYSE session list;
    # cautious: no test of an unselected model (the option marts) because it also reads these
    build = ("dbt", "build", "--indirect-selection", "cautious", "--select")
    sandbox.run(*build, "+fct_settlement_values", "nyse_sessions")
    without = _mart(sandbox)
    shutil.copy(REAL_FILE, settlement / REAL_FILE.name)
    (settlement / "cboe").mkdir()
    shutil.copy(SYNTHETIC, settlement / "cboe" / SYNTHETIC.name)
    _load(sandbox, "cboe/settlement_values")
    sandbox.run(*build, "stg_cboe__settlement_values", "fct_settlement_values")
    yield {"without": without, "with": _mart(sandbox)}


def test_without_a_settlement_file_spx_settles_on_the_spy_open_gap(marts: dict) -> None:
    mart = marts["without"]
    assert "soq" not in set(mart["am_settlement_method"])
    row = _row(mart, "SPX", "2019-07-19")
    # SPY raw: close 298.83 on 2019-07-18, open 300.01 on 2019-07-19: +0.395 % (SPY's 0.96 % that
    # day is its open above its own 2019-07-19 close, 297.17, not above the previous close)
    before, on = _spy_raw("2019-07-18"), _spy_raw("2019-07-19")
    gap = on["open"] / before["close"]
    assert gap - 1 == pytest.approx(0.00395, abs=5e-6)
    assert row["am_settlement_method"] == "proxy_etf_open_gap"
    assert row["previous_close"] == pytest.approx(2995.11)  # S&P 500 close, 2019-07-18
    assert row["am_settlement_price"] == pytest.approx(2995.11 * gap, rel=1e-12)  # 3006.94
    assert row["am_settlement_price"] == row["am_proxy_price"]
    # PM settles on the official close, never the AM price
    assert (row["pm_settlement_price"], row["pm_settlement_method"]) == (2976.61, "official_close")
    # the short 2995 call of the issue: ~12 points in the money at the open, not worthless
    assert row["am_settlement_price"] - 2995 == pytest.approx(11.94, abs=0.01)
    for day in ("2019-05-17", "2019-06-21"):
        assert _row(mart, "SPX", day)["am_settlement_method"] == "proxy_etf_open_gap"


def test_the_proxy_is_corrected_for_spys_ex_dividend_open(marts: dict) -> None:
    # 2019-06-21: SPY goes ex-dividend ($1.4354) on the monthly expiration. Raw: 295.86 -> 294.14
    # (-0.58 %); the Lean factors (0.9645123 up to 06-20, 0.9692021 from 06-21) put the close
    # on the open's scale: 294.14 x 0.9692021 / (295.86 x 0.9645123) - 1 = -0.098 %.
    row = _row(marts["without"], "SPX", "2019-06-21")
    gap = (294.14 * 0.9692021) / (295.86 * 0.9645123)
    assert row["am_proxy_price"] == pytest.approx(row["previous_close"] * gap, rel=1e-9)
    assert row["am_proxy_price"] == pytest.approx(2951.29, abs=0.01)  # Cboe's SOQ: 2953.90


def test_with_cboe_file_the_monthlies_settle_on_the_soq(marts: dict) -> None:
    mart = marts["with"]
    soq = {"2019-05-17": 2851.23, "2019-06-21": 2953.90, "2019-07-19": 3008.06}
    for day, value in soq.items():
        row = _row(mart, "SPX", day)
        assert (row["am_settlement_price"], row["am_settlement_method"]) == (value, "soq"), day
        # the proxy is still reported beside it, unchanged
        assert row["am_proxy_price"] == _row(marts["without"], "SPX", day)["am_proxy_price"]
    # the day before an expiration has no settlement value: the proxy
    assert _row(mart, "SPX", "2019-07-18")["am_settlement_method"] == "proxy_etf_open_gap"
    # Good Friday 2019-04-19: the April value settles Thursday 2019-04-18
    assert _row(mart, "SPX", "2019-04-18")["am_settlement_price"] == 2905.90


def test_every_expirations_close_is_cboes_pm_settlement_value(marts: dict) -> None:
    # Cboe's file has the PM-settled SPX value of each month beside the SOQ: it must be the
    # official close of the day the mart dates the SOQ to (24 months, 2018-2019).
    fmt = {f.source: f for f in FORMATS}["cboe_settlement_values"]
    values, _ = parse_file(fmt, REAL_FILE, VENDOR_DIR)
    pm = dict(
        values.filter(pl.col("index_label") == "S&P 500 PM Settled Options (SPX)")
        .select("settlement_month", "settlement_value")
        .iter_rows()
    )
    soq_days = marts["with"].filter(
        (pl.col("underlying_symbol") == "SPX") & (pl.col("am_settlement_method") == "soq")
        & (pl.col("trade_date").dt.year() <= 2019)
    )  # fmt: skip
    assert soq_days.height == 24
    for row in soq_days.iter_rows(named=True):
        assert row["pm_settlement_price"] == pytest.approx(pm[row["trade_date"].replace(day=1)])


def test_a_synthetic_soq_row_is_used_on_its_day(marts: dict) -> None:
    # SYNTHETIC_cboe_settlement_values.csv: "June 2020 Settlement Values," then
    # "S&P 500 (SET),3333.33" and "RUSSELL 2000 (RLS):,*1444.44" -> 2020-06-19
    before, after = (
        _row(marts["without"], "SPX", "2020-06-19"),
        _row(marts["with"], "SPX", "2020-06-19"),
    )
    assert before["am_settlement_method"] == "proxy_etf_open_gap"
    assert (after["am_settlement_price"], after["am_settlement_method"]) == (3333.33, "soq")
    rut = _row(marts["with"], "RUT", "2020-06-19")  # no RUT bars: known only from its SOQ
    assert (rut["am_settlement_price"], rut["am_settlement_method"]) == (1444.44, "soq")
    assert (rut["pm_settlement_price"], rut["pm_settlement_method"]) == (None, "unavailable")


def test_index_opens_that_copy_the_previous_close_are_not_used(marts: dict) -> None:
    # The S&P 500 OHLC file's open equals the previous close on ~97 % of 1999-2005 days: those
    # days take the SPY proxy; from 2014 to 2018 the opens are real prints.
    spx = marts["without"].filter(pl.col("underlying_symbol") == "SPX")
    share = (
        spx.group_by(pl.col("trade_date").dt.year().alias("year"))
        .agg((pl.col("am_settlement_method") == "index_open").mean().alias("share"))
        .sort("year")
    )
    by_year = dict(share.iter_rows())
    assert all(by_year[year] < 0.06 for year in range(1999, 2006))
    assert all(by_year[year] > 0.99 for year in range(2014, 2019))
    assert (spx["am_settlement_method"] == "unavailable").any()  # before SPY's bars, after 2021-03
    assert (
        spx.filter(pl.col("am_settlement_method") == "unavailable")["am_settlement_price"]
        .is_null()
        .all()
    )
