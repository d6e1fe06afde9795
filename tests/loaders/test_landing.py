"""Landing: validation splits rows into landed, rejected and flagged; batches are idempotent,
incremental and whole; bad files are named and never stop the others."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from loaders.landing import (
    land_frames,
    land_vendor_files,
    read_manifest,
    recover,
)
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
HEADER = (
    "underlying,underlying_last,exchange,optionroot,type,expiration,quotedate,strike,last,net,"
    "bid,ask,volume,openinterest,impliedvol,delta,gamma"
)
# Synthetic rows, one per rule: a clean quote, a crossed market (ask 9 < bid 10), a quote
# expiring before its quote date, a duplicate of the clean quote, a clean quote with the
# vendor's "no IV" sentinel 0 (lands, flagged), and an OCC symbol that disagrees with its strike.
LINES = [
    "SPX,2900,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01",
    "SPX,2900,CBOE,SPX190621P02900000,put,06/21/2019,04/25/2019,2900,1,0,10,9,5,100,0.12,-0.5,0.01",
    "SPX,2900,CBOE,SPX190419P02800000,put,04/19/2019,04/25/2019,2800,1,0,1,2,5,100,0.12,-0.5,0.01",
    "SPX,2900,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01",
    "SPX,2900,CBOE,SPX190621C03000000,call,06/21/2019,04/25/2019,3000,1,0,1,2,5,100,0,0.5,0.01",
    "SPX,2900,CBOE,SPX190621C03100000,call,06/21/2019,04/25/2019,3200,1,0,1,2,5,100,0.1,0.5,0.01",
]


def _chain(vendor: Path, name: str, lines: list[str]) -> Path:
    folder = vendor / "options" / "cboe_l2"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress(("\n".join([HEADER, *lines]) + "\n").encode(), mtime=0))
    return path


def _vix(vendor: Path, rows: str = "01/02/1990,17.24,17.24,17.24,17.24\n") -> Path:
    folder = vendor / "volatility"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "VIX_History.csv"
    path.write_text("DATE,OPEN,HIGH,LOW,CLOSE\n" + rows)
    return path


def _checksums(raw: Path) -> dict[str, str]:
    return {
        p.relative_to(raw).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(raw.rglob("*"))
        if p.is_file() and "_reports" not in p.parts
    }


def test_validation_rejects_keep_rule_file_and_line(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", LINES)
    [report] = land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)

    assert report.rows_in == 6 == report.rows_landed + report.rows_rejected
    [load_id] = report.load_ids
    landed = pl.read_parquet(raw / "cboe" / "option_quotes" / f"{load_id}.parquet")
    rejects = pl.read_parquet(raw / "_rejects" / "cboe" / "option_quotes" / f"{load_id}.parquet")
    warnings = pl.read_parquet(raw / "_warnings" / "cboe" / "option_quotes" / f"{load_id}.parquet")
    assert landed["contract_symbol"].to_list() == ["SPX190621C03000000"]
    assert landed["load_id"].to_list() == [load_id]
    by_line = dict(rejects.select("source_line", "rule").iter_rows())
    assert by_line[3].startswith("expect_column_pair_values_a_to_be_greater_than_b:ask,bid")
    assert by_line[4].endswith(":expiration,quote_date")
    # Both copies of a duplicated key are rejected: neither can be trusted over the other.
    assert by_line[2].startswith("expect_compound_columns_to_be_unique")
    assert by_line[5].startswith("expect_compound_columns_to_be_unique")
    assert by_line[7] == "expect_column_pair_values_to_be_equal:strike,vendor_symbol_strike"
    assert set(rejects["severity"]) == {"error"}
    # IV 0 is the vendor's "no solution": the quote lands, flagged.
    assert warnings.select("source_line", "severity").row(0) == (6, "warning")
    assert warnings["rule"].item().endswith(":implied_volatility")

    report_json = json.loads((raw / "_reports" / "cboe__option_quotes.json").read_text())
    assert report_json["rows_rejected"] == 5 and report_json["suite_result"]["success"] is False
    markdown = (raw / "_reports" / "cboe__option_quotes.md").read_text()
    assert "| `expect_column_pair_values_a_to_be_greater_than_b` ['ask', 'bid'] |" in markdown
    manifest = read_manifest(raw)
    assert manifest.select("rows_in", "rows_landed", "rows_rejected", "rows_warned").row(0) == (
        6,
        1,
        5,
        1,
    )


def test_loading_twice_changes_nothing(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", LINES[:1])
    _vix(vendor)
    first = land_vendor_files(vendor, raw, now=FIXED_NOW)
    before = _checksums(raw)
    second = land_vendor_files(vendor, raw, now=lambda: dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert _checksums(raw) == before
    assert sum(r.files_new for r in first) == 2
    assert sum(r.files_new for r in second) == 0
    assert sum(r.files_unchanged for r in second) == 2


def test_a_new_file_adds_one_batch_and_touches_nothing_else(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", LINES[:1])
    land_vendor_files(vendor, raw, now=FIXED_NOW)
    before = _checksums(raw)
    day2 = LINES[0].replace("04/25/2019", "04/26/2019")
    _chain(vendor, "SPX_20190426.csv.gz", [day2])
    [report] = land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)
    after = _checksums(raw)
    assert (report.files_new, report.files_unchanged, report.rows_landed) == (1, 1, 1)
    changed = {k for k in after if before.get(k) != after[k]}
    # one batch (data, rejects, warnings) plus the manifest and the rule counts
    assert {k.split("/")[0] for k in changed} <= {
        "cboe",
        "_rejects",
        "_warnings",
        "_manifest.parquet",
        "_rule_counts.parquet",
    }
    assert all(before[k] == after[k] for k in before if k.startswith("cboe/"))
    landed = pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet")
    assert landed["quote_date"].sort().to_list() == [dt.date(2019, 4, 25), dt.date(2019, 4, 26)]


def test_a_corrected_file_supersedes_its_batch_and_the_old_one_is_kept(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    path = _chain(vendor, "SPX_20190425.csv.gz", LINES[:1])
    only = {"cboe/option_quotes"}
    [old] = land_vendor_files(vendor, raw, only=only, now=FIXED_NOW)
    path.write_bytes(gzip.compress((HEADER + "\n" + LINES[4] + "\n").encode(), mtime=0))
    [new] = land_vendor_files(vendor, raw, only=only, now=FIXED_NOW)
    assert (new.files_new, new.files_superseded) == (1, 1)
    landed = pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet")
    assert landed["contract_symbol"].to_list() == ["SPX190621C03000000"]
    assert (raw / "_superseded" / "cboe" / "option_quotes" / f"{old.load_ids[0]}.parquet").exists()
    manifest = read_manifest(raw)
    superseded = dict(manifest.select("load_id", "superseded_by").iter_rows())
    assert superseded == {old.load_ids[0]: new.load_ids[0], new.load_ids[0]: None}


def test_a_new_loader_version_lands_every_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parser change bumps LOADER_VERSION: files an earlier version landed are parsed and
    landed again (new load ids), and their old batches are superseded, not doubled."""
    from loaders import landing

    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", LINES[:1])
    _vix(vendor)
    with monkeypatch.context() as patched:
        patched.setattr(landing, "LOADER_VERSION", "0")
        first = land_vendor_files(vendor, raw, now=FIXED_NOW)
    second = land_vendor_files(vendor, raw, now=FIXED_NOW)
    third = land_vendor_files(vendor, raw, now=FIXED_NOW)
    assert [sum(r.files_new for r in run) for run in (first, second, third)] == [2, 2, 0]
    assert sum(r.files_superseded for r in second) == 2
    manifest = read_manifest(raw)
    current = manifest.filter(pl.col("superseded_by").is_null())
    assert current["loader_version"].to_list() == [landing.LOADER_VERSION] * 2
    old_ids = [i for run in first for i in run.load_ids]
    assert len(old_ids) == 2
    assert all(any((raw / "_superseded").rglob(f"{i}.parquet")) for i in old_ids)
    landed = pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet")
    assert landed.height == 1 and landed["quoted_at"].null_count() == 0


