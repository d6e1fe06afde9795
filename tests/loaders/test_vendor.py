"""Parsing the real embedded vendor files, and bad input that must not lose rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from loaders.schemas import OPTION_QUOTES, RATES, REJECTS, VOLATILITY_INDICES
from loaders.vendor import FORMATS, VendorFileError, parse_file
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
FMT = {f.source: f for f in FORMATS}
CBOE_HEADER = (
    "underlying,underlying_last,exchange,optionroot,type,expiration,quotedate,strike,last,net,"
    "bid,ask,volume,openinterest,impliedvol,delta,gamma"
)


def test_cboe_chain_day_parses_to_canonical_schema() -> None:
    path = VENDOR / "options/spx_2019q2_cboe/SPX_20190425.csv.gz"
    rows, rejects = parse_file(FMT["cboe_eod_chain"], path, VENDOR)
    assert dict(rows.schema) == OPTION_QUOTES
    assert rows.height == 13_340  # 13,341 lines minus the header
    assert rejects.is_empty()
    # First data line, checked by hand against the file:
    # SPX,2919.04,CBOE,SPXW190426C00800000,call,04/26/2019,04/25/2019,800.0,0.0,0.0,2109.9,2128.2,0,2,7.9432,0.9985,0.0
    first = rows.row(0, named=True)
    assert first["contract_symbol"] == "SPXW190426C00800000"
    assert first["quote_date"] == dt.date(2019, 4, 25)
    assert first["expiration"] == dt.date(2019, 4, 26)
    assert (first["option_type"], first["strike"], first["bid"], first["ask"]) == (
        "call",
        800.0,
        2109.9,
        2128.2,
    )
    assert (first["open_interest"], first["underlying_price"]) == (2, 2919.04)
    assert (first["source_file"], first["source_line"]) == (
        "options/spx_2019q2_cboe/SPX_20190425.csv.gz",
        2,
    )
    assert set(rows["option_type"].unique()) == {"call", "put"}


def test_close_only_cboe_index_takes_symbol_from_header() -> None:
    rows, _ = parse_file(FMT["cboe_index_history"], VENDOR / "volatility/VVIX_History.csv", VENDOR)
    assert dict(rows.schema) == VOLATILITY_INDICES
    assert rows["index_symbol"].unique().to_list() == ["VVIX"]
    assert rows["open"].is_null().all()
    assert rows.row(0, named=True)["close"] == pytest.approx(71.73)  # 03/06/2006,71.730000


def test_fred_holidays_are_kept_as_nulls() -> None:
    rows, rejects = parse_file(FMT["fred_daily"], VENDOR / "rates/DGS3MO.csv", VENDOR)
    assert dict(rows.schema) == RATES and rejects.is_empty()
    holiday = rows.filter(pl.col("date") == dt.date(2005, 1, 17))  # MLK day: "2005-01-17,"
    assert holiday["value_pct"].to_list() == [None]
    assert rows.filter(pl.col("date") == dt.date(2005, 1, 3))["value_pct"].item() == 2.32


def test_fred_date_value_layout_and_bom_file() -> None:
    dff, _ = parse_file(FMT["fred_daily"], VENDOR / "rates/DFF.csv", VENDOR)
    assert dff["series_id"].unique().to_list() == ["DFF"]
    spy, _ = parse_file(
        FMT["yahoo_raw_close"], VENDOR / "prices/SPY_raw_close_1993_2025.csv", VENDOR
    )
    # The file starts with a UTF-8 BOM and uses unpadded M/DD/YYYY dates.
    assert spy.row(0, named=True)["date"] == dt.date(1993, 1, 29)
    assert spy.row(0, named=True)["close"] == 43.94


def _write_cboe(tmp_path: Path, lines: list[str], name: str = "SPX_20190425.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([CBOE_HEADER, *lines]) + "\n")
    return path


def test_unparseable_strike_goes_to_rejects_with_line(tmp_path: Path) -> None:
    good = "SPX,2919.04,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01"
    bad = "SPX,2919.04,CBOE,SPX190621P02900000,put,06/21/2019,04/25/2019,abc,1,0,10,11,5,100,0.12,-0.5,0.01"
    path = _write_cboe(tmp_path, [good, bad])
    rows, rejects = parse_file(FMT["cboe_eod_chain"], path, tmp_path)
    assert rows.height == 1
    assert dict(rejects.schema) == REJECTS
    assert rejects.select("rule", "source_line").row(0) == ("unparseable:strike", 3)
    assert '"strike":"abc"' in rejects["row_json"].item()


def test_wrong_header_names_file_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "SPX_20190425.csv"
    path.write_text("underlying,price\nSPX,1\n")
    with pytest.raises(
        VendorFileError, match=r"SPX_20190425\.csv: missing column\(s\).*optionroot"
    ):
        parse_file(FMT["cboe_eod_chain"], path, tmp_path)


def test_empty_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "SPX_20190425.csv"
    path.write_text("")
    with pytest.raises(VendorFileError, match=r"SPX_20190425\.csv: cannot read"):
        parse_file(FMT["cboe_eod_chain"], path, tmp_path)


def test_truncated_gzip_names_file(tmp_path: Path) -> None:
    payload = (VENDOR / "options/spx_2019q2_cboe/SPX_20190425.csv.gz").read_bytes()
    path = tmp_path / "SPX_20190425.csv.gz"
    path.write_bytes(payload[:5000])  # a download cut short
    with pytest.raises(VendorFileError, match=r"SPX_20190425\.csv\.gz: cannot read"):
        parse_file(FMT["cboe_eod_chain"], path, tmp_path)
