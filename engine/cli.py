"""``python -m engine``: run, sweep and scan backtests from YAML configs; list strategies."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from engine import io
from engine.backtest import SWEEP_KEYS, BacktestResult, run_sweep, sweep_grid
from engine.config import DEFAULT_CONFIG_PATH, BacktestConfig, ConfigError, load_config
from engine.schema import ADDED_COLUMNS
from engine.strategies import StrategyError, load_catalogue
from warehouse.paths import WarehousePaths, connect
from warehouse.pipeline import guarded


def _pct(value: float, digits: int) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


#: Above this share of open position-sessions marked on a stale quote, the CLI warns: the
#: equity curve is then mostly carried marks, and its volatility (so its Sharpe) is understated.
STALE_WARN_SHARE = 0.20


def chain_label(chain_source: str | None, chain_model_version: str | None) -> str:
    """`` [modeled ssvi-1]`` for a run on the modeled chain, ``""`` on the real one (the summary
    lines say so only when the quotes are not market quotes).

    >>> chain_label("modeled", "ssvi-1"), chain_label("real", None)
    (' [modeled ssvi-1]', '')
    """
    if chain_source != "modeled":
        return ""
    return f" [modeled {chain_model_version or 'unknown model'}]"


def format_summary(cfg: BacktestConfig, result: BacktestResult) -> str:
    """The run's summary: one line of strategy, run_id (with `` [modeled <model version>]`` on
    the modeled chain), trades and headline metrics with their sample (sessions, closed and open
    trades, Sharpe's 95 % interval; "not meaningful" below 63 sessions or 20 closed trades),
    then, when there are any, a line of skipped entries by reason and warning lines (stale marks
    above 20 %, an AM contract settled on the close)."""
    row = result.metrics.row(0, named=True)
    runs = result.runs.row(0, named=True) if result.runs.height else {}
    chain = chain_label(runs.get("chain_source"), runs.get("chain_model_version"))
    lines = [
        f"{cfg.strategy.name} {cfg.underlying_symbol} run_id={result.run_id}{chain}: "
        f"{row['n_closed_trades']} closed trades, {row['n_open_trades']} open, "
        f"{row['n_sessions']} sessions; total_return={_pct(row['total_return'], 2)}, "
        f"sharpe={_num(row['sharpe_ratio'])} [{_num(row['sharpe_ratio_ci_low'])}, "
        f"{_num(row['sharpe_ratio_ci_high'])}], max_drawdown={_pct(row['max_drawdown'], 2)}, "
        f"win_rate={_pct(row['win_rate'], 1)}"
        + (f" ({row['sample_note']})" if row["sample_note"] else "")
    ]
    skipped = result.skipped_entries
    if skipped.height:
        counts = skipped.group_by("reason").len().sort("len", "reason", descending=[True, False])
        lines.append("  skipped entries: " + ", ".join(f"{n} {r}" for r, n in counts.iter_rows()))
    stale = row["stale_mark_share"]
    if stale is not None and not math.isnan(stale) and stale > STALE_WARN_SHARE:
        lines.append(
            f"  warning: {stale:.0%} of open position-sessions are marked on stale quotes "
            f"(> {STALE_WARN_SHARE:.0%}): the equity curve is mostly carried marks and its "
            "Sharpe is overstated"
        )
    fallback = result.legs.filter(
        pl.col("settlement_method").is_in(
            ["intrinsic_am_close_fallback", "intrinsic_am_quote_time_spot"]
        )
    )
    if fallback.height:
        lines.append(
            f"  warning: {fallback.height} AM-settled leg(s) settled on the close, no SOQ or "
            "proxy in the data (settlement_method intrinsic_am_close_fallback)"
        )
    return "\n".join(lines)


def _say(message: str) -> None:
    print(message, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Vectorized options backtests over the warehouse marts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="backtest a config and write the backtest.* tables",
        description="Backtest the strategy of a YAML config on marts.fct_option_chain, the "
        "rows of its chain_source (real market quotes by default, or the modeled chain) "
        "(entries from a universe mart, signals from ml.predictions or the strategy selector), "
        "write backtest.runs/trades/legs/positions_daily/equity_daily/metrics (rows of this "
        "run_id replaced, one transaction) and print a one-line summary.",
    )
    sweep = commands.add_parser(
        "sweep",
        help="backtest a grid of exit parameters as one computation",
        description="Backtest the config under every combination of --axis values (exit "
        f"parameters: {', '.join(SWEEP_KEYS)}); positions and marks are built once and the "
        "grid is an axis of the exit computation. Prints one line per grid row, best Sharpe "
        "first; --write stores every run in backtest.*.",
    )
    sweep.add_argument(
        "--axis",
        action="append",
        default=[],
        metavar="KEY=V1,V2,…",
        help="a grid axis, repeatable, e.g. --axis take_profit_pct=25,50,100 "
        "--axis holding_days=3,5,10 (use 'none' to disable a rule)",
    )
    sweep.add_argument("--write", action="store_true", help="write every run to backtest.*")
    scan = commands.add_parser(
        "scan",
        help="every candidate entry of a structure, aggregated by DTE x moneyness buckets",
        description="optopsy-style research scan (see engine/scan.py for the semantics).",
    )
    for sub in (run, sweep):
        sub.add_argument(
            "--config",
            type=Path,
            default=DEFAULT_CONFIG_PATH,
            help="YAML config (default: %(default)s)",
        )
    for sub in (run, sweep, scan):
        sub.add_argument(
            "--db",
            type=Path,
            default=None,
            help="DuckDB file (default: WarehousePaths.from_env().build_db)",
        )
    _scan_arguments(scan)
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
    commands.add_parser(
        "strategies",
        help="list the strategy catalogue (engine/strategies.yaml)",
        description="Print every strategy of the catalogue with its legs.",
    )
    return parser


def _scan_arguments(scan: argparse.ArgumentParser) -> None:
    try:
        from engine import scan as scan_module
    except ImportError:  # pragma: no cover - scan mode ships with the engine
        return
    add = getattr(scan_module, "add_cli_arguments", None)
    if add is not None:
        add(scan)


def published_summary(db_path: Path) -> list[str]:
    """Lines describing the published runs: the warehouse path, then one line per run (with
    `` [modeled <model version>]`` after the run_id of a run on the modeled chain; a
    ``backtest.runs`` written before chain sources existed holds real-chain runs only).

    Raises
    ------
    FileNotFoundError
        If ``db_path`` does not exist (run ``make all``).
    """
    con = connect(db_path, read_only=True)
    try:
        has_chain = bool(
            con.sql(
                "select count(*) from information_schema.columns where table_schema = 'backtest' "
                "and table_name = 'runs' and column_name = 'chain_source'"
            ).fetchall()[0][0]
        )
        chain = (
            "runs.chain_source, runs.chain_model_version"
            if has_chain
            else "'real' as chain_source, null as chain_model_version"
        )
        rows = con.sql(
            f"""
            select runs.strategy, runs.underlying_symbol, runs.run_id, {chain},
                runs.model_version, metrics.n_closed_trades, metrics.n_open_trades,
                metrics.n_sessions, metrics.total_return, metrics.sharpe_ratio,
                metrics.max_drawdown, metrics.win_rate, metrics.first_date, metrics.last_date,
                metrics.sample_note
            from backtest.runs as runs
            inner join backtest.metrics as metrics on runs.run_id = metrics.run_id
            order by runs.run_id
            """
        ).fetchall()
    finally:
        con.close()
    lines = [f"published warehouse: {db_path.resolve()}"]
    for (
        strategy, symbol, run_id, chain_source, chain_version, version, n, n_open, sessions,
        total, sharpe, mdd, win, first, last, note,
    ) in rows:  # fmt: skip
        lines.append(
            f"backtest {strategy} {symbol} run_id={run_id}"
            f"{chain_label(chain_source, chain_version)} ({first}..{last}, {sessions} sessions, "
            f"forecasts {version or 'none'}): {n} closed trades, {n_open} open, "
            f"total_return={_pct(total, 2)}, sharpe={_num(sharpe)}, "
            f"max_drawdown={_pct(mdd, 2)}, win_rate={_pct(win, 1)}" + (f" ({note})" if note else "")
        )
    return lines


def _backtest(
    cfg: BacktestConfig, db_path: Path, grid=None, write: bool = True
) -> list[BacktestResult]:
    # The database is open only to read the inputs and to write the results: DuckDB keeps the
    # blocks a read touched cached up to its memory limit (4 GB by default), which a connection
    # held through the run would add to the run's own memory (8.5 GB peak on the 16-year
    # modeled straddle, 4.8 GB with the connection closed).
    con = io.open_database(db_path)
    try:
        started = time.perf_counter()
        inputs = io.load_inputs(con, cfg, db_path=db_path)
    finally:
        con.close()
    _say(
        f"read the {cfg.underlying_symbol} chain and signals "
        f"({time.perf_counter() - started:.1f} s); backtesting {cfg.strategy.name}"
        + (f" over {len(grid)} exit configurations" if grid else "")
    )
    started = time.perf_counter()
    results = [
        io.with_provenance(r, inputs)
        for r in run_sweep(
            inputs.chain, inputs.universe, inputs.underlying, cfg, grid=grid, **inputs.signals
        )
    ]
    del inputs
    _say(f"backtested in {time.perf_counter() - started:.2f} s")
    if write:
        con = io.open_database(db_path)
        try:
            change = io.ensure_output_tables(con)
            for table in change.replaced:
                _say(f"replaced {table}: written by an earlier engine (derived data)")
            for column in change.added_columns:
                table, name = column.split(".")[1:]
                _say(
                    f"added column {column}: {ADDED_COLUMNS[table][name]} on the rows already "
                    "there (engine.schema.ADDED_COLUMNS says why)"
                )
            for result in results:
                io.write_result(con, result)
        finally:
            con.close()
    return results


def _parse_axes(specs: list[str]) -> dict[str, list]:
    axes: dict[str, list] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not values:
            raise ConfigError(f"--axis must look like KEY=V1,V2, got {spec!r}")
        parsed = []
        for text in values.split(","):
            text = text.strip()
            if text.lower() == "none":
                parsed.append(None)
                continue
            try:
                number = float(text)
            except ValueError as exc:
                raise ConfigError(f"--axis {key}: {text!r} is not a number") from exc
            parsed.append(int(number) if key in ("holding_days", "exit_dte") else number)
        axes[key] = parsed
    return axes


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 on a reported error, 75 when another
    pipeline holds the warehouse whose build database ``run``/``sweep``/``scan`` would open)."""
    args = build_parser().parse_args(argv)
    if args.command in ("run", "sweep", "scan"):
        paths = WarehousePaths.from_env()
        if (args.db or paths.build_db).resolve() == paths.build_db.resolve():
            return guarded(paths.root, lambda: _main(args))
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "summary":
            print("\n".join(published_summary(args.db or WarehousePaths.from_env().published_db)))
            return 0
        if args.command == "strategies":
            for name, spec in load_catalogue().items():
                legs = "; ".join(
                    f"{leg.side} {leg.ratio} {leg.leg_type}"
                    + (f" {leg.rule}={leg.value:g}" if leg.rule else "")
                    + (f" of leg {leg.of}" if leg.of else "")
                    + (" (back)" if leg.expiry == "back" else "")
                    for leg in spec.legs
                )
                print(f"{name:24s} {legs}")
            return 0
        db_path = args.db if args.db is not None else WarehousePaths.from_env().build_db
        if args.command == "scan":
            from engine import scan as scan_module

            return scan_module.cli_main(args, db_path)
        cfg = load_config(args.config)
        if args.command == "run":
            result = _backtest(cfg, db_path)[0]
            print(format_summary(cfg, result))
            return 0
        axes = _parse_axes(args.axis)
        # each grid row is the config's exits with the swept keys replaced
        grid = [
            dataclasses.replace(cfg.exits, **{k: getattr(g, k) for k in axes})
            for g in sweep_grid(axes)
        ] or [cfg.exits]
        results = _backtest(cfg, db_path, grid=grid, write=args.write)
        rows = sorted(
            zip(grid, results, strict=True),
            key=lambda gr: (
                -(
                    gr[1].metrics["sharpe_ratio"][0]
                    if math.isfinite(gr[1].metrics["sharpe_ratio"][0])
                    else -1e9
                )
            ),
        )
        print(
            f"{'take_profit_pct':>15} {'stop_loss_pct':>13} {'holding_days':>12} "
            f"{'exit_dte':>8} {'closed':>6} {'open':>4} {'total_return':>12} {'sharpe':>7} "
            f"{'max_dd':>8}"
        )
        for g, r in rows:
            mrow = r.metrics.row(0, named=True)
            print(
                f"{_num(g.take_profit_pct, 0):>15} {_num(g.stop_loss_pct, 0):>13} "
                f"{g.holding_days!s:>12} {g.exit_dte!s:>8} {mrow['n_closed_trades']:>6} "
                f"{mrow['n_open_trades']:>4} "
                f"{_pct(mrow['total_return'], 2):>12} {_num(mrow['sharpe_ratio']):>7} "
                f"{_pct(mrow['max_drawdown'], 2):>8}"
            )
        return 0
    except (
        ConfigError,
        StrategyError,
        FileNotFoundError,
        io.MissingTableError,
        ValueError,
        RuntimeError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
