"""qmoms implied-volatility surfaces (OptionMetrics ``vsurfd`` layout, entity ``iv_surfaces``):
the embedded weekly AAPL file is the vendor's own lines under the subset rule, parses and lands
whole, a hand-checked line maps to the canonical columns (delta x100 -> fraction, PERMNO ->
ticker), the daily five-name file of ../shared lands every row, and a SYNTHETIC file's bad rows
are rejected with their rule, file and line."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from loaders.landing import land_vendor_files, read_manifest
from loaders.schemas import IV_SURFACES
from loaders.vendor import FORMATS, QMOMS_PERMNO_SYMBOLS, complete_iv_surfaces, parse_file
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
REAL_FILE = VENDOR / "surfaces" / "qmoms_surface_2023_aapl_weekly.csv.gz"
#: the vendor's daily file of the five names (not embedded: over the 25 MB budget)
SHARED_FILE = REPO_ROOT.parent / "shared" / "data" / "surfaces" / "qmoms_surface_2023.csv.gz"
FMT = {f.source: f for f in FORMATS}["qmoms_vsurfd"]
TARGET = "qmoms/iv_surfaces"
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
needs_shared = pytest.mark.skipif(
    not SHARED_FILE.exists(), reason=f"the vendor's daily surface file is absent: {SHARED_FILE}"
)

HEADER = "id,date,k,impl_volatility,delta,f,s,days,mnes\n"
#: SYNTHETIC surface lines (invented values), one defect per line from line 3 on.
SYNTHETIC = HEADER + (
    "14593,2023-01-06,111.3066,0.440612,-10.0,129.830775,129.62,30.0,0.8587\n"  # 2 lands
    "99999,2023-01-06,111.3066,0.440612,-10.0,129.830775,129.62,30.0,0.8587\n"  # 3 unknown id
    "14593,2023-01-06,115.3124,0.0,-15.0,129.830775,129.62,30.0,0.8896\n"  # 4 IV of 0
    "14593,2023-01-06,118.3352,0.413106,-20.0,129.830775,129.62,0.0,0.9129\n"  # 5 tenor 0 days
    "14593,2023-01-06,abc,0.404227,-25.0,129.830775,129.62,30.0,0.9325\n"  # 6 strike "abc"
    "14593,2023-01-07,120.8736,0.404227,-25.0,129.830775,129.62,30.0,0.9325\n"  # 7 a Saturday
    "14593,2023-01-06,123.1163,0.395817,150.0,129.830775,129.62,30.0,0.9498\n"  # 8 |delta| 1.5
    "14593,2023-01-06,123.1163,0.395817,0.0,129.830775,129.62,30.0,0.9498\n"  # 9 delta 0
    "14593,2023-01-06,123.1163,0.395817,-30.0,0.0,129.62,30.0,0.9498\n"  # 10 forward 0
    "14593,2023-01-06,130.7144,0.362571,50.0,129.830775,129.62,30.0,1.0084\n"  # 11 lands
)


@pytest.fixture(scope="module")
def real() -> tuple[pl.DataFrame, pl.DataFrame]:
    return parse_file(FMT, REAL_FILE, VENDOR)


def _land(tmp_path: Path, files: dict[str, Path | str], *, raw: Path | None = None) -> tuple:
    """Copy (or write) ``files`` into a fresh vendor folder, land the surfaces target."""
    vendor, raw = tmp_path / "vendor", raw or tmp_path / "raw"
    for relative, content in files.items():
        target = vendor / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_text(content)
    [report] = land_vendor_files(vendor, raw, only={TARGET}, now=FIXED_NOW)
    return report, raw


def test_embedded_file_is_the_vendor_lines_under_the_subset_rule() -> None:
    """AAPL (PERMNO 14593) on the last trading day present of each ISO week; lines unchanged,
    in the vendor's order, gzip without a timestamp (byte-reproducible)."""
    data = gzip.decompress(REAL_FILE.read_bytes())
    assert gzip.compress(data, mtime=0, compresslevel=9) == REAL_FILE.read_bytes()
    lines = data.decode().splitlines(keepends=True)
    assert lines[0] == HEADER and len(lines) == 1 + 2_808
    if not SHARED_FILE.exists():
        pytest.skip(f"the vendor's daily surface file is absent: {SHARED_FILE}")
    vendor_lines = gzip.decompress(SHARED_FILE.read_bytes()).decode().splitlines(keepends=True)
    aapl = [line for line in vendor_lines[1:] if line.startswith("14593,")]
    days = sorted({dt.date.fromisoformat(line.split(",")[1]) for line in aapl})
    last_of_week: dict[tuple[int, int], dt.date] = {}
    for day in days:
        week = day.isocalendar()[:2]
        last_of_week[week] = max(last_of_week.get(week, day), day)
    keep = {d.isoformat() for d in last_of_week.values()}
    assert lines[1:] == [line for line in aapl if line.split(",")[1] in keep]
    # Good Friday 2023-04-07: that week's last session is the Thursday
    assert "2023-04-06" in keep and "2023-04-07" not in keep


