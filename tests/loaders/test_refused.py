"""Refused vendor files (issue 16): one refused file never stops the pipeline. It is recorded in
raw/_refused.parquet with why, the other files land, the load exits 0 (1 only when strict), and
``python -m loaders refused`` lists it."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import loaders.landing as landing
from loaders.landing import land_vendor_files
from loaders.refused import REFUSED, read_refused
from warehouse.paths import REPO_ROOT

FIRST = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CHAIN_HEADER = (
    "underlying,underlying_last,exchange,optionroot,type,expiration,quotedate,strike,last,net,"
    "bid,ask,volume,openinterest,impliedvol,delta,gamma"
)
# SYNTHETIC: one clean SPX quote.
CHAIN_LINE = (
    "SPX,2900,CBOE,SPX190621C02900000,call,06/21/2019,04/25/2019,2900,1,0,10,11,5,100,0.12,0.5,0.01"
)
CHAIN = "options/cboe_l2/SPX_20190425.csv.gz"
UNCLAIMED = "misc/unknown_layout.csv"
UNCLAIMED_BYTES = b"Strike,CallBid,CallAsk,PutBid,PutAsk\n100,1,2,3,4\n"
VIX = "volatility/VIX_History.csv"


def _write(vendor: Path, rel: str, content: bytes) -> bytes:
    path = vendor / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


def _good_chain() -> bytes:
    return gzip.compress(f"{CHAIN_HEADER}\n{CHAIN_LINE}\n".encode(), mtime=0)


def _vendor(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A vendor folder: a good VIX file, a chain file cut short (a truncated gzip) and a file no
    layout claims. Returns (vendor dir, raw dir, the truncated chain's bytes)."""
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _write(vendor, VIX, b"DATE,OPEN,HIGH,LOW,CLOSE\n01/02/1990,17.24,17.24,17.24,17.24\n")
    truncated = _write(vendor, CHAIN, _good_chain()[:40])
    _write(vendor, UNCLAIMED, UNCLAIMED_BYTES)
    return vendor, raw, truncated


def test_refused_files_are_recorded_with_why_and_the_good_file_lands(tmp_path: Path) -> None:
    vendor, raw, truncated = _vendor(tmp_path)
    reports = land_vendor_files(vendor, raw, now=lambda: FIRST)

    vix = pl.read_parquet(raw / "cboe" / "volatility_indices" / "*.parquet")
    assert vix["index_symbol"].to_list() == ["VIX"]
    refused = pl.read_parquet(raw / "_refused.parquet")
    assert refused.schema == pl.Schema(REFUSED)
    assert list(refused["source_file"]) == [UNCLAIMED, CHAIN]  # sorted by path
    rows = {r["source_file"]: r for r in refused.iter_rows(named=True)}
    assert rows[CHAIN] | {"reason": None} == {
        "source_file": CHAIN,
        "reason": None,
        "layout": "cboe_eod_chain",
        "vendor": "cboe",
        "entity": "option_quotes",
        "source_sha256": hashlib.sha256(truncated).hexdigest(),
        "source_bytes": len(truncated),
        "refused_at": FIRST,
    }
    assert rows[CHAIN]["reason"].startswith("cannot read as CSV")
    assert rows[UNCLAIMED] == {
        "source_file": UNCLAIMED,
        "reason": "no vendor layout claims it (see `python -m loaders formats`)",
        "layout": None,
        "vendor": None,
        "entity": None,
        "source_sha256": hashlib.sha256(UNCLAIMED_BYTES).hexdigest(),
        "source_bytes": len(UNCLAIMED_BYTES),
        "refused_at": FIRST,
    }
    # the reports carry the same records
    assert sorted(r.source_file for rep in reports for r in rep.refused) == [UNCLAIMED, CHAIN]


def test_loading_again_rewrites_nothing_and_a_landed_file_leaves_the_record(
    tmp_path: Path,
) -> None:
    vendor, raw, _ = _vendor(tmp_path)
    land_vendor_files(vendor, raw, now=lambda: FIRST)
    before = (raw / "_refused.parquet").read_bytes()
    # unchanged refusals keep their first refused_at: the same inputs give the same bytes
    land_vendor_files(vendor, raw, now=lambda: LATER)
    assert (raw / "_refused.parquet").read_bytes() == before
    # the chain file, delivered again whole, lands and leaves the record
    _write(vendor, CHAIN, _good_chain())
    land_vendor_files(vendor, raw, now=lambda: LATER)
    refused = read_refused(raw)
    assert refused.select("source_file", "refused_at").rows() == [(UNCLAIMED, FIRST)]
    assert pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet").height == 1


def test_nothing_refused_still_writes_an_empty_record(tmp_path: Path) -> None:
    vendor, raw = tmp_path / "vendor", tmp_path / "raw"
    _write(vendor, VIX, b"DATE,OPEN,HIGH,LOW,CLOSE\n01/02/1990,17.24,17.24,17.24,17.24\n")
    land_vendor_files(vendor, raw, now=lambda: FIRST)
    record = pl.read_parquet(raw / "_refused.parquet")
    assert record.is_empty() and record.schema == pl.Schema(REFUSED)


