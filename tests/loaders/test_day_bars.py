"""Polygon option day bars: the embedded real file parses and lands whole, a hand-checked row maps
to the canonical columns, and a SYNTHETIC fixture's bad rows are rejected with their rule, file
and line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from loaders.day_bars import complete_option_day_bars
from loaders.landing import land_vendor_files, read_manifest
from loaders.schemas import OPTION_DAY_BARS
from loaders.vendor import FORMATS, parse_file
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
REAL_FILE = VENDOR / "options" / "polygon_option_bars_2023" / "options_daily_ohlc_45d_2023.csv.gz"
SYNTHETIC = Path(__file__).parent / "fixtures" / "polygon" / "SYNTHETIC_polygon_option_day_bars.csv"
FMT = {f.source: f for f in FORMATS}["polygon_option_day_bars"]
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
UTC = dt.UTC


@pytest.fixture(scope="module")
def real() -> tuple[pl.DataFrame, pl.DataFrame]:
    return parse_file(FMT, REAL_FILE, VENDOR)


def _bar(rows: pl.DataFrame, symbol: str, day: dt.date) -> dict:
    [row] = rows.filter(
        (pl.col("contract_symbol") == symbol) & (pl.col("trade_date") == day)
    ).iter_rows(named=True)
    return row


def test_real_file_parses_every_row(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    rows, rejects = real
    assert dict(rows.schema) == OPTION_DAY_BARS
    assert rows.height == 40_501 and rejects.is_empty()
    # 8 underlyings x 7 expirations x 13 strikes x call/put, less the contracts that never traded
    assert sorted(rows["underlying_symbol"].unique()) == [
        "AAPL", "ADBE", "AMD", "GS", "MSFT", "NVDA", "QQQ", "SPY",
    ]  # fmt: skip
    assert rows["contract_symbol"].n_unique() == 1_447
    assert not rows.select("contract_symbol", "trade_date").is_duplicated().any()
    assert (rows["option_root"] == rows["underlying_symbol"]).all()
    # volume "61.0": integral floats become contracts
    assert rows["volume"].dtype == pl.Int64 and rows["volume"].min() == 1


def test_hand_checked_rows(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    rows, _ = real
    # line 2: AAPL,2023-01-03,2023-01-03,2023-02-17,95.0,C,30.79,31.11,30.48,31.05,61.0,31.04,10,
    #         2023-01-03 05:00:00
    aapl = _bar(rows, "AAPL230217C00095000", dt.date(2023, 1, 3))
    assert {k: aapl[k] for k in ("open", "high", "low", "close", "vwap")} == {
        "open": 30.79, "high": 31.11, "low": 30.48, "close": 31.05, "vwap": 31.04,
    }  # fmt: skip
    assert (aapl["volume"], aapl["transactions"], aapl["option_type"]) == (61, 10, "call")
    assert (aapl["strike"], aapl["expiration"]) == (95.0, dt.date(2023, 2, 17))
    assert (aapl["cycle_start"], aapl["source_line"]) == (dt.date(2023, 1, 3), 2)
    assert aapl["bar_start_at"] == dt.datetime(2023, 1, 3, 5, tzinfo=UTC)
    # line 37505: SPY,2023-06-05,2023-06-05,2023-07-21,400.0,P,1.93,2.05,1.72,1.9,9586.0,1.8553,
    #             888,2023-06-05 04:00:00 -- a put, under EDT
    spy = _bar(rows, "SPY230721P00400000", dt.date(2023, 6, 5))
    assert (spy["option_type"], spy["strike"], spy["volume"], spy["vwap"]) == (
        "put", 400.0, 9586, 1.8553,
    )  # fmt: skip
    assert (spy["transactions"], spy["source_line"]) == (888, 37_505)
    assert spy["bar_start_at"] == dt.datetime(2023, 6, 5, 4, tzinfo=UTC)


def test_c_and_p_map_to_call_and_put_and_into_the_occ_symbol(
    real: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    rows, _ = real
    text = pl.read_csv(REAL_FILE, infer_schema=False)
    # row order is kept: line n of the file is row n - 2
    assert text["option_type"].replace_strict({"C": "call", "P": "put"}).to_list() == (
        rows["option_type"].to_list()
    )
    assert rows.group_by("option_type").len().sort("option_type").rows() == [
        ("call", 20_574),
        ("put", 19_927),
    ]
    letter = rows["contract_symbol"].str.slice(-9, 1)
    assert (letter == rows["option_type"].str.slice(0, 1).str.to_uppercase()).all()


def test_bar_timestamp_is_the_window_start_midnight_new_york(
    real: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    rows, _ = real
    # the vendor's "trade_datetime_utc" is 04:00 or 05:00 UTC: midnight New York by DST, on the
    # bar's own trade_date; no row carries a time of day of an actual trade
    local = rows["bar_start_at"].dt.convert_time_zone("America/New_York")
    assert (local.dt.date() == rows["trade_date"]).all()
    assert (local.dt.hour() == 0).all() and (local.dt.minute() == 0).all()
    assert sorted(rows["bar_start_at"].dt.hour().unique()) == [4, 5]


def test_a_known_contracts_occ_symbol() -> None:
    # SYNTHETIC one-row frame: NVDA 2023-07-21 450 put -> NVDA230721P00450000 (strike x 1000)
    row = {c: None for c in OPTION_DAY_BARS} | {
        "underlying_symbol": " nvda ",
        "option_type": "put",
        "strike": 450.0,
        "expiration": dt.date(2023, 7, 21),
        "bar_start_at": "2023-07-20 04:00:00",
    }
    frame = pl.DataFrame([row], schema={**OPTION_DAY_BARS, "bar_start_at": pl.String})
    done = complete_option_day_bars(frame)
    assert done.select("underlying_symbol", "option_root", "contract_symbol").row(0) == (
        "NVDA",
        "NVDA",
        "NVDA230721P00450000",
    )
    assert dict(done.schema) == OPTION_DAY_BARS
    assert complete_option_day_bars(done).equals(done)  # idempotent


def test_real_file_lands_whole(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    target = vendor / REAL_FILE.relative_to(VENDOR)
    target.parent.mkdir(parents=True)
    shutil.copy(REAL_FILE, target)
    [report] = land_vendor_files(vendor, raw, only={"polygon/option_day_bars"}, now=FIXED_NOW)
    # every trade_date an NYSE session, OHLC ordered, VWAP within [low, high] on every row
    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (40_501, 40_501, 0)
    assert report.rows_warned == 0


def test_synthetic_rejects_are_real_defects(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    (vendor / "options" / "polygon").mkdir(parents=True)
    shutil.copy(SYNTHETIC, vendor / "options" / "polygon" / SYNTHETIC.name)
    [report] = land_vendor_files(vendor, raw, only={"polygon/option_day_bars"}, now=FIXED_NOW)
    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (12, 3, 9)
    [load_id] = report.load_ids
    landed = pl.read_parquet(raw / "polygon" / "option_day_bars" / f"{load_id}.parquet")
    assert sorted(landed["source_line"]) == [2, 11, 13]
    rejects = pl.read_parquet(
        raw / "_rejects" / "polygon" / "option_day_bars" / f"{load_id}.parquet"
    )
    assert set(rejects["source_file"]) == {f"options/polygon/{SYNTHETIC.name}"}
    pair = "expect_column_pair_values_a_to_be_greater_than_b"
    assert dict(rejects.select("source_line", "rule").iter_rows()) == {
        # option type "X": no OCC symbol can be built (rejected once, under its first rule)
        3: "expect_column_values_to_not_be_null:contract_symbol",
        4: f"{pair}:high_bound,low",  # high 5.50 below low 5.80
        5: "expect_column_values_to_be_in_set:is_exchange_session",  # Saturday 2023-01-07
        6: f"{pair}:expiration,trade_date",  # traded 2023-02-21, expired 2023-02-17
        7: "unparseable:strike",  # "abc"
        8: "expect_column_values_to_not_be_null:bar_start_at",  # "yesterday"
        # two different bars of one contract on one day: neither can be chosen
        9: "expect_compound_columns_to_be_unique:source,contract_symbol,trade_date",
        10: "expect_compound_columns_to_be_unique:source,contract_symbol,trade_date",
        12: "expect_column_values_to_be_between:volume",  # -5 contracts
    }
    assert set(rejects["severity"]) == {"error"}
    # line 11: VWAP 2.30 above the high 2.10 lands, flagged
    warnings = pl.read_parquet(
        raw / "_warnings" / "polygon" / "option_day_bars" / f"{load_id}.parquet"
    )
    assert warnings.select("source_line", "rule").rows() == [(11, f"{pair}:high_bound,vwap")]
    manifest = read_manifest(raw)
    assert manifest.select("vendor", "entity", "rows_landed", "rows_rejected").row(0) == (
        "polygon",
        "option_day_bars",
        3,
        9,
    )


@pytest.mark.parametrize(
    ("relative", "claimed"),
    [
        ("options/polygon_option_bars_2023/options_daily_ohlc_45d_2023.csv.gz", True),
        ("options/polygon/my_bars.csv", True),
        ("options/polygon/2024/my_bars.csv", False),
        ("options/spy_2021_top20.csv.gz", False),
    ],
)
def test_layout_claims_its_folders(relative: str, claimed: bool) -> None:
    assert FMT.claims(relative) is claimed
    # no other layout claims a day-bar file
    others = [f.source for f in FORMATS if f is not FMT and f.claims(relative)]
    assert not claimed or others == []
