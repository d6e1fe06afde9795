"""Backtests started from the app: run a config on the published warehouse, then optionally save.

No Streamlit here, so every step is testable on its own. The config comes from the New run form
(:mod:`app.run_form`: each strategy's defaults, form values -> config, the config as YAML).

1. :func:`run_on_published` loads the inputs with the engine's loader
   (:func:`engine.io.load_inputs`) on a hardened read-only connection to the *published*
   warehouse, closes it, then runs :func:`engine.backtest.run_sweep` in memory, reporting each
   step (load / run); :func:`detail_of` gives the result the shape of a saved run's.
2. **The statistics' sample**, for the run views: :func:`rolling_sharpe` and its window rule
   (:func:`rolling_window`, :func:`rolling_sharpe_se`), the skipped entries by reason
   (:func:`skipped_by_reason`), a saved run's sample and skipped entries
   (:func:`saved_run_extras`), and the trade ids that never became trades
   (:func:`missing_trade_ids`).
3. :func:`save_run` stores a result the way ``python -m engine run`` does, under the pipeline
   lock: :func:`engine.io.write_result` into the build database, then
   :func:`warehouse.publish.publish`, by :func:`locked_build_write`, the one locked path every
   change from the app takes (names and deletes too: :mod:`app.run_admin`). Every refusal is
   a :class:`SaveError` whose message says what happened and what to do; a run that opened no
   position is refused (:func:`save_refusal`) before anything is written.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from app.db import db_version, reader
from app.db import frame as db_frame
from app.queries import EXPECTED_COLUMNS, RunDetail
from engine import io
from engine.backtest import BacktestResult, run_sweep
from engine.config import BacktestConfig
from engine.metrics import TRADING_DAYS_PER_YEAR
from warehouse import manifest
from warehouse.paths import REPO_ROOT, WarehousePaths
from warehouse.pipeline import PipelineBusyError, lock_fds, pipeline_lock, running_pipeline
from warehouse.publish import (
    PublishRefusedError,
    check_publishable,
    default_run_results,
    publish,
)

T = TypeVar("T")

#: Seconds the attribution rebuild of a save may take (about 10 s here) before it is abandoned.
REPORTS_TIMEOUT_S = 300
#: The dbt executable of this environment (beside the interpreter, as the Makefile uses it).
DBT = str(Path(sys.executable).parent / "dbt")

#: Steps reported to the ``progress`` callback of :func:`run_on_published`, in order.
STEPS: tuple[str, ...] = ("load", "run")

#: ``(step, message)``: called as each step starts.
Progress = Callable[[str, str], None]

#: Rolling-Sharpe windows in sessions, longest first: the longest one the run has at least twice
#: as many sessions for (a year, half a year, a quarter). Nothing shorter than a quarter: the
#: standard error of an annualised Sharpe ratio over n daily returns is about sqrt(252 / n)
#: (Lo 2002, eq. 8, at a Sharpe near 0), ±3.5 over 21 sessions, so a 21-day rolling Sharpe
#: swings by ±6 on noise alone (issue 19); over 63 sessions it is ±2.
ROLLING_WINDOWS: tuple[int, ...] = (252, 126, 63)


# --- running --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """One backtest run from the app, held in memory until saved.

    Attributes
    ----------
    config, result
        What ran and the engine's frames (``engine.schema``), provenance included.
    published_version
        :func:`app.db.db_version` of the published file the inputs were read from, or ``None``
        when a publish replaced it during the load (the save then refuses: rerun first).
    timings_s
        Seconds per step of :data:`STEPS`, and ``total``.
    """

    config: BacktestConfig
    result: BacktestResult
    published_version: str | None
    timings_s: dict[str, float]


def run_on_published(
    cfg: BacktestConfig, db: Path | str, *, progress: Progress | None = None
) -> RunOutcome:
    """Backtest ``cfg`` on the published warehouse ``db``, read-only.

    The connection is open only while :func:`engine.io.load_inputs` reads (it materialises every
    input); the run itself holds no DuckDB connection.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    engine.io.MissingTableError
        An input table or column is missing (named, with the command that builds it).
    ValueError
        No current predictions of the signal's model, or no trading day in the window.
    duckdb.IOException
        When the file is locked or being replaced.
    """
    say = progress or (lambda step, message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    signal = "" if cfg.entry.signal == "none" else f" and the {cfg.entry.signal} signal"
    say("load", f"Loading the {cfg.underlying_symbol} {cfg.chain_source} chain{signal} (read-only)")
    version = db_version(db)
    with reader(db) as con:
        inputs = io.load_inputs(con, cfg, db_path=db)
    if db_version(db) != version:
        version = None
    timings["load"] = time.perf_counter() - started

    step = time.perf_counter()
    say("run", f"Backtesting {cfg.strategy.name} ({cfg.run_id})")
    result = run_sweep(inputs.chain, inputs.universe, inputs.underlying, cfg, **inputs.signals)[0]
    result = io.with_provenance(result, inputs)
    timings["run"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return RunOutcome(cfg, result, version, timings)


def detail_of(result: BacktestResult) -> RunDetail:
    """The run as the Backtest page shows a saved one (the columns of :mod:`app.queries`;
    ``metrics`` keeps every column of the engine's row: the sample beside the figures)."""

    def columns(table: str) -> list[str]:
        return [c for c in EXPECTED_COLUMNS[table] if c != "run_id"]

    runs = result.runs
    return RunDetail(
        metrics=result.metrics,
        equity=result.equity_daily.sort("quote_date").select(columns("equity_daily")),
        trades=result.trades.sort("entry_date", "trade_id").select(columns("trades")),
        config_json=runs.item(0, "config_json") if runs.height else None,
        legs=result.legs.sort("trade_id", "leg_no").select(columns("legs")),
    )


# --- the statistics' sample -----------------------------------------------------------------------


def rolling_window(n_days: int) -> int | None:
    """The longest of :data:`ROLLING_WINDOWS` that fits twice in ``n_days``, else ``None``
    (the run is too short for a rolling Sharpe worth drawing).

    >>> rolling_window(600), rolling_window(300), rolling_window(126), rolling_window(61)
    (252, 126, 63, None)
    """
    return next((w for w in ROLLING_WINDOWS if n_days >= 2 * w), None)


def rolling_sharpe(equity: pl.DataFrame, window: int | None) -> pl.DataFrame:
    """Annualised Sharpe ratio over a trailing window of daily returns.

    ``mean(r) / std(r, ddof=1) * sqrt(252)`` over the last ``window`` trading days, zero
    risk-free rate: :func:`engine.metrics.sharpe_ratio` applied to a moving window.

    Parameters
    ----------
    equity
        One row per ``quote_date`` with ``daily_return`` (decimal, noncumulative; NaN = unknown).
    window
        Trading days (``>= 2``); ``None`` gives an empty frame.

    Returns
    -------
    polars.DataFrame
        ``quote_date``, ``rolling_sharpe`` (float, dimensionless) for each day that ends a full
        window whose returns are all known and not constant.

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, d) for d in (2, 3, 4)]
    >>> rolling_sharpe(pl.DataFrame({"quote_date": days, "daily_return": [0.01, 0.03, 0.02]}), 2)[
    ...     "rolling_sharpe"].round(4).to_list()
    [22.4499, 56.1249]
    """
    schema = {"quote_date": pl.Date, "rolling_sharpe": pl.Float64}
    if window is None or equity.is_empty():
        return pl.DataFrame(schema=schema)
    returns = pl.col("daily_return").cast(pl.Float64).fill_nan(None)
    mean = returns.rolling_mean(window, min_samples=window)
    std = returns.rolling_std(window, min_samples=window, ddof=1)
    sharpe = mean / std * math.sqrt(TRADING_DAYS_PER_YEAR)
    return (
        equity.sort("quote_date")
        .select("quote_date", pl.when(std > 0).then(sharpe).alias("rolling_sharpe"))
        .filter(pl.col("rolling_sharpe").is_not_null() & pl.col("rolling_sharpe").is_finite())
        .cast(schema)
    )


def rolling_sharpe_se(window: int) -> float:
    """Standard error of an annualised Sharpe ratio near 0 over ``window`` daily returns,
    ``sqrt(252 / window)`` (Lo 2002, "The Statistics of Sharpe Ratios", eq. 8, IID, SR = 0).

    >>> round(rolling_sharpe_se(63), 2), round(rolling_sharpe_se(21), 2)
    (2.0, 3.46)
    """
    return math.sqrt(TRADING_DAYS_PER_YEAR / window)


#: What each reason of ``backtest.skipped_entries`` means (engine/entries.py SKIP_REASONS and the
#: sizing caps of engine/portfolio.py).
SKIP_REASON_TEXT: dict[str, str] = {
    "no_quotes": "the vendor has no quotes that session (a stale day)",
    "no_signal": "no forecast maps to the session",
    "signal_off": "the entry signal does not hold",
    "no_expiration_in_window": "no tradable expiration within [min_dte, max_dte] in the universe",
    "spread_too_wide": "every leg exists, but a leg's quote is not tradable (spread over "
    "max_spread_pct, or no bid)",
    "no_expiration_with_all_legs": "no expiration where every leg has a contract within the "
    "strike rule's tolerance",
    "am_settlement_unavailable": "execution.am_settlement is soq_only and the expiration has no "
    "SOQ",
    "max_open_positions": "entry.max_open_positions positions were already open",
    "sized_to_zero": "sizing gave 0 lots (the detail names the cap: capital, margin, notional)",
}

_SKIPPED_SCHEMA = {
    "quote_date": pl.Date,
    "candidate_no": pl.Int64,
    "reason": pl.String,
    "detail": pl.String,
}


def skipped_by_reason(skipped: pl.DataFrame) -> pl.DataFrame:
    """Skipped entries counted by reason, most frequent first.

    Parameters
    ----------
    skipped
        One row per skipped entry (``backtest.skipped_entries`` or a result's
        ``skipped_entries``) with ``reason`` and ``quote_date``.

    Returns
    -------
    polars.DataFrame
        ``reason``, ``n_skipped`` (int), ``first_date``, ``last_date``, ``meaning`` (from
        :data:`SKIP_REASON_TEXT`; the reason itself when unknown), ordered by ``n_skipped``
        descending then ``reason``.

    >>> import datetime as dt
    >>> skipped_by_reason(pl.DataFrame({"quote_date": [dt.date(2019, 5, 1)] * 2,
    ...     "reason": ["signal_off", "no_quotes"]}))["reason"].to_list()
    ['no_quotes', 'signal_off']
    """
    if skipped.is_empty():
        return pl.DataFrame(
            schema={
                "reason": pl.String,
                "n_skipped": pl.Int64,
                "first_date": pl.Date,
                "last_date": pl.Date,
                "meaning": pl.String,
            }
        )
    return (
        skipped.group_by("reason")
        .agg(
            pl.len().cast(pl.Int64).alias("n_skipped"),
            pl.col("quote_date").min().alias("first_date"),
            pl.col("quote_date").max().alias("last_date"),
        )
        .with_columns(
            pl.col("reason")
            .replace_strict(SKIP_REASON_TEXT, default=pl.col("reason"), return_dtype=pl.String)
            .alias("meaning")
        )
        .sort(["n_skipped", "reason"], descending=[True, False])
    )


@dataclass(frozen=True)
class RunExtras:
    """What the Backtest page shows of a saved run beyond :class:`app.queries.RunDetail`.

    Attributes
    ----------
    metrics
        Zero or one row of ``backtest.metrics`` with every column the table has (the engine's
        sample: ``n_sessions``, ``n_closed_trades``, ``sharpe_ratio_ci_low`` ..., where written).
    skipped
        One row per skipped entry (``quote_date``, ``candidate_no``, ``reason``, ``detail``), or
        ``None`` when the warehouse has no ``backtest.skipped_entries`` (an older engine).
    """

    metrics: pl.DataFrame
    skipped: pl.DataFrame | None


_TABLES_SQL = """
select tables.table_name
from information_schema.tables as tables
where tables.table_schema = 'backtest'
"""

_ALL_METRICS_SQL = """
select metrics.* exclude (run_id)
from backtest.metrics as metrics
where metrics.run_id = ?
"""

_SKIPPED_SQL = """
select
    skipped.quote_date,
    cast(skipped.candidate_no as bigint) as candidate_no,
    skipped.reason,
    skipped.detail
from backtest.skipped_entries as skipped
where skipped.run_id = ?
order by skipped.quote_date, skipped.candidate_no
"""


def saved_run_extras(db: Path | str, run_id: str) -> RunExtras:
    """Every metrics column and the skipped entries of a saved run, read in one connection.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.metrics`` does not exist.
    """
    with reader(db) as con:
        tables = set(db_frame(con, _TABLES_SQL)["table_name"].to_list())
        metrics = db_frame(con, _ALL_METRICS_SQL, [run_id])
        skipped = (
            db_frame(con, _SKIPPED_SQL, [run_id]).cast(_SKIPPED_SCHEMA)
            if "skipped_entries" in tables
            else None
        )
    return RunExtras(metrics, skipped)


def missing_trade_ids(trade_ids: pl.Series) -> list[int]:
    """Trade ids absent from ``1 .. max(trade_ids)``: candidates the engine numbered that never
    became trades (sized to zero or over ``max_open_positions``; ``backtest.skipped_entries``).

    The engine numbers every candidate position (one per entry session, or per contract with
    ``top_k``) in entry order before sizing (``engine.marks.open_positions``:
    ``position_id``), and keeps that number as ``trade_id``; an entry sized to zero lots is a
    skipped entry, not a trade, so its number is missing from ``backtest.trades``.

    >>> missing_trade_ids(pl.Series([1, 5, 8]))
    [2, 3, 4, 6, 7]
    """
    ids = trade_ids.drop_nulls()
    if ids.is_empty():
        return []
    present = set(ids.to_list())
    return [i for i in range(1, int(ids.max()) + 1) if i not in present]


# --- saving --------------------------------------------------------------------------------------


class SaveError(RuntimeError):
    """A save was refused or failed; the message says why and what to do. ``written`` says
    whether the build database was changed."""

    def __init__(self, message: str, *, written: bool = False) -> None:
        super().__init__(message)
        self.written = written


class WarehouseBusyError(SaveError):
    """A pipeline (``make all``) holds the warehouse lock; nothing was written."""

    def __init__(self, pid: int | None) -> None:
        shown = pid if pid is not None else "unknown"
        super().__init__(
            f"The warehouse is being rebuilt (make all, pid {shown}); save again when it "
            "finishes. Nothing was written."
        )
        self.pid = pid


def save_refusal(outcome: RunOutcome) -> str | None:
    """Why ``outcome`` may not be saved, or ``None`` when it may.

    A run that opened no position (no row in its ``trades``, open or closed) is refused: it
    would add a flat equity line to Compare and nothing to attribute, and the reason it traded
    nothing is in its skipped entries, which the page shows instead.
    """
    trades = outcome.result.trades
    if trades.is_empty():
        skipped = outcome.result.skipped_entries
        why = (
            "; its skipped entries say why: "
            + ", ".join(
                f"{row['n_skipped']} {row['reason']}"
                for row in skipped_by_reason(skipped).iter_rows(named=True)
            )
            if skipped.height
            else ""
        )
        return f"Run {outcome.result.run_id} opened no position, so there is nothing to save{why}."
    return None


@dataclass(frozen=True)
class SaveReport:
    """A saved run: its id, the published file and seconds per step (write, publish, total)."""

    run_id: str
    published_db: Path
    timings_s: dict[str, float]


def refresh_reports(paths: WarehousePaths, target_dir: Path) -> None:
    """Rebuild the dbt models over ``backtest.*`` and ``ml.*`` (``tag:forecasts``: the strategy
    selector and the attribution reports) in ``paths``' build database, as ``make attribution``
    does, so a saved run shows on the Attribution page too.

    dbt writes its ``run_results.json`` to ``target_dir`` (what the publish step then checks). It
    inherits the pipeline lock's descriptor, so it holds the lock until it ends even if the app
    dies first (:mod:`warehouse.pipeline`).

    Raises
    ------
    SaveError
        When the dbt build fails (``written=True``: the run is in the build database); the
        message carries the tail of dbt's output.
    """
    env = {
        **os.environ,
        "WAREHOUSE_DIR": str(paths.root),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(target_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [DBT, "build", "--quiet", "--no-use-colors", "--select", "tag:forecasts"]
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=REPORTS_TIMEOUT_S,
            pass_fds=lock_fds(),
        )
        failed, tail = done.returncode != 0, (done.stdout + done.stderr).strip()[-1500:]
    except (OSError, subprocess.TimeoutExpired) as exc:  # no dbt executable, or it hung
        failed, tail = True, str(exc)
    if failed:
        raise SaveError(
            "The run was written to the build database, but rebuilding the attribution models "
            f"(`dbt build --select tag:forecasts`) failed:\n{tail}\nFix it, then run "
            "`make attribution publish`.",
            written=True,
        )


def locked_build_write(
    paths: WarehousePaths,
    action: str,
    run_id: str,
    write: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    run_results: Path | None = None,
    rebuild_reports: bool = True,
    check: Callable[[], None] | None = None,
    error: type[SaveError] = SaveError,
    busy: type[SaveError] | None = None,
) -> tuple[T, Path, dict[str, float]]:
    """Change the build database and publish it, under the pipeline lock: the one path every
    change from the app takes (a save here, a name or a delete in :mod:`app.run_admin`), because
    the published warehouse is a read-only copy of the build database (../shared/FIELD_NOTES.md,
    DuckDB; :mod:`warehouse.publish`).

    In order, each refusal before the write leaving everything untouched:

    1. take :func:`warehouse.pipeline.pipeline_lock` (busy: ``busy``, default
       :class:`WarehouseBusyError`);
    2. ``check()``, when given (a save: the published file is still the one the run read);
    3. :func:`warehouse.publish.check_publishable` on ``run_results`` (default: dbt's, as
       ``python -m warehouse publish`` reads it): a green build and every stage of the pipeline
       run completed (:mod:`warehouse.manifest`); and the build database must exist;
    4. ``write(con)`` on the build database, which runs in one transaction of its own;
    5. with ``rebuild_reports``, :func:`refresh_reports` (the ``tag:forecasts`` dbt models, whose
       ``run_results.json`` replaces ``run_results``), recorded in the run manifest as the run's
       ``attribute`` stage: a change killed during it leaves that stage unfinished, so publish
       refuses until ``make attribution`` (or ``make all``);
    6. :func:`warehouse.publish.publish`.

    Parameters
    ----------
    action, run_id
        What is done to which run (``save``, ``label``, ``delete``), for messages and the manifest.
    write
        Called once with a read-write connection to the build database; its result is returned.

    Returns
    -------
    tuple
        ``write``'s result, the published file, seconds per step (``write``, ``reports`` when
        rebuilt, ``publish``, ``total``).

    Raises
    ------
    SaveError
        ``busy`` when a pipeline holds the lock; ``error`` for any other refusal or failure
        (``write`` raising ``ValueError`` or ``duckdb.Error`` included), whose ``written`` says
        whether step 4 had happened.
    """
    run_results = run_results or default_run_results()
    busy = busy or WarehouseBusyError
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        with pipeline_lock(paths.root):
            if check is not None:
                check()
            try:
                check_publishable(paths, run_results)
            except (PublishRefusedError, OSError, ValueError) as exc:  # bad or unreadable json
                raise error(
                    f"Publishing is refused: {exc}. Nothing was written; run `make all` (a green "
                    "dbt build and a publish), then try again."
                ) from exc
            if not paths.build_db.is_file():
                raise error(
                    f"There is no build database at `{paths.build_db}`. Nothing was written; "
                    "run `make all`, then try again."
                )
            step = time.perf_counter()
            try:
                con = io.open_database(paths.build_db)
            except duckdb.IOException as exc:
                raise error(
                    f"The build database is in use by another process ({exc}). Nothing was "
                    "written; try again when it is free."
                ) from exc
            try:
                written = write(con)
            except ValueError as exc:
                raise error(f"{exc}. Nothing was written.") from exc
            except duckdb.Error as exc:
                raise error(
                    f"Writing to the build database failed ({exc}); its transaction was rolled "
                    "back, so nothing was written."
                ) from exc
            finally:
                con.close()
            timings["write"] = time.perf_counter() - step
            if rebuild_reports:
                step = time.perf_counter()
                manifest.begin_stage(
                    paths,
                    "attribute",
                    f"app {action} of {run_id}: dbt build --select tag:forecasts",
                    manifest.dbt_invocation_id(run_results),
                )
                code = 1
                try:
                    refresh_reports(paths, run_results.parent)
                    code = 0
                except SaveError as exc:
                    raise error(str(exc), written=True) from exc
                finally:
                    manifest.finish_stage(
                        paths,
                        "attribute",
                        code,
                        dbt_invocation_id=manifest.dbt_invocation_id(run_results),
                    )
                timings["reports"] = time.perf_counter() - step
            step = time.perf_counter()
            try:
                published = publish(paths, run_results)
            except (PublishRefusedError, FileNotFoundError, duckdb.Error) as exc:
                raise error(
                    f"The {action} of {run_id} was written to the build database but publishing "
                    f"failed ({exc}). Run `make publish` to make it visible.",
                    written=True,
                ) from exc
            timings["publish"] = time.perf_counter() - step
    except PipelineBusyError as exc:
        raise busy(exc.pid or running_pipeline(paths.root)) from exc
    timings["total"] = time.perf_counter() - started
    return written, published, timings


def save_run(
    outcome: RunOutcome,
    paths: WarehousePaths,
    *,
    run_results: Path | None = None,
    rebuild_reports: bool = True,
) -> SaveReport:
    """Write ``outcome`` into the build database and publish it: :func:`locked_build_write` with
    :func:`engine.io.ensure_output_tables` and :func:`engine.io.write_result` (this run's rows
    replaced, one transaction) as the write, as ``python -m engine run`` does.

    A run that opened no position is refused first (:func:`save_refusal`); under the lock, the
    published file must still be the one the run read (a publish since then: run again).

    Raises
    ------
    WarehouseBusyError
        A pipeline holds the lock.
    SaveError
        Any other refusal or failure; ``written`` says whether the run was written.
    """
    refusal = save_refusal(outcome)
    if refusal is not None:
        raise SaveError(refusal + " Nothing was written.")

    def unchanged_since_run() -> None:
        if outcome.published_version is None or (
            db_version(paths.published_db) != outcome.published_version
        ):
            raise SaveError(
                "The warehouse was published again since this run was computed, so its "
                "inputs may differ from the build database. Run the backtest again, then "
                "save. Nothing was written."
            )

    def write(con: duckdb.DuckDBPyConnection) -> None:
        io.ensure_output_tables(con)
        io.write_result(con, outcome.result)

    _, published, timings = locked_build_write(
        paths,
        "save",
        outcome.result.run_id,
        write,
        run_results=run_results,
        rebuild_reports=rebuild_reports,
        check=unchanged_since_run,
    )
    return SaveReport(outcome.result.run_id, published, timings)
