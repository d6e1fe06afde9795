"""Cboe's exercise settlement values: the monthly-block layout parses to one row per index per
month, the embedded real file lands whole, and a SYNTHETIC fixture's bad rows are rejected with
their rule, file and line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from loaders.landing import land_vendor_files, read_manifest
from loaders.schemas import SETTLEMENT_VALUES
from loaders.vendor import FORMATS, VendorFileError, parse_file
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
REAL_FILE = VENDOR / "settlement" / "cboe_settlement_values_2018_2019.csv"
SYNTHETIC = (
    Path(__file__).parent / "fixtures" / "settlement" / "SYNTHETIC_cboe_settlement_values.csv"
)
FMT = {f.source: f for f in FORMATS}["cboe_settlement_values"]
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731


def test_real_file_parses_to_one_row_per_index_per_month() -> None:
    rows, rejects = parse_file(FMT, REAL_FILE, VENDOR)
    assert dict(rows.schema) == SETTLEMENT_VALUES
    # 452 lines: 24 month headers ("July 2019 Settlement Values,") and 428 index lines
    assert rows.height == 428 and rejects.is_empty()
    assert rows["settlement_month"].n_unique() == 24
    assert not rows.select("settlement_month", "index_label").is_duplicated().any()
    spx = rows.filter(pl.col("settlement_symbol") == "SET")
    # checked by hand against the file: "July 2019 Settlement Values," on line 121, then
    # "S&P 500 (SET),3008.06" on line 123
    july = spx.filter(pl.col("settlement_month") == dt.date(2019, 7, 1)).row(0, named=True)
    assert (july["index_name"], july["settlement_value"], july["source_line"]) == (
        "S&P 500",
        3008.06,
        123,
    )
    assert july["source_file"] == "settlement/cboe_settlement_values_2018_2019.csv"
    assert spx.height == 24 and not rows["has_vendor_footnote"].any()


def test_synthetic_fixture_lines_map_to_columns_and_rules() -> None:
    rows, rejects = parse_file(FMT, SYNTHETIC, SYNTHETIC.parent)
    by_line = {r["source_line"]: r for r in rows.iter_rows(named=True)}
    # line 5 "RUSSELL 2000 (RLS):,*1444.44": colon dropped, Cboe's '*' mark kept as a flag
    rls = by_line[5]
    assert (rls["index_label"], rls["index_name"], rls["settlement_symbol"]) == (
        "RUSSELL 2000 (RLS)",
        "RUSSELL 2000",
        "RLS",
    )
    assert (rls["settlement_value"], rls["has_vendor_footnote"]) == (1444.44, True)
    assert by_line[4]["settlement_month"] == dt.date(2020, 6, 1)
    # a value or a month that does not parse is a parse reject, with its line
    assert dict(rejects.select("source_line", "rule").iter_rows()) == {
        6: "unparseable:settlement_value",  # "Dow Jones (DJS),n/a"
        11: "unparseable:settlement_month",  # under "Smarch 2020 Settlement Values,"
    }
    # month headers (2, 10), the column header (3) and the blank line (9) are not rows
    assert sorted(by_line) == [1, 4, 5, 7, 8]


def test_landing_rejects_bad_rows_with_rule_file_and_line(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    (vendor / "settlement" / "cboe").mkdir(parents=True)
    shutil.copy(SYNTHETIC, vendor / "settlement" / "cboe" / SYNTHETIC.name)
    [report] = land_vendor_files(vendor, raw, only={"cboe/settlement_values"}, now=FIXED_NOW)

    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (7, 2, 5)
    [load_id] = report.load_ids
    landed = pl.read_parquet(raw / "cboe" / "settlement_values" / f"{load_id}.parquet")
    assert sorted(landed["index_label"]) == ["RUSSELL 2000 (RLS)", "S&P 500 (SET)"]
    rejects = pl.read_parquet(
        raw / "_rejects" / "cboe" / "settlement_values" / f"{load_id}.parquet"
    )
    assert set(rejects["source_file"]) == {f"settlement/cboe/{SYNTHETIC.name}"}
    assert dict(rejects.select("source_line", "rule").iter_rows()) == {
        1: "expect_column_values_to_not_be_null:settlement_month",  # before any month block
        6: "unparseable:settlement_value",
        7: "expect_column_values_to_be_between:settlement_value",  # "S&P 100 (OEX),-5"
        8: "expect_column_values_to_not_be_null:settlement_value",  # "VIX Options (VRO),"
        11: "unparseable:settlement_month",
    }
    assert set(rejects["severity"]) == {"error"}
    manifest = read_manifest(raw)
    assert manifest.select("entity", "rows_in", "rows_landed", "rows_rejected").row(0) == (
        "settlement_values",
        7,
        2,
        5,
    )


def test_a_month_landed_by_another_file_is_rejected_not_doubled(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    (vendor / "settlement" / "cboe").mkdir(parents=True)
    shutil.copy(REAL_FILE, vendor / "settlement" / REAL_FILE.name)
    [first] = land_vendor_files(vendor, raw, only={"cboe/settlement_values"}, now=FIXED_NOW)
    assert (first.rows_landed, first.rows_rejected) == (428, 0)
    # SYNTHETIC: the real July 2019 block's S&P 500 line again, in a later file
    (vendor / "settlement" / "cboe" / "SYNTHETIC_july_2019.csv").write_text(
        "July 2019 Settlement Values,\nS&P 500 (SET),3008.06\n"
    )
    [report] = land_vendor_files(vendor, raw, only={"cboe/settlement_values"}, now=FIXED_NOW)
    assert (report.files_new, report.rows_landed, report.rows_rejected) == (1, 0, 1)
    assert report.rejected_by_rule == {"key_already_landed:source,settlement_month,index_label": 1}


@pytest.mark.parametrize(
    ("relative", "claimed"),
    [
        ("settlement/cboe_settlement_values_2018_2019.csv", True),
        ("settlement/cboe/set-history.csv", True),
        ("settlement/set-history.csv", False),
    ],
)
def test_layout_claims_its_folders(relative: str, claimed: bool) -> None:
    assert FMT.claims(relative) is claimed


def test_a_line_with_a_third_field_names_the_file(tmp_path: Path) -> None:
    # SYNTHETIC: an unquoted comma inside a label makes a third field
    path = tmp_path / "settlement" / "cboe" / "SYNTHETIC_ragged.csv"
    path.parent.mkdir(parents=True)
    path.write_text("July 2019 Settlement Values,\nS&P 500, the index (SET),3008.06\n")
    with pytest.raises(VendorFileError, match=r"SYNTHETIC_ragged\.csv: cannot read as CSV"):
        parse_file(FMT, path, tmp_path)
