"""Landing in bounded groups of files (issue 17's 30x scale): the same rows, rejects and
report as landing a delivery at once, a bounded read-ahead, and keys repeated across groups
rejected as they are across runs."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from loaders import landing
from loaders.landing import land_vendor_files, merge_suites, read_manifest
from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
FIXED_NOW = lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # noqa: E731
CHAIN = "options/spx_2019q2_cboe"


def _real_chain_days(tmp: Path, n: int) -> Path:
    """A vendor folder holding the first ``n`` real SPX 2019 chain files (real data)."""
    vendor = tmp / "vendor"
    folder = vendor / CHAIN
    folder.mkdir(parents=True)
    for path in sorted((VENDOR / CHAIN).glob("SPX_*.csv.gz"))[:n]:
        shutil.copy(path, folder / path.name)
    return vendor


def _landed(raw: Path) -> pl.DataFrame:
    return (
        pl.read_parquet(raw / "cboe" / "option_quotes" / "*.parquet")
        .drop("loaded_at", strict=False)
        .sort("source_file", "source_line")
    )


def test_grouped_landing_lands_what_one_group_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real data: 4 SPX chain days (~14k rows each) in groups of 20,000 rows (two files each)
    land the same rows, batches and report counts as one group."""
    vendor = _real_chain_days(tmp_path, 4)
    [whole] = land_vendor_files(vendor, tmp_path / "whole", only={"cboe/option_quotes"})
    monkeypatch.setattr(landing, "LANDING_GROUP_ROWS", 20_000)
    calls = []
    real_land = landing.land_batches
    monkeypatch.setattr(
        landing, "land_batches", lambda *a, **k: calls.append(len(a[2])) or real_land(*a, **k)
    )
    [grouped] = land_vendor_files(vendor, tmp_path / "grouped", only={"cboe/option_quotes"})

    assert calls == [2, 2]  # two groups of two whole files
    assert _landed(tmp_path / "grouped").equals(_landed(tmp_path / "whole"))
    for count in ("files_new", "rows_in", "rows_landed", "rows_rejected", "rows_warned"):
        assert getattr(grouped, count) == getattr(whole, count), count
    assert grouped.warned_by_rule == whole.warned_by_rule
    assert grouped.rows_in == grouped.rows_landed + grouped.rows_rejected > 40_000
    columns = ["load_id", "source_file", "rows_in", "rows_landed", "rows_rejected"]
    assert (
        read_manifest(tmp_path / "grouped")
        .select(columns)
        .sort("load_id")
        .equals(read_manifest(tmp_path / "whole").select(columns).sort("load_id"))
    )
    # the report's great-expectations counts cover every group
    assert merge_suites({}, whole.suite_result) == whole.suite_result
    for a, b in zip(
        grouped.suite_result["expectations"], whole.suite_result["expectations"], strict=True
    ):
        assert a["result"].get("element_count") == b["result"].get("element_count")
        assert a["result"].get("unexpected_count") == b["result"].get("unexpected_count")
        assert a["success"] == b["success"]


def test_a_key_repeated_in_a_later_group_is_rejected_as_already_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real data: a chain day delivered twice under two names, landed in groups of one file:
    the first copy lands, every row of the second is rejected with the key rule."""
    vendor = _real_chain_days(tmp_path, 1)
    [day] = sorted((vendor / CHAIN).glob("*.csv.gz"))
    shutil.copy(day, day.with_name(day.name.replace(".csv.gz", "_copy.csv.gz")))
    monkeypatch.setattr(landing, "LANDING_GROUP_ROWS", 1)
    [report] = land_vendor_files(vendor, tmp_path / "raw", only={"cboe/option_quotes"})
    half = report.rows_in // 2
    assert report.rows_landed == half
    assert report.rejected_by_rule == {
        "key_already_landed:source,quote_date,quoted_at,contract_symbol": half
    }


def test_read_ahead_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``2 * _READERS`` files are read ahead of a consumer that has not asked for
    them (a slow consumer never holds a whole delivery in memory)."""
    started: list[str] = []
    lock = threading.Lock()

    def fake_read(fmt: object, path: Path, vendor_dir: Path) -> pl.DataFrame:
        with lock:
            started.append(path.name)
        return pl.DataFrame({"x": [1]})

    monkeypatch.setattr(landing, "read_text", fake_read)
    paths = [Path(f"f{i:02d}.csv") for i in range(40)]
    futures = landing._read_ahead(None, paths, Path("."))  # type: ignore[arg-type]
    first = next(futures)
    first.result()
    time.sleep(0.2)  # give the readers time to run ahead, were they unbounded
    assert len(started) <= 2 * landing._READERS + 1
    assert len([f.result() for f in futures]) == 39
    assert sorted(started) == [p.name for p in paths]


def test_group_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group_rows must be at least 1, got 0"):
        next(landing.parse_groups(None, [], tmp_path, None, group_rows=0))  # type: ignore[arg-type]