def test_only_replaces_the_rows_of_its_targets(tmp_path: Path) -> None:
    vendor, raw, _ = _vendor(tmp_path)
    land_vendor_files(vendor, raw, now=lambda: FIRST)
    # another target: the chain's row and the unclaimed file's row are kept
    land_vendor_files(vendor, raw, only={"cboe/volatility_indices"}, now=lambda: LATER)
    assert list(read_refused(raw)["source_file"]) == [UNCLAIMED, CHAIN]
    # the chain's own target, the file now whole: its row goes, the unclaimed one stays
    _write(vendor, CHAIN, _good_chain())
    land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=lambda: LATER)
    assert list(read_refused(raw)["source_file"]) == [UNCLAIMED]
    # a --only load does not record unclaimed files; a full load replaces them
    (vendor / UNCLAIMED).unlink()
    land_vendor_files(vendor, raw, only={"cboe/option_quotes"}, now=lambda: LATER)
    assert list(read_refused(raw)["source_file"]) == [UNCLAIMED]
    land_vendor_files(vendor, raw, now=lambda: LATER)
    assert read_refused(raw).is_empty()


def test_a_target_that_raises_is_refused_and_the_others_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor, raw, _ = _vendor(tmp_path)
    _write(vendor, CHAIN, _good_chain())
    real = landing.land_batches

    def land_batches(vendor_name: str, entity: str, *args: object, **kwargs: object):
        if (vendor_name, entity) == ("cboe", "option_quotes"):
            raise RuntimeError("disk on fire")
        return real(vendor_name, entity, *args, **kwargs)

    monkeypatch.setattr(landing, "land_batches", land_batches)
    reports = land_vendor_files(vendor, raw, now=lambda: FIRST)

    assert pl.read_parquet(raw / "cboe" / "volatility_indices" / "*.parquet").height == 1
    assert not (raw / "cboe" / "option_quotes").exists()
    chain = read_refused(raw).filter(pl.col("source_file") == CHAIN).row(0, named=True)
    assert chain["layout"] == "cboe_eod_chain"
    assert "landing cboe/option_quotes failed (RuntimeError: disk on fire)" in chain["reason"]
    [report] = [r for r in reports if (r.vendor, r.entity) == ("cboe", "option_quotes")]
    assert report.files == 1 and report.rows_landed == 0
    assert "RuntimeError: disk on fire" in report.line()
    assert "Traceback" in capsys.readouterr().err  # the traceback stays in the log


def test_an_interrupt_still_stops_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vendor, raw, _ = _vendor(tmp_path)

    def interrupted(*args: object, **kwargs: object):
        raise KeyboardInterrupt

    monkeypatch.setattr(landing, "land_batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        land_vendor_files(vendor, raw, now=lambda: FIRST)


# ---- the command line --------------------------------------------------------------------------


def _loaders(tmp_path: Path, *args: str, strict_env: str | None = None):
    env = {**os.environ, "WAREHOUSE_DIR": str(tmp_path / "warehouse")}
    env.pop("STRICT", None)
    if strict_env is not None:
        env["STRICT"] = strict_env
    return subprocess.run(
        [sys.executable, "-m", "loaders", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )


def test_load_exits_0_with_a_loud_summary_and_1_when_strict(tmp_path: Path) -> None:
    vendor, raw, _ = _vendor(tmp_path)
    dirs = ["--vendor-dir", str(vendor), "--raw-dir", str(raw)]
    done = _loaders(tmp_path, "load", *dirs)
    assert done.returncode == 0, done.stderr
    assert "landed 1 rows in 1 new batch(es)" in done.stdout
    banner = f"REFUSED 2 file(s): nothing of them landed; see {raw.resolve()}/_refused.parquet"
    assert banner in done.stderr
    after = done.stderr[done.stderr.index(banner) :].splitlines()
    assert after[1] == (
        f"  {UNCLAIMED} [no layout]: no vendor layout claims it (see `python -m loaders formats`)"
    )
    assert after[2].startswith(f"  {CHAIN} [cboe_eod_chain]: cannot read as CSV")
    assert _loaders(tmp_path, "load", *dirs, "--strict").returncode == 1
    assert _loaders(tmp_path, "load", *dirs, strict_env="1").returncode == 1
    assert _loaders(tmp_path, "load", *dirs, strict_env="0").returncode == 0


def test_refused_lists_the_record_and_fails_only_when_strict(tmp_path: Path) -> None:
    vendor, raw, _ = _vendor(tmp_path)
    raw_dir = ["--raw-dir", str(raw)]
    # no load yet: nothing refused
    none = _loaders(tmp_path, "refused", *raw_dir, strict_env="1")
    assert (none.returncode, none.stdout) == (0, "no refused files\n")
    land_vendor_files(vendor, raw, now=lambda: FIRST)
    done = _loaders(tmp_path, "refused", *raw_dir)
    assert done.returncode == 0, done.stderr
    assert "REFUSED 2 file(s): nothing of them landed" in done.stdout
    assert f"  {UNCLAIMED} [no layout]: no vendor layout claims it" in done.stdout
    assert f"  {CHAIN} [cboe_eod_chain]: cannot read as CSV" in done.stdout
    assert _loaders(tmp_path, "refused", *raw_dir, "--strict").returncode == 1
    assert _loaders(tmp_path, "refused", *raw_dir, strict_env="1").returncode == 1
    assert "--strict" in _loaders(tmp_path, "refused", "--help").stdout
