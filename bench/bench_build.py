"""Build benchmark: `dbt build` of the whole project on the embedded real data, and the time to
append one new trading day incrementally.

Targets (issue 4): a full build under 90 s, one appended day under 10 s, on the 2-core machine.
The peer measured in the same run is the full rebuild of the same warehouse
(`dbt build --full-refresh` after the append): the ratio says what incrementality saves. The
appended day is built as a daily production run would: `dbt run` (the incremental models), then
the data tests, timed apart because they check the whole history, not the new day.

Run: ``.venv/bin/python bench/bench_build.py`` (or ``make bench``); ``--help`` for options.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from warehouse.sandbox import Sandbox, chain_files


def _timed(label: str, fn) -> float:
    print(f"  {label} ...", end="", flush=True)
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    print(f" {elapsed:.1f} s", flush=True)
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--days",
        type=int,
        default=len(chain_files()) - 1,
        help="chain days in the first build (default: all embedded days but the last)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.create(Path(tmp), chain_days=args.days)
        print(f"build benchmark: {args.days} SPX chain days, then one more (real data)")
        sandbox.run("load")
        full = _timed("dbt build (full, first build)", lambda: sandbox.run("dbt", "build"))
        sandbox.add_chain_day()
        sandbox.run("load")
        # A daily run: the incremental models, then the data tests (over the whole history, so
        # their time grows with it; unit tests test the SQL, not the data, and ran in the first
        # build: dbt's advice for production runs).
        append = _timed("dbt run (one new day, incremental)", lambda: sandbox.run("dbt", "run"))
        checks = _timed(
            "dbt test --exclude-resource-type unit_test (data tests, all history)",
            lambda: sandbox.run("dbt", "test", "--exclude-resource-type", "unit_test"),
        )
        refresh = _timed(
            "dbt build --full-refresh (peer)",
            lambda: sandbox.run("dbt", "build", "--full-refresh"),
        )
        with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
            rows, days = con.sql(
                "select count(*), count(distinct quote_date) from marts.fct_option_features"
            ).fetchall()[0]
    print(
        f"fct_option_features: {rows:,} rows over {days} quote dates\n"
        f"full build {full:.1f} s (target < 90 s); append one day {append:.1f} s (target < 10 s) "
        f"+ data tests {checks:.1f} s; full refresh {refresh:.1f} s; "
        f"append / full refresh = {append / refresh:.2f}"
    )


if __name__ == "__main__":
    main()