def test_a_key_landed_by_another_file_is_rejected_not_doubled(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", LINES[:1])
    land_vendor_files(vendor, raw, now=FIXED_NOW)
    _chain(vendor, "SPX_20190425_again.csv.gz", LINES[:1])
    [report] = land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)
    assert (report.rows_landed, report.rows_rejected) == (0, 1)
    assert list(report.rejected_by_rule) == [
        "key_already_landed:source,quote_date,quoted_at,contract_symbol"
    ]
    assert pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet").height == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("volatility/VIX9D_History.csv", b"", r"VIX9D_History\.csv: cannot read"),
        ("volatility/VVIX_History.csv", b"DAY,VALUE\n01/02/2020,1\n", r"VVIX_History\.csv: "),
        ("volatility/VIX3M_History.xlsx", b"PK\x03\x04", r"VIX3M_History\.xlsx: unknown extension"),
        ("volatility/notes.txt", b"hello", r"notes\.txt: unknown extension"),
        ("rates/nested/DGS2.csv", b"observation_date,DGS2\n", r"rates/nested/DGS2\.csv: no vendor"),
        (
            "options/cboe_l2/SPX_20190425.csv.gz",
            b"\x1f\x8b\x08\x00trunc",
            r"SPX_20190425\.csv\.gz: cannot read",
        ),
    ],
)
def test_a_bad_file_is_named_and_the_others_land(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _vix(vendor)
    bad = vendor / name
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(content)
    reports = land_vendor_files(vendor, raw, now=FIXED_NOW)
    errors = [e for r in reports for e in r.file_errors]
    assert len(errors) == 1 and pytest.approx(0) == 0
    assert __import__("re").search(message, errors[0]), errors
    vix = pl.read_parquet(raw / "cboe" / "volatility_indices" / "*.parquet")
    assert vix["index_symbol"].to_list() == ["VIX"]


def test_a_non_numeric_strike_is_rejected_with_its_line_and_the_file_lands(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _chain(vendor, "SPX_20190425.csv.gz", [LINES[0], LINES[4].replace(",3000,1,", ",abc,1,")])
    [report] = land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)
    assert (report.rows_landed, report.rows_rejected) == (1, 1)
    rejects = pl.read_parquet(raw / "_rejects" / "cboe" / "option_quotes" / "*.parquet")
    assert rejects.select("rule", "source_file", "source_line").row(0) == (
        "unparseable:strike",
        "options/cboe_l2/SPX_20190425.csv.gz",
        3,
    )


def test_a_symlink_out_of_the_allowed_folders_is_refused(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _vix(vendor)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "DGS2.csv").write_text("observation_date,DGS2\n2020-01-02,1.58\n")
    (vendor / "rates").mkdir()
    (vendor / "rates" / "DGS2.csv").symlink_to(outside / "DGS2.csv")
    (vendor / "rates" / "linked").symlink_to(outside, target_is_directory=True)
    reports = land_vendor_files(vendor, raw, now=FIXED_NOW)
    errors = [e for r in reports for e in r.file_errors]
    assert any(e.startswith("rates/DGS2.csv: resolves outside the allowed folders") for e in errors)
    assert any(e.startswith("rates/linked: symlinked folder points outside") for e in errors)
    assert not (raw / "fred" / "rates").exists()
    assert (raw / "cboe" / "volatility_indices").exists()
    # Allowed explicitly, the same link is read.
    land_vendor_files(vendor, raw, allowed_roots=[vendor, outside], now=FIXED_NOW)
    assert pl.read_parquet(raw / "fred" / "rates" / "*.parquet")["value_pct"].to_list() == [1.58]


def test_recover_removes_temporary_files_and_moves_unlisted_batches_aside(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _vix(vendor)
    land_vendor_files(vendor, raw, now=FIXED_NOW)
    folder = raw / "cboe" / "volatility_indices"
    (folder / ".deadbeef.parquet.123.tmp").write_bytes(b"partial")
    shutil.copy(next(folder.glob("*.parquet")), folder / "0000000000000000.parquet")
    notes = recover(raw)
    assert len(notes) == 2
    assert not list(folder.glob(".*.tmp"))
    assert (raw / "_orphans" / "cboe" / "volatility_indices" / "0000000000000000.parquet").exists()
    assert len(list(folder.glob("*.parquet"))) == 1


#: A file name that, printed raw, would add a line that looks like the loader's summary.
FORGED = "landed 999,999 rows in 9 new batch(es), rejected 0"


def test_a_file_name_with_a_newline_cannot_forge_a_log_line(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _vix(vendor)
    # claimed by the VIX layout but unreadable (empty), and refused at discovery (extension)
    (vendor / "volatility" / f"VIX9D\n{FORGED}\r\x1b[2K_History.csv").write_bytes(b"")
    (vendor / "volatility" / f"notes\n{FORGED}.txt").write_bytes(b"hello")
    reports = land_vendor_files(vendor, raw, now=FIXED_NOW)
    log = "\n".join(r.line() for r in reports)
    markdown = (raw / "_reports" / "cboe__volatility_indices.md").read_text()
    for text in (log, markdown):
        assert not any(line.startswith(FORGED) for line in text.splitlines()), text
        assert "\r" not in text and "\x1b" not in text
    assert f"volatility/VIX9D\\n{FORGED}\\r\\x1b[2K_History.csv: cannot read as CSV" in log
    assert f"volatility/notes\\n{FORGED}.txt: unknown extension" in log
    # the command line prints the same escaped lines
    env = {**os.environ, "WAREHOUSE_DIR": str(tmp_path / "warehouse")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loaders",
            "load",
            "--vendor-dir",
            str(vendor),
            "--raw-dir",
            str(tmp_path / "raw2"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr  # refused files stop nothing (issue 16)
    output = done.stdout + done.stderr
    assert not any(line.startswith(FORGED) for line in output.splitlines()), output
    assert f"ERROR volatility/notes\\n{FORGED}.txt: unknown extension" in output
    # ... nor in the refused-files summary and record
    assert "REFUSED 2 file(s)" in done.stderr
    assert f"  volatility/notes\\n{FORGED}.txt [no layout]: unknown extension" in done.stderr
    refused = pl.read_parquet(tmp_path / "raw2" / "_refused.parquet")
    assert not any("\n" in r or "\r" in r for r in refused["reason"])


def test_a_header_only_file_lands_as_an_empty_batch_with_a_warning(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _vix(vendor)
    (vendor / "volatility" / "VIX9D_History.csv").write_text("DATE,OPEN,HIGH,LOW,CLOSE\n")
    [report] = land_vendor_files(vendor, raw, only={"cboe/volatility_indices"}, now=FIXED_NOW)
    # nothing is lost: the file is a batch of the manifest, with its 0 rows ...
    manifest = read_manifest(raw).filter(pl.col("source_file") == "volatility/VIX9D_History.csv")
    assert manifest.select("rows_in", "rows_landed", "rows_rejected").row(0) == (0, 0, 0)
    assert (report.files_new, report.rows_landed, report.file_errors) == (2, 1, [])
    # ... and the report says so, by name, in the log line, the Markdown and the JSON
    assert report.empty_files == ["volatility/VIX9D_History.csv"]
    warning = "WARNING volatility/VIX9D_History.csv: header only, no rows; landed as an empty batch"
    assert warning in report.line()
    assert warning in (raw / "_reports" / "cboe__volatility_indices.md").read_text()
    saved = json.loads((raw / "_reports" / "cboe__volatility_indices.json").read_text())
    assert saved["empty_files"] == ["volatility/VIX9D_History.csv"]
    # loading again lands nothing new and warns about nothing new
    [again] = land_vendor_files(vendor, raw, only={"cboe/volatility_indices"}, now=FIXED_NOW)
    assert (again.files_unchanged, again.empty_files) == (2, [])


def test_live_frames_land_once_per_content(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    bars = pl.DataFrame(
        {
            "symbol": ["SPY", "SPY"],
            "date": [dt.date(2020, 3, 19), dt.date(2020, 3, 20)],
            "close": [240.51, 228.80],
            "is_adjusted": [False, False],
            "source": ["yfinance", "yfinance"],
            "source_file": ["yfinance://SPY/history"] * 2,
            "source_line": [1, 2],
        }
    )
    first = land_frames("yfinance", "equity_bars", bars, raw, now=FIXED_NOW)
    second = land_frames("yfinance", "equity_bars", bars, raw, now=FIXED_NOW)
    assert (first.rows_landed, second.files_new, second.files_unchanged) == (2, 0, 1)


def test_the_embedded_chain_lands_every_row_it_reads() -> None:
    """Real data: the 56-day SPX chain and the SPY 2021 file (hand-checked counts)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        [report] = land_vendor_files(VENDOR, raw, only={"cboe/option_quotes"}, now=FIXED_NOW)
        # 781,952 SPX rows in 56 files + 5,040 SPY rows; the SPY file's 17 crossed quotes
        # (bid > ask, documented in the vendor README) are the only rejects.
        assert (report.files, report.rows_in) == (57, 786_992)
        assert (report.rows_landed, report.rows_rejected) == (786_975, 17)
        rejects = pl.read_parquet(raw / "_rejects" / "cboe" / "option_quotes" / "*.parquet")
        assert set(rejects["source_file"]) == {"options/spy_2021_top20.csv.gz"}
        landed = pl.scan_parquet(raw / "cboe" / "option_quotes" / "*.parquet")
        terms = (
            landed.group_by("option_root", "settlement_type", "exercise_style")
            .len()
            .sort("option_root")
            .collect()
        )
        assert terms.rows() == [
            ("SPX", "AM", "european", 216_088),
            ("SPXW", "PM", "european", 565_864),
            ("SPY", "PM", "american", 5_023),
        ]


def test_every_landed_option_quote_carries_its_layouts_quote_time() -> None:
    """Real data: ``quoted_at`` is the layout's quote time in New York on the row's own
    quote_date, in UTC. The SPX 2019 "end-of-day" chain is a 15:45 snapshot (every day of
    2019-04-25..07-22 is under EDT, UTC-4: 19:45 UTC), the half day 2019-07-03 included (the
    snapshot is by the clock); the DataShop file is 15:45 too; iVolatility is the close of
    January 2011 (16:00 EST, UTC-5: 21:00 UTC); the SPY 2021 file is the close, 13:00 EST
    (18:00 UTC) on the 2021-11-26 half day."""
    import tempfile

    only = {"cboe/option_quotes", "ivolatility/option_quotes", "cboe_datashop/option_quotes"}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        land_vendor_files(VENDOR, raw, only=only, now=FIXED_NOW)
        landed = pl.concat(
            pl.read_parquet(raw / target / "*.parquet") for target in sorted(only)
        ).with_columns(
            local=pl.col("quoted_at").dt.convert_time_zone("America/New_York"),
            utc=pl.col("quoted_at").dt.strftime("%H:%M"),
        )
    assert landed["quoted_at"].dtype == pl.Datetime("us", "UTC")
    assert landed["quoted_at"].null_count() == 0
    # quoted on its own exchange-local date, always
    assert (landed["local"].dt.date() == landed["quote_date"]).all()

    spx = landed.filter(pl.col("source_file").str.starts_with("options/spx_2019q2_cboe/"))
    assert spx.height == 781_952 and spx["quote_date"].n_unique() == 56
    assert spx["source"].unique().to_list() == ["cboe_eod_chain"]
    assert spx["local"].dt.strftime("%H:%M").unique().to_list() == ["15:45"]
    assert spx["utc"].unique().to_list() == ["19:45"]
    half_day = spx.filter(pl.col("quote_date") == dt.date(2019, 7, 3))
    assert half_day["quoted_at"].unique().to_list() == [
        dt.datetime(2019, 7, 3, 19, 45, tzinfo=dt.UTC)
    ]

    datashop = landed.filter(pl.col("source") == "cboe_datashop_1545")
    assert datashop.height == 10_384
    assert datashop["quoted_at"].unique().to_list() == [
        dt.datetime(2019, 6, 26, 19, 45, tzinfo=dt.UTC)
    ]

    ivolatility = landed.filter(pl.col("source") == "ivolatility_eod")
    assert ivolatility.height == 9_832
    assert ivolatility.group_by("quote_date").agg(pl.col("utc").unique()).sort(
        "quote_date"
    ).rows() == [(dt.date(2011, 1, day), ["21:00"]) for day in range(3, 8)]

    spy = landed.filter(pl.col("source_file") == "options/spy_2021_top20.csv.gz")
    spy_times = dict(spy.group_by("quote_date").agg(pl.col("utc").unique()).rows())
    assert spy_times[dt.date(2021, 1, 4)] == ["21:00"]  # 16:00 EST
    assert spy_times[dt.date(2021, 7, 1)] == ["20:00"]  # 16:00 EDT
    assert spy_times[dt.date(2021, 11, 26)] == ["18:00"]  # half day: 13:00 EST
