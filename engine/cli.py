"""``python -m engine``: run a backtest from a YAML config against the build database."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import io
from engine.config import DEFAULT_CONFIG_PATH, ConfigError, StraddleConfig, load_config
from engine.straddle import BacktestResult, run_backtest
from warehouse.paths import WarehousePaths, connect


def _pct(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value * 100:.{digits}f}%"


def format_summary(cfg: StraddleConfig, result: BacktestResult) -> str:
    """One line: strategy, underlying, run_id, trades and headline metrics (NaN shown as nan)."""
    row = result.metrics.row(0, named=True)
    sharpe = row["sharpe_ratio"]
    return (
        f"{cfg.strategy} {cfg.underlying_symbol} run_id={result.run_id}: "
        f"{row['n_trades']} trades, total_return={_pct(row['total_return'], 2)}, "
        f"sharpe={'nan' if math.isnan(sharpe) else f'{sharpe:.2f}'}, "
        f"max_drawdown={_pct(row['max_drawdown'], 2)}, win_rate={_pct(row['win_rate'], 1)}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Vectorized options backtests over the warehouse marts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="backtest a config and write backtest.* tables",
        description=(
            "Backtest the strategy of a YAML config on marts.fct_option_quotes_* gated by "
            "ml.predictions, write backtest.runs/trades/equity_daily/metrics (rows of this "
            "run_id replaced) and print a one-line summary."
        ),
    )
    run.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help="YAML config (default: %(default)s)",
    )
    run.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file to read and write (default: WarehousePaths.from_env().build_db)",
    )
    summary = commands.add_parser(
        "summary",
        help="print the published backtest runs, one line each",
        description="Read backtest.runs and backtest.metrics from the published warehouse "
        "(read-only) and print where it is and one line per run.",
    )
    summary.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file to read (default: WarehousePaths.from_env().published_db)",
    )
    return parser


def published_summary(db_path: Path) -> list[str]:
    """Lines describing the published runs: the warehouse path, then one line per run.

    Raises
    ------
    FileNotFoundError
        If ``db_path`` does not exist (run ``make all``).
    """
    con = connect(db_path, read_only=True)
    try:
        rows = con.sql(
            """
            select runs.strategy, runs.underlying_symbol, runs.run_id, runs.model_version,
                metrics.n_trades, metrics.total_return, metrics.sharpe_ratio,
                metrics.max_drawdown, metrics.win_rate, metrics.first_date, metrics.last_date
            from backtest.runs as runs
            inner join backtest.metrics as metrics on runs.run_id = metrics.run_id
            order by runs.run_id
            """
        ).fetchall()
    finally:
        con.close()
    lines = [f"published warehouse: {db_path.resolve()}"]
    for strategy, symbol, run_id, version, n, total, sharpe, mdd, win, first, last in rows:
        lines.append(
            f"backtest {strategy} {symbol} run_id={run_id} ({first}..{last}, forecasts "
            f"{version}): {n} trades, total_return={_pct(total, 2)}, "
            f"sharpe={'nan' if math.isnan(sharpe) else f'{sharpe:.2f}'}, "
            f"max_drawdown={_pct(mdd, 2)}, win_rate={_pct(win, 1)}"
        )
    return lines


def run(config_path: Path, db_path: Path) -> tuple[StraddleConfig, BacktestResult]:
    """Load the config and inputs, backtest, write the results; return both."""
    cfg = load_config(config_path)
    con = io.open_database(db_path)
    try:
        inputs = io.load_inputs(con, cfg, db_path=db_path)
        result = run_backtest(
            inputs.quotes, inputs.universe, inputs.underlying, inputs.forecasts, cfg
        )
        io.write_result(con, result)
    finally:
        con.close()
    return cfg, result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 on a reported error)."""
    args = build_parser().parse_args(argv)
    if args.command == "summary":
        try:
            lines = published_summary(args.db or WarehousePaths.from_env().published_db)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    db_path = args.db if args.db is not None else WarehousePaths.from_env().build_db
    try:
        cfg, result = run(args.config, db_path)
    except (ConfigError, FileNotFoundError, io.MissingTableError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(cfg, result))
    return 0
