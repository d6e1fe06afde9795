"""Parsing the real embedded vendor files, and bad input that must not lose rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from loaders.schemas import OPTION_QUOTES, RATES, REJECTS, VOLATILITY_INDICES
from loaders.vendor import FORMATS, VendorFileError, VendorFormat, parse_file
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


def test_spy_2021_file_of_the_same_family_maps_by_header_name() -> None:
    rows, rejects = parse_file(
        FMT["cboe_eod_chain"], VENDOR / "options/spy_2021_top20.csv.gz", VENDOR
    )
    assert dict(rows.schema) == OPTION_QUOTES and rejects.is_empty()
    assert rows.height == 5_040
    # SPY,368.79,SPY210129P00345000,put,2021-01-29,2021-01-04,345.0,2.71,2.76,2.78,7424,48199,
    # 0.28804,-0.17798,0.00937,-0.1447,0.25147,SPY210129P00345000 (ISO dates, no exchange column)
    first = rows.row(0, named=True)
    assert (first["contract_symbol"], first["option_root"], first["exchange"]) == (
        "SPY210129P00345000",
        "SPY",
        None,
    )
    assert (first["quote_date"], first["expiration"]) == (dt.date(2021, 1, 4), dt.date(2021, 1, 29))
    assert (first["theta"], first["vega"], first["rho"]) == (-0.1447, 0.25147, None)
    assert (first["exercise_style"], first["settlement_style"], first["contract_multiplier"]) == (
        "american",
        "physical",
        100,
    )


def test_datashop_1545_layout_gets_its_root_from_the_file_name() -> None:
    rows, _ = parse_file(
        FMT["cboe_datashop_1545"], VENDOR / "options/spxw_20190626_cboe_datashop.csv.gz", VENDOR
    )
    assert rows.height == 10_384
    # 2019-06-26,2019-06-26,1700,C,78,1209.1,78,1229.2,2917.8,2918.42,0,0 (file starts with a BOM)
    first = rows.row(0, named=True)
    assert (first["contract_symbol"], first["underlying_symbol"], first["settlement_type"]) == (
        "SPXW190626C01700000",
        "SPX",
        "PM",
    )
    assert (first["bid_size"], first["bid"], first["ask"]) == (78, 1209.1, 1229.2)
    assert first["underlying_price"] == pytest.approx((2917.8 + 2918.42) / 2)
    # 15:45 in New York on a summer day (EDT, UTC-4) is 19:45 UTC.
    assert first["quoted_at"] == dt.datetime(2019, 6, 26, 19, 45, tzinfo=dt.UTC)


def test_ivolatility_padded_symbols_and_legacy_saturday_expirations() -> None:
    rows, rejects = parse_file(
        FMT["ivolatility_eod"], VENDOR / "options/spx_2011_week1_ivolatility.csv.gz", VENDOR
    )
    assert rows.height == 9_832 and rejects.is_empty()
    first = rows.row(0, named=True)
    assert (first["vendor_symbol"], first["contract_symbol"]) == (
        "SPXW  110107C01050000",
        "SPXW110107C01050000",
    )
    assert (first["exercise_style"], first["rho"]) == ("european", pytest.approx(0.115065))
    # Monthly SPX of January 2011: the vendor's expiration is the Friday (last trading day),
    # the OCC symbol keeps the Saturday expiration of the time.
    monthly = rows.filter(pl.col("option_root") == "SPX").row(0, named=True)
    assert monthly["expiration"] == dt.date(2011, 1, 21)
    # One contract, one symbol whatever the vendor's convention: the warehouse's symbol is
    # built on the normalised expiration; the vendor's Saturday stays in vendor_symbol.
    assert monthly["contract_symbol"].startswith("SPX110121")
    assert monthly["vendor_symbol"].startswith("SPX   110122")
    assert monthly["vendor_expiration"] == dt.date(2011, 1, 21)
    assert monthly["settlement_type"] == "AM"
    assert set(rows["option_root"]) == {"SPX", "SPXW", "SPXPM"}


def test_yfinance_csv_is_marked_adjusted_and_factor_files_have_no_header() -> None:
    spy, _ = parse_file(
        FMT["yfinance_csv"], VENDOR / "prices/yfinance_auto_adjusted/SPY.csv", VENDOR
    )
    assert spy["is_adjusted"].unique().to_list() == [True]
    assert spy.row(0, named=True)["close"] == pytest.approx(24.175392150878906)
    factors, _ = parse_file(
        FMT["quantconnect_factor_file"], VENDOR / "prices/raw_daily/factor_files/SPY.csv", VENDOR
    )
    # 19980102,0.6566606,1,1 is line 1: the file has no header.
    assert factors.select("date", "price_factor", "source_line").row(0) == (
        dt.date(1998, 1, 2),
        0.6566606,
        1,
    )


def test_each_option_quote_layout_declares_its_quote_time() -> None:
    quote_times = {
        f.source: (f.quote_time, f.quote_time_by_pattern)
        for f in FORMATS
        if f.entity == "option_quotes"
    }
    assert quote_times == {
        "cboe_eod_chain": ("15:45", {"options/spy_2021_top20.csv.gz": "close"}),
        "cboe_datashop_1545": ("15:45", {}),
        "ivolatility_eod": ("close", {}),
        "optionsdx_eod": ("close", {}),
    }
    assert FMT["cboe_eod_chain"].quote_time_of("options/spx_2019q2_cboe/SPX_20190425.csv.gz") == (
        "15:45"
    )
    assert FMT["cboe_eod_chain"].quote_time_of("options/spy_2021_top20.csv.gz") == "close"
    assert all(f.quote_time is None for f in FORMATS if f.entity != "option_quotes")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "option quotes need a quote_time"),
        ({"quote_time": "3:45 pm"}, "quote_time must be 'HH:MM'.*got '3:45 pm'"),
        ({"quote_time": "24:00"}, "got '24:00'"),
        (
            {"quote_time": "15:45", "quote_time_by_pattern": {"other/*.csv": "close"}},
            r"keys \['other/\*\.csv'\] are not among its patterns",
        ),
        ({"quote_time": "15:45", "entity": "equity_bars"}, "quote_time is for option quotes"),
    ],
)
def test_a_layout_with_a_bad_quote_time_is_refused(overrides: dict, message: str) -> None:
    terms = {
        "source": "my_chain",
        "vendor": "mine",
        "entity": "option_quotes",
        "patterns": ("options/mine/*.csv",),
        "columns": {"strike": "strike"},
    }
    with pytest.raises(ValueError, match=message):
        VendorFormat(**{**terms, **overrides})
