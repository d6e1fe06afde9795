"""Load benchmark: the full 56-day SPX chain (781,952 rows) from CSV.gz to validated parquet.

Target (issue 3): under 20 s on the 2-core machine. Printed beside two peers measured in the same
run on the same files, which land the rows *without* any validation, lineage or rejects:
pandas ``read_csv`` + ``to_parquet`` (what a notebook does) and a bare Polars read + write.
Also times a no-op reload (every file unchanged) and an incremental one (one new day).

Run: ``.venv/bin/python bench/bench_load.py`` (or ``make bench``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import polars as pl

from loaders.landing import land_vendor_files
from warehouse.paths import REPO_ROOT

CHAIN = REPO_ROOT / "warehouse" / "vendor" / "options" / "spx_2019q2_cboe"


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    files = sorted(CHAIN.glob("*.csv.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        vendor = Path(tmp) / "vendor"
        chain = vendor / "options" / "spx_2019q2_cboe"
        chain.mkdir(parents=True)
        for path in files[:-1]:
            shutil.copy(path, chain / path.name)
        raw = Path(tmp) / "raw"

        # Warm the imports (great-expectations ~2 s, exchange_calendars) outside the timing: a
        # long-lived loader pays them once.
        import great_expectations  # noqa: F401

        from loaders.calendar import sessions

        sessions(pd.Timestamp("2019-01-02").date(), pd.Timestamp("2019-12-31").date())

        reports: list = []
        ours = _timed(
            lambda: reports.extend(land_vendor_files(vendor, raw, only={"cboe/option_quotes"}))
        )
        shutil.copy(files[-1], chain / files[-1].name)
        incremental = _timed(lambda: land_vendor_files(vendor, raw, only={"cboe/option_quotes"}))
        noop = _timed(lambda: land_vendor_files(vendor, raw, only={"cboe/option_quotes"}))
        rows_first = reports[0].rows_in

        full_raw = Path(tmp) / "raw_full"
        full_reports: list = []
        full = _timed(
            lambda: full_reports.extend(
                land_vendor_files(vendor, full_raw, only={"cboe/option_quotes"})
            )
        )
        rows = full_reports[0].rows_in

        out = Path(tmp) / "peer"
        out.mkdir()
        pandas_s = _timed(
            lambda: pd.concat([pd.read_csv(p) for p in chain.glob("*.csv.gz")]).to_parquet(
                out / "pandas.parquet"
            )
        )
        polars_s = _timed(
            lambda: pl.concat([pl.read_csv(p) for p in chain.glob("*.csv.gz")]).write_parquet(
                out / "polars.parquet"
            )
        )

    print(f"SPX chain, {len(files)} files, {rows:,} rows (CSV.gz -> parquet), 2 cores")
    print(
        f"  ours, validated (great-expectations, lineage, rejects, manifest): {full:6.2f} s "
        f"({rows / full:,.0f} rows/s)  target < 20 s: {'PASS' if full < 20 else 'FAIL'}"
    )
    print(
        f"  peer pandas read_csv + to_parquet (no checks):                  {pandas_s:6.2f} s"
        f"  ratio ours/pandas = {full / pandas_s:.2f}"
    )
    print(
        f"  peer bare polars read + write (no checks):                      {polars_s:6.2f} s"
        f"  ratio ours/polars = {full / polars_s:.2f}"
    )
    print(
        f"  first 55 days {ours:.2f} s ({rows_first:,} rows); one new day incremental "
        f"{incremental:.2f} s; reload with nothing new {noop:.2f} s"
    )


if __name__ == "__main__":
    main()
