"""The fast paths of a load (issue 16, item 8) keep its results: files parsed two at a time land
in file order with their own checksums, each batch's rejects and warnings go to its own files,
and great-expectations is handed only the columns its expectations read."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path

import great_expectations as gx
import polars as pl
from great_expectations.expectations.row_conditions import Column

from loaders.landing import land_vendor_files, read_manifest
from loaders.validation import _columns_read, _suite_specs

FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
HEADER = (
    "underlying,underlying_last,exchange,optionroot,type,expiration,quotedate,strike,last,net,"
    "bid,ask,volume,openinterest,impliedvol,delta,gamma"
)


def _quote(day: str, strike: int, *, bid: int = 10, ask: int = 11, iv: str = "0.12") -> str:
    return (
        f"SPX,2900,CBOE,SPX190621C0{strike}000,call,06/21/2019,{day},{strike},1,0,{bid},{ask},"
        f"5,100,{iv},0.5,0.01"
    )


def _chain(vendor: Path, name: str, lines: list[str]) -> Path:
    folder = vendor / "options" / "cboe_l2"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress(("\n".join([HEADER, *lines]) + "\n").encode(), mtime=0))
    return path


def test_files_parsed_together_land_in_order_each_with_its_own_rejects(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    days = ["04/22/2019", "04/23/2019", "04/24/2019", "04/25/2019", "04/26/2019"]
    paths = []
    for i, day in enumerate(days):
        # every file: a clean quote, a crossed market (rejected), an IV of 0 (lands, flagged)
        lines = [
            _quote(day, 2900),
            _quote(day, 2950, bid=10, ask=9),
            _quote(day, 3000, iv="0"),
        ]
        paths.append(_chain(vendor, f"SPX_{i}.csv.gz", lines))
    broken = vendor / "options" / "cboe_l2" / "SPX_2b.csv.gz"
    broken.write_bytes(gzip.compress(b"x" * 100)[:20])  # truncated gzip, between the others

    (report,) = land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)

    assert report.files_new == len(days)
    assert len(report.file_errors) == 1 and "SPX_2b.csv.gz" in report.file_errors[0]
    manifest = read_manifest(raw).sort("source_file")
    expected = {
        p.relative_to(vendor).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths
    }
    assert dict(zip(manifest["source_file"], manifest["source_sha256"], strict=True)) == expected
    assert manifest["rows_in"].to_list() == [3] * len(days)
    assert manifest["rows_landed"].to_list() == [2] * len(days)
    assert manifest["rows_rejected"].to_list() == [1] * len(days)
    assert manifest["rows_warned"].to_list() == [1] * len(days)
    for row in manifest.iter_rows(named=True):
        load_id, source_file = row["load_id"], row["source_file"]
        landed = pl.read_parquet(raw / row["landed_file"])
        assert landed["source_file"].unique().to_list() == [source_file]
        assert landed["source_line"].to_list() == [2, 4]  # file order kept
        for folder, rule in (
            ("_rejects", "expect_column_pair_values_a_to_be_greater_than_b:ask,bid"),
            ("_warnings", "expect_column_values_to_be_between:implied_volatility"),
        ):
            issues = pl.read_parquet(raw / folder / "cboe" / "option_quotes" / f"{load_id}.parquet")
            assert issues["source_file"].to_list() == [source_file]
            assert issues["load_id"].to_list() == [load_id]
            assert issues["rule"].to_list() == [rule]
        assert (
            hashlib.sha256((raw / row["landed_file"]).read_bytes()).hexdigest()
            == (row["landed_sha256"])
        )


def test_great_expectations_reads_only_the_suites_columns_or_all_when_unsure() -> None:
    specs = _suite_specs("option_quotes")
    read = _columns_read(specs)
    assert read is not None
    for spec in specs:
        kwargs = spec.configuration.kwargs
        for key in ("column", "column_A", "column_B"):
            if key in kwargs:
                assert kwargs[key] in read
        assert set(kwargs.get("column_list") or []) <= set(read)
    assert "vendor_symbol" in read and "is_exchange_session" in read
    assert "load_id" not in read and "source_line" not in read
    e = gx.expectations
    # a table-level expectation, a row condition or an unknown column argument: every column
    assert _columns_read([*specs, e.ExpectTableRowCountToBeBetween(min_value=0)]) is None
    assert (
        _columns_read(
            [e.ExpectColumnValuesToNotBeNull(column="bid", row_condition=Column("ask") > 0)]
        )
        is None
    )
    assert _columns_read([e.ExpectColumnValuesToBeInTypeList(column="bid", type_list=["int"])]) == [
        "bid"
    ]
