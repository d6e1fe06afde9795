"""marts.fct_iv_surfaces in a throwaway warehouse (warehouse.sandbox): the embedded weekly AAPL
surface (real, qmoms ``vsurfd`` layout) landed and built through stg_qmoms__iv_surfaces with
its data and unit tests; then the vendor's daily five-name file dropped in beside it, as a user
would, and the mart rebuilt."""

from __future__ import annotations

import datetime as dt
import math
import shutil

import duckdb
import polars as pl
import pytest

from warehouse.paths import REPO_ROOT
from warehouse.sandbox import Sandbox

pytestmark = pytest.mark.slow

SHARED_FILE = REPO_ROOT.parent / "shared" / "data" / "surfaces" / "qmoms_surface_2023.csv.gz"
TARGET = "qmoms/iv_surfaces"


def _build(sandbox: Sandbox) -> pl.DataFrame:
    sandbox.run("load", "--only", TARGET)
    sandbox.run("dbt", "build", "--select", "+fct_iv_surfaces")
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        return con.sql("select * from marts.fct_iv_surfaces").pl()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    box = Sandbox.create(tmp_path_factory.mktemp("iv_surfaces"), 1)
    box.run("dbt", "seed", "--select", "nyse_sessions")
    return box


@pytest.fixture(scope="module")
def weekly(sandbox: Sandbox) -> pl.DataFrame:
    """The mart on the embedded data: built with every data test and the unit test green."""
    return _build(sandbox)


@pytest.fixture(scope="module")
def daily(sandbox: Sandbox, weekly: pl.DataFrame) -> pl.DataFrame:
    if not SHARED_FILE.exists():
        pytest.skip(f"the vendor's daily surface file is absent: {SHARED_FILE}")
    folder = sandbox.root / "vendor" / "surfaces" / "qmoms"
    folder.mkdir(exist_ok=True)
    shutil.copy(SHARED_FILE, folder / SHARED_FILE.name)
    return _build(sandbox)


def test_the_weekly_aapl_surface(weekly: pl.DataFrame) -> None:
    assert weekly.height == 2_808
    assert weekly["quote_date"].n_unique() == 52
    assert sorted(weekly["days"].unique()) == [30, 60, 91]
    assert weekly["delta"].n_unique() == 18
    assert set(weekly["underlying_symbol"]) == {"AAPL"}
    assert set(weekly["source"]) == {"qmoms_vsurfd"}
    assert (
        not weekly.select("underlying_symbol", "quote_date", "days", "delta").is_duplicated().any()
    )
    # the last session of each ISO week: Good Friday's week ends on Thursday 2023-04-06
    days = set(weekly["quote_date"])
    assert dt.date(2023, 4, 6) in days and dt.date(2023, 4, 7) not in days


def test_a_vendor_line_reaches_the_mart(weekly: pl.DataFrame) -> None:
    # line 2 of the embedded file:
    # 14593,2023-01-06,111.3066,0.440612,-10.0,129.830775,129.62,30.0,0.8587147045209073
    [row] = weekly.filter(
        (pl.col("quote_date") == dt.date(2023, 1, 6))
        & (pl.col("days") == 30)
        & (pl.col("delta") == -0.1)
    ).iter_rows(named=True)
    assert {k: row[k] for k in ("permno", "option_type", "strike", "implied_volatility")} == {
        "permno": 14593,
        "option_type": "put",
        "strike": 111.3066,
        "implied_volatility": 0.440612,
    }
    assert (row["forward_price"], row["spot_price"]) == (129.830775, 129.62)
    assert row["moneyness"] == 0.8587147045209073
    # 30 / 365 years; ln(111.3066 / 129.830775) = ln(0.857321) = -0.153943
    assert row["tte_years"] == pytest.approx(30 / 365, rel=1e-15)
    assert row["log_moneyness"] == pytest.approx(math.log(111.3066 / 129.830775), rel=1e-12)
    assert row["log_moneyness"] == pytest.approx(-0.153943, abs=5e-7)


def test_tenor_and_log_moneyness_on_every_row(weekly: pl.DataFrame) -> None:
    assert (weekly["tte_years"] - weekly["days"] / 365).abs().max() < 1e-15
    expected = (weekly["strike"] / weekly["forward_price"]).log()
    assert (weekly["log_moneyness"] - expected).abs().max() < 1e-12
    # out-of-the-money points of a delta surface: puts below the forward, calls above it,
    # except near 50 delta (a 50-delta call sits slightly above the forward, a 50-delta put
    # slightly below it, by the carry and the vol term d1 = sigma sqrt(T) / 2)
    wings = weekly.filter(pl.col("delta").abs() <= 0.40)
    assert (wings.filter(pl.col("option_type") == "put")["log_moneyness"] < 0).all()
    assert (wings.filter(pl.col("option_type") == "call")["log_moneyness"] > 0).all()


def test_the_daily_five_name_file_dropped_in(daily: pl.DataFrame) -> None:
    # 5 names x 250 sessions x 54 points; the weekly file's 2,808 AAPL points were landed first
    # and stand (the daily file's copies of them are rejected at landing as already landed)
    assert daily.height == 67_500
    per_name = daily.group_by("underlying_symbol").agg(
        pl.len(), pl.col("quote_date").n_unique().alias("n_dates")
    )
    assert sorted(per_name.rows()) == [
        (name, 13_500, 250) for name in ("AAPL", "CAT", "CVX", "IBM", "TSLA")
    ]
    # TSLA's PERMNO 93436, 2023-03-15, 30 days, 10-delta put (line 18,884 of the vendor file):
    # 93436,2023-03-15,139.647,0.77344,-10.0,181.08931,180.45,30.0,0.773881961762261
    [tsla] = daily.filter(
        (pl.col("underlying_symbol") == "TSLA")
        & (pl.col("quote_date") == dt.date(2023, 3, 15))
        & (pl.col("days") == 30)
        & (pl.col("delta") == -0.1)
    ).iter_rows(named=True)
    assert (tsla["permno"], tsla["strike"], tsla["implied_volatility"]) == (93436, 139.647, 0.77344)
    assert tsla["forward_price"] == 181.08931