def test_real_file_parses_every_row(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    rows, rejects = real
    assert dict(rows.schema) == IV_SURFACES
    assert rows.height == 2_808 and rejects.is_empty()
    # 52 weeks x 3 tenors x 18 deltas = 2,808
    assert rows["quote_date"].n_unique() == 52
    assert sorted(rows["days"].unique()) == [30, 60, 91]
    assert rows["delta"].n_unique() == 18
    assert sorted(rows["delta"].unique().round(2)) == [
        -0.5, -0.45, -0.4, -0.35, -0.3, -0.25, -0.2, -0.15, -0.1,
        0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    ]  # fmt: skip
    assert set(rows["underlying_symbol"]) == {"AAPL"} and set(rows["permno"]) == {14593}
    assert rows.group_by("option_type").len().sort("option_type").rows() == [
        ("call", 1_404),
        ("put", 1_404),
    ]
    assert ((rows["delta"] > 0) == (rows["option_type"] == "call")).all()
    assert not rows.select("underlying_symbol", "quote_date", "days", "delta").is_duplicated().any()
    assert (rows["quote_date"].min(), rows["quote_date"].max()) == (
        dt.date(2023, 1, 6),
        dt.date(2023, 12, 29),
    )


def test_hand_checked_lines(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    rows, _ = real

    def line(n: int) -> dict:
        [row] = rows.filter(pl.col("source_line") == n).iter_rows(named=True)
        return row

    # line 2: 14593,2023-01-06,111.3066,0.440612,-10.0,129.830775,129.62,30.0,0.8587147045209073
    put = line(2)
    assert put == {
        "underlying_symbol": "AAPL",
        "permno": 14593,
        "quote_date": dt.date(2023, 1, 6),
        "days": 30,
        "delta": -0.10,  # the vendor's -10.0 / 100
        "option_type": "put",
        "strike": 111.3066,
        "implied_volatility": 0.440612,
        "forward_price": 129.830775,
        "spot_price": 129.62,
        "moneyness": 0.8587147045209073,
        "source": "qmoms_vsurfd",
        "source_file": "surfaces/qmoms_surface_2023_aapl_weekly.csv.gz",
        "source_line": 2,
        "load_id": None,
    }
    # line 11: 14593,2023-01-06,130.7144,0.362571,50.0,129.830775,129.62,30.0,1.0084431414905108
    call = line(11)
    assert (call["delta"], call["option_type"], call["strike"]) == (0.5, "call", 130.7144)
    assert call["implied_volatility"] == 0.362571 and call["forward_price"] == 129.830775
    # moneyness is the vendor's strike / spot: 130.7144 / 129.62
    assert call["moneyness"] == pytest.approx(130.7144 / 129.62, rel=1e-15)


def test_complete_maps_permno_and_delta_sign() -> None:
    # SYNTHETIC rows: TSLA's PERMNO with a call delta of 25 (x100), an unknown PERMNO, delta 0
    rows = [
        {c: None for c in IV_SURFACES} | {"permno": p, "delta": d}
        for p, d in ((93436, 25.0), (99999, -40.0), (12490, 0.0))
    ]
    done = complete_iv_surfaces(pl.DataFrame(rows, schema=IV_SURFACES))
    assert done.select("underlying_symbol", "delta", "option_type").rows() == [
        ("TSLA", 0.25, "call"),
        (None, -0.40, "put"),
        ("IBM", 0.0, None),
    ]
    assert dict(done.schema) == IV_SURFACES
    assert QMOMS_PERMNO_SYMBOLS == {
        12490: "IBM", 14541: "CVX", 14593: "AAPL", 18542: "CAT", 93436: "TSLA",
    }  # fmt: skip


def test_real_file_lands_whole(tmp_path: Path) -> None:
    report, raw = _land(tmp_path, {REAL_FILE.relative_to(VENDOR).as_posix(): REAL_FILE})
    # every quote_date an NYSE session, every IV in (0, 5], every |delta| in (0, 1]
    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (2_808, 2_808, 0)
    assert report.rows_warned == 0
    landed = pl.read_parquet(raw / "qmoms" / "iv_surfaces" / "*.parquet")
    assert landed.height == 2_808 and dict(landed.schema) == IV_SURFACES


@needs_shared
def test_the_daily_five_name_file_lands_every_row(tmp_path: Path) -> None:
    """The vendor's daily file, dropped into the layout's folder in place of the weekly subset."""
    report, raw = _land(tmp_path, {"surfaces/qmoms/qmoms_surface_2023.csv.gz": SHARED_FILE})
    assert report.rows_in == report.rows_landed + report.rows_rejected == 67_500
    assert (report.rows_landed, report.rows_rejected, report.rows_warned) == (67_500, 0, 0)
    landed = pl.read_parquet(raw / "qmoms" / "iv_surfaces" / "*.parquet")
    per_name = landed.group_by("underlying_symbol").agg(
        pl.len(), pl.col("quote_date").n_unique().alias("days")
    )
    # 250 sessions of 2023 x 54 points, each name
    assert sorted(per_name.rows()) == [
        (name, 13_500, 250) for name in ("AAPL", "CAT", "CVX", "IBM", "TSLA")
    ]


@needs_shared
def test_the_daily_file_after_the_weekly_one_lands_only_what_is_new(tmp_path: Path) -> None:
    """Landed in a later run, the daily file's 2,808 AAPL points of the weekly days are already
    landed: rejected as repeats (the weekly batch stands; the values are the same lines)."""
    _, raw = _land(tmp_path / "one", {"surfaces/qmoms_surface_2023_aapl_weekly.csv.gz": REAL_FILE})
    vendor = tmp_path / "one" / "vendor"
    (vendor / "surfaces" / "qmoms").mkdir()
    shutil.copy(SHARED_FILE, vendor / "surfaces" / "qmoms" / "qmoms_surface_2023.csv.gz")
    [report] = land_vendor_files(vendor, raw, only={TARGET}, now=FIXED_NOW)
    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (67_500, 64_692, 2_808)
    rejects = pl.read_parquet(raw / "_rejects" / "qmoms" / "iv_surfaces" / "*.parquet")
    assert set(rejects["rule"]) == {
        "key_already_landed:source,underlying_symbol,quote_date,days,delta"
    }
    landed = pl.read_parquet(raw / "qmoms" / "iv_surfaces" / "*.parquet")
    assert landed.height == 67_500


def test_synthetic_rejects_are_kept_with_their_rule(tmp_path: Path) -> None:
    name = "SYNTHETIC_qmoms_surface.csv"
    report, raw = _land(tmp_path, {f"surfaces/qmoms/{name}": SYNTHETIC})
    assert (report.rows_in, report.rows_landed, report.rows_rejected) == (10, 2, 8)
    [load_id] = report.load_ids
    landed = pl.read_parquet(raw / "qmoms" / "iv_surfaces" / f"{load_id}.parquet")
    assert landed.select("source_line", "option_type", "delta").rows() == [
        (2, "put", -0.1),
        (11, "call", 0.5),
    ]
    rejects = pl.read_parquet(raw / "_rejects" / "qmoms" / "iv_surfaces" / f"{load_id}.parquet")
    assert set(rejects["source_file"]) == {f"surfaces/qmoms/{name}"}
    between = "expect_column_values_to_be_between"
    assert dict(rejects.select("source_line", "rule").iter_rows()) == {
        3: "expect_column_values_to_be_in_set:permno",  # PERMNO 99999: no ticker for it
        4: f"{between}:implied_volatility",  # IV 0: no fit
        5: f"{between}:days",  # a tenor of 0 days
        6: "unparseable:strike",  # "abc"
        7: "expect_column_values_to_be_in_set:is_exchange_session",  # Saturday 2023-01-07
        8: f"{between}:abs_delta",  # vendor 150 -> 1.5
        9: f"{between}:abs_delta",  # delta 0: neither call nor put
        10: f"{between}:forward_price",  # forward 0
    }
    assert set(rejects["severity"]) == {"error"}
    # the rejected row is kept whole, its id included
    [unknown] = rejects.filter(pl.col("source_line") == 3)["row_json"]
    assert '"permno":"99999"' in unknown and '"underlying_symbol":null' in unknown
    manifest = read_manifest(raw)
    assert manifest.select("vendor", "entity", "rows_landed", "rows_rejected").row(0) == (
        "qmoms",
        "iv_surfaces",
        2,
        8,
    )


@pytest.mark.parametrize(
    ("relative", "claimed"),
    [
        ("surfaces/qmoms_surface_2023_aapl_weekly.csv.gz", True),
        ("surfaces/qmoms_surface_2023.csv.gz", True),
        ("surfaces/qmoms/my_surface.csv", True),
        ("surfaces/qmoms/2024/my_surface.csv", False),
        ("surfaces/qmoms_zero_curve_2023.csv", False),
        ("surfaces/skfolio_sp500_atm_iv_3m_2010_2022.csv.gz", False),
    ],
)
def test_layout_claims_its_folders(relative: str, claimed: bool) -> None:
    assert FMT.claims(relative) is claimed
    # no other layout claims a surface file
    others = [f.source for f in FORMATS if f is not FMT and f.claims(relative)]
    assert not claimed or others == []
