"""Cboe strategy benchmark index histories (layout ``cboe_benchmark_index_history``,
``benchmarks/<SYMBOL>_History.csv``) in both layouts Cboe publishes: the two-column ``DATE,<SYMBOL>``
(the REAL embedded BXM file) and OHLC ``DATE,OPEN,HIGH,LOW,CLOSE`` with the symbol from the file
name (SYNTHETIC values in that real header, written by the tests). A user who drops
``PUT_History.csv`` beside the BXM file gets PUT in marts.fct_benchmark_index_levels: the last test
lands both in a throwaway warehouse and builds the staging view and the mart (dbt, slow)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from loaders.landing import land_vendor_files
from loaders.schemas import BENCHMARK_INDICES
from loaders.vendor import FORMATS, VendorFileError, parse_file
from warehouse.paths import REPO_ROOT
from warehouse.sandbox import Sandbox

VENDOR = REPO_ROOT / "warehouse" / "vendor"
BXM_FILE = VENDOR / "benchmarks" / "BXM_History.csv"
FMT = {f.source: f for f in FORMATS}["cboe_benchmark_index_history"]
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
BENCHMARKS = ("BXM", "BXMD", "PUT", "CNDR", "BFLY", "CLL", "PPUT")

# SYNTHETIC levels in Cboe's OHLC header (the layout of the embedded VIX_History.csv): three
# sessions of mid-2019, MM/DD/YYYY dates as Cboe writes them.
SYNTHETIC_OHLC = (
    "DATE,OPEN,HIGH,LOW,CLOSE\n"
    "06/20/2019,1000.000000,1010.000000,995.000000,1005.000000\n"
    "06/21/2019,1005.000000,1012.000000,1001.000000,1010.500000\n"
    "06/24/2019,1010.500000,1011.000000,1003.000000,1008.250000\n"
)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / "benchmarks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("symbol", BENCHMARKS)
def test_layout_claims_every_benchmark_history(symbol: str) -> None:
    assert FMT.claims(f"benchmarks/{symbol}_History.csv")
    assert not FMT.claims(f"volatility/{symbol}_History.csv")  # the volatility indices' folder
    assert not FMT.claims(f"benchmarks/cboe/{symbol}_History.csv")


def test_real_bxm_file_two_column_layout() -> None:
    rows, rejects = parse_file(FMT, BXM_FILE, VENDOR)

    assert dict(rows.schema) == BENCHMARK_INDICES
    assert rejects.is_empty()
    # 6,081 lines: the header and 6,080 closes, 2002-03-22 → 2026-05-26 (warehouse/vendor/README.md)
    assert rows.height == 6080
    assert set(rows["index_symbol"]) == {"BXM"}
    assert (rows["date"].min(), rows["date"].max()) == (dt.date(2002, 3, 22), dt.date(2026, 5, 26))
    first = rows.row(0, named=True)
    # line 2 of the file: "03/22/2002,584.3"
    assert (first["date"], first["close"], first["source_line"]) == (dt.date(2002, 3, 22), 584.3, 2)
    assert first["source_file"] == "benchmarks/BXM_History.csv"
    # month-ends checked against an independent copy (marts.fct_benchmark_index_levels' test)
    closes = dict(rows.select("date", "close").iter_rows())
    assert closes[dt.date(2008, 12, 31)] == 608.49
    assert closes[dt.date(2020, 3, 31)] == 1177.55
    assert rows.select("open", "high", "low").null_count().row(0) == (6080, 6080, 6080)


def test_synthetic_ohlc_layout_takes_the_symbol_from_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "PUT_History.csv", SYNTHETIC_OHLC)

    rows, rejects = parse_file(FMT, path, tmp_path)

    assert rejects.is_empty()
    assert rows.select("index_symbol", "date", "open", "close", "source_line").rows() == [
        ("PUT", dt.date(2019, 6, 20), 1000.0, 1005.0, 2),
        ("PUT", dt.date(2019, 6, 21), 1005.0, 1010.5, 3),
        ("PUT", dt.date(2019, 6, 24), 1010.5, 1008.25, 4),
    ]


def test_synthetic_two_column_file_of_another_benchmark(tmp_path: Path) -> None:
    # SYNTHETIC: the BXM layout for CNDR, ISO dates (the layout's second date format)
    path = _write(tmp_path, "CNDR_History.csv", "DATE,CNDR\n2019-06-20,250.5\n2019-06-21,251\n")

    rows, _ = parse_file(FMT, path, tmp_path)

    assert rows.select("index_symbol", "date", "close").rows() == [
        ("CNDR", dt.date(2019, 6, 20), 250.5),
        ("CNDR", dt.date(2019, 6, 21), 251.0),
    ]


def test_a_value_column_that_names_another_index_is_refused(tmp_path: Path) -> None:
    # SYNTHETIC: BXM's closes saved under the PUT name would land as PUT
    path = _write(tmp_path, "PUT_History.csv", "DATE,BXM\n06/21/2019,1441.33\n")

    with pytest.raises(
        VendorFileError, match=r"value column 'BXM' does not match the series 'PUT'"
    ):
        parse_file(FMT, path, tmp_path)


def test_both_layouts_land_side_by_side(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    (vendor / "benchmarks").mkdir(parents=True)
    shutil.copy(BXM_FILE, vendor / "benchmarks" / BXM_FILE.name)
    _write(vendor, "PUT_History.csv", SYNTHETIC_OHLC)

    [report] = land_vendor_files(vendor, raw, only={"cboe/benchmark_indices"}, now=FIXED_NOW)

    assert (report.files_new, report.rows_landed, report.rows_rejected) == (2, 6083, 0)
    landed = pl.read_parquet(raw / "cboe" / "benchmark_indices" / "*.parquet")
    assert dict(landed.group_by("index_symbol").len().iter_rows()) == {"BXM": 6080, "PUT": 3}


@pytest.mark.slow
def test_a_dropped_history_reaches_the_mart(tmp_path: Path) -> None:
    """The REAL BXM file and a SYNTHETIC PUT file (OHLC) landed, then stg_cboe__benchmark_indices
    and marts.fct_benchmark_index_levels built with their tests: both symbols, their closes."""
    vendor = tmp_path / "vendor"
    (vendor / "benchmarks").mkdir(parents=True)
    shutil.copy(BXM_FILE, vendor / "benchmarks" / BXM_FILE.name)
    _write(vendor, "PUT_History.csv", SYNTHETIC_OHLC)
    (tmp_path / "warehouse" / "build").mkdir(parents=True)
    sandbox = Sandbox(
        tmp_path,
        {
            **os.environ,
            "WAREHOUSE_DIR": str(tmp_path / "warehouse"),
            "WAREHOUSE_VENDOR_DIR": str(vendor),
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
            "DBT_PROFILES_DIR": str(REPO_ROOT),
        },
    )
    sandbox.run("load", "--only", "cboe/benchmark_indices")
    sandbox.run(
        "dbt", "build", "--select", "stg_cboe__benchmark_indices", "fct_benchmark_index_levels"
    )

    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        staged = con.sql(
            "select index_symbol, count(*) from staging.stg_cboe__benchmark_indices group by 1"
        ).fetchall()
        put = con.sql(
            "select trade_date, level from marts.fct_benchmark_index_levels "
            "where index_symbol = 'PUT' order by trade_date"
        ).fetchall()
        bxm = con.sql(
            "select level from marts.fct_benchmark_index_levels "
            "where index_symbol = 'BXM' and trade_date = date '2019-06-21'"
        ).fetchall()
    assert dict(staged) == {"BXM": 6080, "PUT": 3}
    assert put == [
        (dt.date(2019, 6, 20), 1005.0),
        (dt.date(2019, 6, 21), 1010.5),
        (dt.date(2019, 6, 24), 1008.25),
    ]
    assert bxm == [(1441.33,)]  # the real close of the 2019-06-21 roll
