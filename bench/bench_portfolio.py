"""Portfolio-backtest benchmark: path-dependent exits and sweeps on the real SPX chain.

Targets (issue 6), on the 2-core machine:
- a path-dependent portfolio backtest (long straddles entered every day, take-profit, stop-loss
  and N-day exits) over the full 56-day SPX 2019 chain in under 1 s, and over the chain tiled
  10x in under 10 s;
- a 100-configuration sweep over the real chain in under 30 s.

Inputs are what ``python -m engine run`` reads: ``marts.fct_option_features`` (SPX/SPXW), the
default universe and the underlying's closes, from the build database opened read-only, read
once and held in memory (the timings are the engine's, not DuckDB's). The 10x tile repeats the
chain with every date moved by whole multiples of 364 days (weekdays kept) and the contract
symbols made unique: it is the same data, relabelled, **not new market data**; the months between
copies are a gap in coverage the session clock would refuse, so the tiled run allows it
(``max_gap_sessions``) and marks those sessions stale. The peer in the same run is the same 100
configurations run one by one in a Python loop; ``--baseline REV`` also times the engine of a
git revision (e.g. the one before a change) on the same inputs, in a subprocess of this run, and
prints each figure's ratio to it.

Run after ``make all``: ``.venv/bin/python bench/bench_portfolio.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import polars as pl

from engine.backtest import run_backtest, run_sweep, sweep_grid
from engine.config import BacktestConfig
from engine.io import load_inputs
from warehouse.paths import WarehousePaths, connect

CONFIG = {
    "strategy": "long_straddle",
    "underlying_symbol": "SPX",
    "option_roots": ["SPXW", "SPX"],
    "start_date": "2019-01-01",
    "initial_capital_usd": 1_000_000,
    "entry": {
        "schedule": "daily",
        "target_dte": 30,
        "min_dte": 20,
        "max_dte": 45,
        "max_open_positions": 100,
    },
    "execution": {"fill": "mid_slippage", "slippage_bps": 50, "commission_per_contract_usd": 0.65},
    "exits": {"take_profit_pct": 50, "stop_loss_pct": 50, "holding_days": 10},
}
SWEEP_AXES = {
    "take_profit_pct": [None, 25.0, 50.0, 100.0, 200.0],
    "stop_loss_pct": [None, 25.0, 50.0, 75.0, 90.0],
    "holding_days": [2, 5, 10, 20],
}


def tile(frames: dict[str, pl.LazyFrame], times: int) -> dict[str, pl.LazyFrame]:
    """The chain, universe and underlying repeated ``times`` times, dates shifted by 364 days.

    SYNTHETIC DATES: copy ``i`` moves every date by ``364 * i`` days (52 weeks, so weekdays
    stay weekdays) and suffixes contract symbols with ``~i``.
    """

    def shifted(lf: pl.LazyFrame, dates: list[str], symbol: bool) -> pl.LazyFrame:
        copies = []
        for i in range(times):
            shift = pl.duration(days=364 * i)
            copy = lf.with_columns(*(pl.col(d) + shift for d in dates))
            if symbol:
                copy = copy.with_columns(pl.col("contract_symbol") + f"~{i}")
            copies.append(copy)
        return pl.concat(copies)

    chain_dates = ["quote_date", "expiration"]
    if "quoted_at" in frames["chain"].collect_schema().names():
        chain_dates.append("quoted_at")
    return {
        "chain": shifted(frames["chain"], chain_dates, True),
        "universe": shifted(frames["universe"], ["quote_date"], True),
        "underlying": shifted(frames["underlying"], ["trade_date"], False),
    }


def _supports(field: str) -> bool:
    return field in {f.name for f in dataclasses.fields(BacktestConfig)}


def measure(db: Path, times: int, quiet: bool = False) -> dict[str, float]:
    """Time the three figures on ``db`` with the ``engine`` package on the path."""
    say = (lambda *_: None) if quiet else print
    cfg = BacktestConfig.from_mapping(CONFIG)
    con = connect(db, read_only=True)
    try:
        inputs = load_inputs(con, cfg, db_path=db)
        # the SPX 2019 chain (the iVolatility week of 2011 left out) and the closes it needs
        first = pl.lit(CONFIG["start_date"]).str.to_date()
        chain = inputs.chain.filter(pl.col("quote_date") >= first).collect()
        real = {
            "chain": chain.lazy(),
            "universe": inputs.universe.filter(pl.col("quote_date") >= first).collect().lazy(),
            # one year of closes from the first quote: enough to settle every position, and
            # the tile's copies (364 days apart) never repeat a day
            "underlying": inputs.underlying.filter(
                pl.col("trade_date") >= chain["quote_date"].min(),
                pl.col("trade_date") < chain["quote_date"].min() + dt.timedelta(days=364),
            )
            .collect()
            .lazy(),
        }
        extras = {
            k: v.collect().lazy()
            for k, v in inputs.signals.items()
            if k in ("sessions", "settlements", "dividends")
        }
    finally:
        con.close()
    tiled = {k: v.collect().lazy() for k, v in tile(real, times).items()}
    n_real = real["chain"].select(pl.len()).collect().item()
    n_tiled = tiled["chain"].select(pl.len()).collect().item()
    say(f"real SPX chain: {n_real:,} quotes; tiled {times}x (synthetic dates): {n_tiled:,} quotes")
    run_backtest(**real, **extras, cfg=cfg)  # warm-up: imports, thread pool
    timings: dict[str, float] = {}

    def timed(key: str, label: str, fn, target: float | None = None):
        started = time.perf_counter()
        out = fn()
        timings[key] = elapsed = time.perf_counter() - started
        verdict = (
            ""
            if target is None
            else f"  target < {target:g} s: {'met' if elapsed < target else 'MISSED'}"
        )
        say(f"{label:<62} {elapsed:7.2f} s{verdict}")
        return out

    res = timed(
        "portfolio",
        "portfolio backtest, real chain (straddles, TP/SL/10-day)",
        lambda: run_backtest(**real, **extras, cfg=cfg),
        1.0,
    )
    say(f"  {res.trades.height} trades, {res.positions_daily.height:,} position-days")
    tiled_cfg = dataclasses.replace(cfg, start_date=None)
    if _supports("max_gap_sessions"):  # the copies are 364 days apart: months without quotes
        tiled_cfg = dataclasses.replace(tiled_cfg, max_gap_sessions=100_000)
    res = timed(
        "tiled",
        f"portfolio backtest, tiled {times}x (synthetic dates)",
        lambda: run_backtest(**tiled, **extras, cfg=tiled_cfg),
        10.0,
    )
    say(f"  {res.trades.height} trades, {res.positions_daily.height:,} position-days")
    grid = [
        dataclasses.replace(cfg.exits, **dataclasses.asdict(g) | {"exit_dte": None})
        for g in sweep_grid(SWEEP_AXES)
    ]
    results = timed(
        "sweep",
        f"sweep of {len(grid)} exit configurations, real chain",
        lambda: run_sweep(**real, **extras, cfg=cfg, grid=grid),
        30.0,
    )
    if not quiet:
        timed(
            "loop",
            f"peer: the same {len(grid)} configurations in a Python loop",
            lambda: [
                run_backtest(**real, **extras, cfg=dataclasses.replace(cfg, exits=g)) for g in grid
            ],
        )
        say(
            f"  sweep is {timings['loop'] / timings['sweep']:.1f}x the loop; best Sharpe "
            f"{max(r.metrics['sharpe_ratio'][0] for r in results):.2f}"
        )
    return timings


def baseline(rev: str, db: Path, times: int) -> dict[str, float]:
    """The figures of the engine at git revision ``rev``, measured in a subprocess on ``db``.

    The revision's ``engine/`` and ``warehouse/`` packages are extracted (``git archive``) to a
    temporary directory put first on ``PYTHONPATH``; this script runs there with ``--json``.

    Raises
    ------
    RuntimeError
        When ``git archive`` or the subprocess fails (its stderr is in the message).
    """
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", rev, "engine", "warehouse"],
            cwd=repo,
            capture_output=True,
            check=False,
        )
        if archive.returncode:
            raise RuntimeError(f"git archive {rev!r} failed: {archive.stderr.decode()}")
        tar_path = Path(tmp) / "src.tar"
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run(
            [sys.executable, __file__, "--db", str(db), "--tile", str(times), "--json"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"baseline {rev} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        type=Path,
        default=paths.build_db,
        help=f"build database, opened read-only (default {paths.build_db})",
    )
    parser.add_argument("--tile", type=int, default=10, help="copies in the tiled chain")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the engine of this git revision on the same inputs and print ratios",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(measure(args.db, args.tile, quiet=True)))
        return 0
    timings = measure(args.db, args.tile)
    if args.baseline:
        print(f"baseline: the engine of {args.baseline}, same inputs, same run")
        before = baseline(args.baseline, args.db, args.tile)
        for key, label in (
            ("portfolio", "portfolio, real chain"),
            ("tiled", f"portfolio, tiled {args.tile}x"),
            ("sweep", "sweep, real chain"),
        ):
            print(
                f"  {label:<28} {timings[key]:6.2f} s vs {before[key]:6.2f} s at "
                f"{args.baseline}: {timings[key] / before[key]:.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
