"""kill -9 during a load leaves whole batches only and the next run recovers; landed tables do
not depend on the process time zone."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_PIPELINE_PID"}
    return {**env, "WAREHOUSE_DIR": str(root), "PYTHONPATH": str(REPO_ROOT), **extra}


def _load(root: Path, vendor: Path, *only: str, **env: str) -> subprocess.CompletedProcess:
    args = [a for target in only for a in ("--only", target)]
    return subprocess.run(
        [sys.executable, "-m", "loaders", "load", "--vendor-dir", str(vendor), *args],
        capture_output=True,
        text=True,
        env=_env(root, **env),
        cwd=REPO_ROOT,
        timeout=300,
    )


def _data_checksums(raw: Path) -> dict[str, str]:
    """Landed, rejected and warned batches (the manifest holds run times, the reports logs)."""
    return {
        p.relative_to(raw).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(raw.rglob("*.parquet"))
        if not p.name.startswith("_") and p.relative_to(raw).parts[0] not in ("_orphans",)
    }


def test_kill_minus_9_mid_load_leaves_no_partial_batch_and_the_next_run_recovers(
    tmp_path: Path,
) -> None:
    vendor = tmp_path / "vendor"
    chain = vendor / "options" / "spx_2019q2_cboe"
    chain.mkdir(parents=True)
    for path in sorted((VENDOR / "options" / "spx_2019q2_cboe").glob("*.csv.gz"))[:20]:
        shutil.copy(path, chain / path.name)
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    target = killed_root / "raw" / "cboe" / "option_quotes"

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loaders",
            "load",
            "--vendor-dir",
            str(vendor),
            "--only",
            "cboe/option_quotes",
        ],
        env=_env(killed_root),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if target.exists() and any(target.iterdir()):
            break  # the batches are being written
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the load finished before it could be killed"

    # Whatever is visible is whole: every parquet a reader can glob opens and has rows.
    for path in target.glob("*.parquet"):
        assert pl.read_parquet(path).height > 0
    assert not (killed_root / "raw" / "_manifest.parquet").exists()

    rerun = _load(killed_root, vendor, "cboe/option_quotes")
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted run" in rerun.stderr or not list(target.glob(".*.tmp"))
    clean = _load(clean_root, vendor, "cboe/option_quotes")
    assert clean.returncode == 0, clean.stderr
    assert _data_checksums(killed_root / "raw") == _data_checksums(clean_root / "raw")
    assert not list((killed_root / "raw").rglob("*.tmp"))


def test_landed_tables_are_identical_under_any_process_time_zone(tmp_path: Path) -> None:
    targets = ("cboe_datashop/option_quotes", "cboe/volatility_indices", "fred/rates")
    sums = {}
    for tz in ("America/Los_Angeles", "Asia/Tokyo"):
        root = tmp_path / tz.replace("/", "_")
        done = _load(root, VENDOR, *targets, TZ=tz)
        assert done.returncode == 0, done.stderr
        sums[tz] = _data_checksums(root / "raw")
    assert sums["America/Los_Angeles"] == sums["Asia/Tokyo"]
    # data, rejects, warnings per batch: 1 DataShop file, 7 Cboe index files (VIX family, VXAPL), 11 FRED
    assert len(sums["Asia/Tokyo"]) == 3 * (1 + 7 + 11)
