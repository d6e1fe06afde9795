"""Modeled option chain benchmark: warehouse.modeled_chain.generate.generate_chain, quotes/second.

Target: generation of modeled quotes at >= 1,000,000 quotes per second on the 2-core machine.
Workload: the dbt model ``fct_option_quotes_modeled``'s, for one underlying (default SPX
2007-01-01..2022-12-31, ~11.1 M quotes): its rows of ``marts.fct_modeled_chain_inputs`` and
``marts.fct_modeled_chain_calibration`` and the scheduled half days of ``nyse_sessions``, read
from a build database, generated one calendar year at a time as the model does. Timed: the
``generate_chain`` calls only (reading the inputs is reported apart). Each call reports its
stages (listing, clock, surface, price+greeks, spreads, assemble; wall and process CPU
seconds, all threads); the table gives seconds and quotes/s per stage and in total, and the
ratio of the total to the target, for the median repeat (and the best).

By default each year's frame is dropped once counted (peak memory about one year's output);
``--keep`` holds every year's frame as the dbt model does before it concatenates them (the
page faults of materialising the whole output then count too). The machine is shared: the
load average at the start is printed beside the numbers.

Run: ``.venv/bin/python bench/bench_modeled_chain.py --database /tmp/wh/build/build.duckdb``
(``--help`` for options; the default database is the published warehouse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import time
from pathlib import Path

import polars as pl

from warehouse.modeled_chain import listing
from warehouse.modeled_chain.adapters import Spreads, Surface
from warehouse.modeled_chain.generate import generate_chain
from warehouse.paths import WarehousePaths, connect

TARGET_QUOTES_PER_S = 1_000_000
STAGES = ("listing", "clock", "surface", "price_greeks", "spreads", "assemble")
#: what fct_option_quotes_modeled uses when its config sets no strike_band_sd
DEFAULT_STRIKE_BAND_SD = 3.5
REQUIRED_TABLES = ("fct_modeled_chain_inputs", "fct_modeled_chain_calibration", "nyse_sessions")


def load_inputs(
    database: Path, symbol: str, start: dt.date, end: dt.date
) -> tuple[pl.DataFrame, dict, pl.Series]:
    """The generator's inputs for ``symbol`` between ``start`` and ``end`` (inclusive).

    Returns the rows of ``fct_modeled_chain_inputs`` (one per session), the calibration row of
    ``fct_modeled_chain_calibration`` and the early-close dates of ``nyse_sessions``.

    Raises
    ------
    SystemExit
        When ``database`` lacks one of :data:`REQUIRED_TABLES` (the message names the file and
        the tables) or holds no input row for ``symbol`` in the window.
    """
    con = connect(database, read_only=True)
    try:
        tables = {
            name: schema
            for schema, name in con.sql(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise SystemExit(
                f"{database} has no {', '.join(missing)}: give --database a build database "
                "with the modeled-chain marts (dbt build --select +fct_option_quotes_modeled)"
            )
        inputs = con.sql(
            f"select * from {tables['fct_modeled_chain_inputs']}.fct_modeled_chain_inputs "
            "where underlying_symbol = ? and quote_date between ? and ?",
            params=[symbol, start, end],
        ).pl()
        calibration = con.sql(
            f"select * from {tables['fct_modeled_chain_calibration']}"
            ".fct_modeled_chain_calibration where underlying_symbol = ?",
            params=[symbol],
        ).pl()
        early_closes = con.sql(
            f"select session_date from {tables['nyse_sessions']}.nyse_sessions where is_early_close"
        ).pl()["session_date"]
    finally:
        con.close()
    if inputs.is_empty() or calibration.is_empty():
        raise SystemExit(f"{database} has no modeled-chain input for {symbol} {start}..{end}")
    return inputs, calibration.row(0, named=True), early_closes


def run_once(
    inputs: pl.DataFrame, calibration: dict, early_closes: pl.Series, band: float, keep: bool
) -> tuple[int, float, float, dict[str, float]]:
    """Generate every calendar year of ``inputs``; (quotes, wall s, CPU s, stage seconds)."""
    stages: dict[str, float] = {}
    kept = []
    quotes = 0
    wall = cpu = 0.0
    for _, rows in sorted(
        inputs.group_by(pl.col("quote_date").dt.year().alias("year")), key=lambda g: g[0]
    ):
        surface, spreads = Surface(calibration, rows), Spreads(calibration)
        w0, c0 = time.perf_counter(), time.process_time()
        out = generate_chain(
            rows,
            calibration,
            early_closes=early_closes,
            strike_band_sd=band,
            surface=surface,
            listing=listing,
            spreads=spreads,
            stage_seconds=stages,
        )
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        quotes += out.height
        if keep:
            kept.append(out)
        del out
    return quotes, wall, cpu, stages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Target: >= 1,000,000 modeled quotes per second.",
    )
    parser.add_argument(
        "--database",
        type=Path,
        default=WarehousePaths.from_env().published_db,
        help="build database with the modeled-chain marts (default: the published warehouse, "
        "if it has them)",
    )
    parser.add_argument("--symbol", default="SPX", help="underlying_symbol (default SPX)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2007, 1, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2022, 12, 31))
    parser.add_argument(
        "--strike-band-sd",
        type=float,
        default=DEFAULT_STRIKE_BAND_SD,
        help="ATM standard deviations of listed strikes, > 0 (default 3.5, the model's)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument(
        "--keep", action="store_true", help="hold every year's frame, as the dbt model does"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if not args.database.exists():
        raise SystemExit(f"database not found: {args.database}")

    t0 = time.perf_counter()
    inputs, calibration, early_closes = load_inputs(
        args.database, args.symbol, args.start, args.end
    )
    load_s = time.perf_counter() - t0
    print(
        f"modeled chain {args.symbol} {args.start}..{args.end} from {args.database}: "
        f"{inputs.height:,} sessions, strike_band_sd {args.strike_band_sd}, "
        f"{'keeping' if args.keep else 'dropping'} each year's frame; inputs read in "
        f"{load_s:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    runs = []
    for i in range(args.repeats):
        quotes, wall, cpu, stages = run_once(
            inputs, calibration, early_closes, args.strike_band_sd, args.keep
        )
        runs.append((wall, cpu, stages))
        print(
            f"  run {i + 1}: {quotes:,} quotes in {wall:.2f} s wall ({cpu:.2f} s CPU): "
            f"{quotes / wall / 1e6:.2f} M quotes/s"
        )
    walls = [r[0] for r in runs]
    median = sorted(runs, key=lambda r: r[0])[(len(runs) - 1) // 2]
    wall, cpu, stages = median
    print(f"\nmedian run ({quotes:,} quotes):")
    print(f"  {'stage':<14}{'wall s':>9}{'CPU s':>9}{'M quotes/s':>12}{'share':>8}")
    for name in STAGES:
        s = stages.get(name, 0.0)
        rate = quotes / s / 1e6 if s > 0 else float("inf")
        print(
            f"  {name:<14}{s:>9.3f}{stages.get(name + '_cpu', 0.0):>9.3f}{rate:>12.2f}"
            f"{s / wall:>8.1%}"
        )
    total_rate = quotes / wall
    print(f"  {'total':<14}{wall:>9.3f}{cpu:>9.3f}{total_rate / 1e6:>12.2f}{1:>8.0%}")
    print(
        f"\ntotal {total_rate / 1e6:.2f} M quotes/s (median of {len(runs)}; best "
        f"{quotes / min(walls) / 1e6:.2f}, spread {statistics.pstdev(walls):.2f} s): "
        f"{total_rate / TARGET_QUOTES_PER_S:.2f}x the 1 M/s target "
        f"({'met' if total_rate >= TARGET_QUOTES_PER_S else 'NOT met'}); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"
    )


if __name__ == "__main__":
    main()
