"""Landing: validation splits rows into landed and rejected, and nothing is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from loaders.landing import land_vendor_files

HEADER = (
    "underlying,underlying_last,exchange,optionroot,type,expiration,quotedate,strike,last,net,"
    "bid,ask,volume,openinterest,impliedvol,delta,gamma"
)
# Synthetic rows, one per rule: a clean quote, a crossed market (ask 9 < bid 10), a quote
# expiring before its quote date, and a duplicate of the clean quote.
LINES = [
    "SPX,2900,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01",
    "SPX,2900,CBOE,SPX190621P02900000,put,06/21/2019,04/25/2019,2900,1,0,10,9,5,100,0.12,-0.5,0.01",
    "SPX,2900,CBOE,SPX190419P02800000,put,04/19/2019,04/25/2019,2800,1,0,1,2,5,100,0.12,-0.5,0.01",
    "SPX,2900,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01",
    "SPX,2900,CBOE,SPX190621C03000000,call,06/21/2019,04/25/2019,3000,1,0,1,2,5,100,0.12,0.5,0.01",
]


def test_validation_rejects_keep_rule_file_and_line(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor" / "options" / "spx_2019q2_cboe"
    vendor.mkdir(parents=True)
    (vendor / "SPX_20190425.csv.gz").write_bytes(
        gzip.compress(("\n".join([HEADER, *LINES]) + "\n").encode())
    )
    raw = tmp_path / "raw"
    [report] = land_vendor_files(tmp_path / "vendor", raw, only={"cboe/option_quotes"})

    assert report.rows_in == 5
    assert report.rows_in == report.rows_landed + report.rows_rejected
    landed = pl.read_parquet(raw / "cboe" / "option_quotes.parquet")
    rejects = pl.read_parquet(raw / "_rejects" / "cboe__option_quotes.parquet")
    assert landed["contract_symbol"].to_list() == ["SPX190621C03000000"]
    by_line = dict(rejects.select("source_line", "rule").iter_rows())
    assert by_line[3].startswith("expect_column_pair_values_a_to_be_greater_than_b:ask,bid")
    assert by_line[4].endswith(":expiration,quote_date")
    # Both copies of a duplicated key are rejected: neither can be trusted over the other.
    assert by_line[2].startswith("expect_compound_columns_to_be_unique")
    assert by_line[5].startswith("expect_compound_columns_to_be_unique")
    report_json = json.loads((raw / "_reports" / "cboe__option_quotes.json").read_text())
    assert report_json["rows_rejected"] == 4 and report_json["suite_result"]["success"] is False


def test_unreadable_file_is_reported_and_the_others_land(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor" / "volatility"
    vendor.mkdir(parents=True)
    (vendor / "VIX_History.csv").write_text(
        "DATE,OPEN,HIGH,LOW,CLOSE\n01/02/1990,17.24,17.24,17.24,17.24\n"
    )
    (vendor / "VIX9D_History.csv").write_text("")
    [report] = land_vendor_files(
        tmp_path / "vendor", tmp_path / "raw", only={"cboe/volatility_indices"}
    )
    assert report.rows_landed == 1
    assert len(report.file_errors) == 1 and "VIX9D_History.csv" in report.file_errors[0]
