"""Backtests started from the app: form values -> config -> engine run -> optional save.

No Streamlit here, so every step is testable on its own:

1. :class:`FormValues` holds what the Backtest page's form edits; :func:`default_form_values` reads
   them from the default config (``engine/configs/long_straddle_spx.yaml``) and
   :func:`build_config` lays them over that YAML mapping and validates the whole through
   :meth:`engine.config.BacktestConfig.from_mapping`, so a bad value raises the engine's own
   :class:`~engine.config.ConfigError` naming the key and the value.
2. :func:`run_on_published` loads the inputs with the engine's loader
   (:func:`engine.io.load_inputs`) on a hardened read-only connection to the *published*
   warehouse, closes it, then runs
   :func:`engine.backtest.run_sweep` in memory, reporting each step (load / run / metrics).
3. :func:`save_run` stores a result the way ``python -m engine run`` does, under the pipeline
   lock: :func:`engine.io.write_result` into the build database, then
   :func:`warehouse.publish.publish`. Every refusal is a :class:`SaveError` whose message says
   what happened and what to run; nothing is written when the save is refused before the write.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from app.db import db_version, reader
from app.queries import EXPECTED_COLUMNS, RunDetail
from engine import io
from engine.backtest import BacktestResult, run_sweep
from engine.config import DEFAULT_CONFIG_PATH, BacktestConfig, ConfigError, read_mapping
from engine.metrics import TRADING_DAYS_PER_YEAR
from engine.strategies import StrategyError, StrategySpec
from warehouse import manifest
from warehouse.paths import REPO_ROOT, WarehousePaths
from warehouse.pipeline import PipelineBusyError, lock_fds, pipeline_lock, running_pipeline
from warehouse.publish import (
    PublishRefusedError,
    check_publishable,
    default_run_results,
    publish,
)

#: Seconds the attribution rebuild of a save may take (about 10 s here) before it is abandoned.
REPORTS_TIMEOUT_S = 300
#: The dbt executable of this environment (beside the interpreter, as the Makefile uses it).
DBT = str(Path(sys.executable).parent / "dbt")

#: Steps reported to the ``progress`` callback of :func:`run_on_published`, in order.
STEPS: tuple[str, ...] = ("load", "run")

#: ``(step, message)``: called as each step starts.
Progress = Callable[[str, str], None]

#: Rolling-Sharpe windows in trading days, longest first: the longest one the run has at least
#: twice as many days for (a quarter, a month, two weeks).
ROLLING_WINDOWS: tuple[int, ...] = (63, 21, 10)

_INT_FIELDS = (
    "weekday",
    "target_dte",
    "min_dte",
    "max_dte",
    "max_open_positions",
    "contracts",
    "holding_days",
    "exit_dte",
)


@dataclass(frozen=True)
class FormValues:
    """What the Backtest page's form edits; the other keys come from the default YAML.

    Units follow the engine's key names (:mod:`engine.config`): ``*_dte`` calendar days,
    ``holding_days`` NYSE sessions, ``threshold`` and ``fraction`` decimal fractions,
    ``*_pct`` percent, ``*_bps`` basis points, ``*_usd`` dollars. ``None`` disables an exit rule.
    """

    strategy: str
    schedule: str
    weekday: int
    target_dte: int
    min_dte: int
    max_dte: int
    universe: str
    max_open_positions: int
    signal: str
    forecast_model: str | None
    threshold: float
    sizing_mode: str
    contracts: int
    fraction: float
    initial_capital_usd: float
    fill: str
    slippage_bps: float
    spread_fraction: float
    commission_per_contract_usd: float
    max_spread_pct: float
    take_profit_pct: float | None
    stop_loss_pct: float | None
    holding_days: int | None
    exit_dte: int | None
    exit_on_signal: bool

    @classmethod
    def from_config(cls, cfg: BacktestConfig) -> FormValues:
        """The form values of an existing config (the inverse of :func:`build_config`)."""
        e, s, x, q = cfg.entry, cfg.sizing, cfg.execution, cfg.exits
        return cls(
            strategy=cfg.strategy.name,
            schedule=e.schedule,
            weekday=e.weekday,
            target_dte=e.target_dte,
            min_dte=e.min_dte,
            max_dte=e.max_dte,
            universe=cfg.universe,
            max_open_positions=e.max_open_positions,
            signal=e.signal,
            forecast_model=e.forecast_model,
            threshold=e.threshold,
            sizing_mode=s.mode,
            contracts=s.contracts,
            fraction=s.fraction,
            initial_capital_usd=cfg.initial_capital_usd,
            fill=x.fill,
            slippage_bps=x.slippage_bps,
            spread_fraction=x.spread_fraction,
            commission_per_contract_usd=x.commission_per_contract_usd,
            max_spread_pct=x.max_spread_pct,
            take_profit_pct=q.take_profit_pct,
            stop_loss_pct=q.stop_loss_pct,
            holding_days=q.holding_days,
            exit_dte=q.exit_dte,
            exit_on_signal=q.exit_on_signal,
        )


def default_mapping(path: Path | str = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """The default config as its raw YAML mapping (the base the form's values are laid over);
    see :func:`engine.config.read_mapping` for what it raises."""
    return read_mapping(path)


def default_form_values(path: Path | str = DEFAULT_CONFIG_PATH) -> FormValues:
    """Form values of the default config (``engine/configs/long_straddle_spx.yaml``)."""
    return FormValues.from_config(BacktestConfig.from_mapping(default_mapping(path)))


def _integral(value: Any) -> Any:
    # number inputs may hand back 5.0 for 5; a non-integral float is left for the engine to
    # reject by name ("exits.holding_days must be an integer, got 2.5")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def config_mapping(values: FormValues, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The YAML-shaped mapping of ``values`` laid over ``base`` (default: the default config).

    Keys the form does not edit (``underlying_symbol``, ``option_roots``, ``multiplier``, the
    tolerances, ...) keep the base's values. Without a probability signal the forecast model is
    dropped (it would otherwise be recorded as the run's ``forecast_model`` without being used).
    """
    raw = copy.deepcopy(dict(base if base is not None else default_mapping()))
    v = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    v.update({name: _integral(v[name]) for name in _INT_FIELDS})
    raw.pop("legs", None)
    if raw.get("strategy") != v["strategy"]:  # the base's leg numbers belong to its strategy
        raw.pop("leg_overrides", None)
    raw["strategy"] = v["strategy"]
    raw["universe"] = v["universe"]
    raw["initial_capital_usd"] = v["initial_capital_usd"]
    uses_model = v["signal"] in ("prob_up_at_least", "prob_up_at_most", "top_k")
    raw["entry"] = {
        **(raw.get("entry") or {}),
        "schedule": v["schedule"],
        "weekday": v["weekday"],
        "target_dte": v["target_dte"],
        "min_dte": v["min_dte"],
        "max_dte": v["max_dte"],
        "max_open_positions": v["max_open_positions"],
        "signal": v["signal"],
        "forecast_model": v["forecast_model"] if uses_model else None,
        "threshold": v["threshold"],
    }
    raw["sizing"] = {
        **(raw.get("sizing") or {}),
        "mode": v["sizing_mode"],
        "contracts": v["contracts"],
        "fraction": v["fraction"],
    }
    raw["execution"] = {
        **(raw.get("execution") or {}),
        "fill": v["fill"],
        "slippage_bps": v["slippage_bps"],
        "spread_fraction": v["spread_fraction"],
        "commission_per_contract_usd": v["commission_per_contract_usd"],
        "max_spread_pct": v["max_spread_pct"],
    }
    raw["exits"] = {
        **(raw.get("exits") or {}),
        "take_profit_pct": v["take_profit_pct"],
        "stop_loss_pct": v["stop_loss_pct"],
        "holding_days": v["holding_days"],
        "exit_dte": v["exit_dte"],
        "exit_on_signal": v["exit_on_signal"],
    }
    return raw


def build_config(
    values: FormValues,
    base: Mapping[str, Any] | None = None,
    catalogue: dict[str, StrategySpec] | None = None,
) -> BacktestConfig:
    """Validate ``values`` into a config (see :func:`config_mapping`).

    Raises
    ------
    ConfigError
        The engine's message naming the bad key and value, e.g.
        ``entry needs 0 <= min_dte <= target_dte <= max_dte, got 20, 50, 45``.
    """
    try:
        return BacktestConfig.from_mapping(config_mapping(values, base), catalogue)
    except StrategyError as exc:  # pragma: no cover - from_mapping already wraps these
        raise ConfigError(str(exc)) from exc


# --- running -------------------------------------------------------------------------------------


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


def rolling_window(n_days: int) -> int | None:
    """The longest of :data:`ROLLING_WINDOWS` that fits twice in ``n_days``, else ``None``.

    >>> rolling_window(300), rolling_window(60), rolling_window(23), rolling_window(12)
    (63, 21, 10, None)
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
    say("load", f"Loading the {cfg.underlying_symbol} chain{signal} (read-only)")
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
    """The run as the Backtest page shows a saved one (the columns of :mod:`app.queries`)."""

    def columns(table: str, keep_run_id: bool = False) -> list[str]:
        return [c for c in EXPECTED_COLUMNS[table] if keep_run_id or c != "run_id"]

    runs = result.runs
    return RunDetail(
        metrics=result.metrics.select(columns("metrics", keep_run_id=True)),
        equity=result.equity_daily.sort("quote_date").select(columns("equity_daily")),
        trades=result.trades.sort("entry_date", "trade_id").select(columns("trades")),
        config_json=runs.item(0, "config_json") if runs.height else None,
        legs=result.legs.sort("trade_id", "leg_no").select(columns("legs")),
    )


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


def save_run(
    outcome: RunOutcome,
    paths: WarehousePaths,
    *,
    run_results: Path | None = None,
    rebuild_reports: bool = True,
) -> SaveReport:
    """Write ``outcome`` into the build database and publish it, under the pipeline lock.

    In order, each refusal before the write leaving everything untouched:

    1. take :func:`warehouse.pipeline.pipeline_lock` (busy: :class:`WarehouseBusyError`);
    2. the published file must be the one the run read (a publish since then: run again);
    3. :func:`warehouse.publish.check_publishable` on ``run_results`` (default: dbt's, as
       ``python -m warehouse publish`` reads it): a green build and every stage of the pipeline
       run completed (:mod:`warehouse.manifest`); and the build database must exist;
    4. :func:`engine.io.ensure_output_tables` and :func:`engine.io.write_result` (this run's
       rows replaced, one transaction), as ``python -m engine run`` does;
    5. with ``rebuild_reports``, :func:`refresh_reports` (the ``tag:forecasts`` dbt models, whose
       ``run_results.json`` replaces ``run_results``), recorded in the run manifest as the run's
       ``attribute`` stage: a save killed during it leaves that stage unfinished, so publish
       refuses until ``make attribution`` (or ``make all``);
    6. :func:`warehouse.publish.publish`.

    Raises
    ------
    WarehouseBusyError
        A pipeline holds the lock.
    SaveError
        Any other refusal or failure; ``written`` says whether step 4 had happened.
    """
    run_results = run_results or default_run_results()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        with pipeline_lock(paths.root):
            if outcome.published_version is None or (
                db_version(paths.published_db) != outcome.published_version
            ):
                raise SaveError(
                    "The warehouse was published again since this run was computed, so its "
                    "inputs may differ from the build database. Run the backtest again, then "
                    "save. Nothing was written."
                )
            try:
                check_publishable(paths, run_results)
            except (PublishRefusedError, OSError, ValueError) as exc:  # bad or unreadable json
                raise SaveError(
                    f"Publishing is refused: {exc}. The run stays unsaved; run `make all` "
                    "(a green dbt build and a publish), then save again."
                ) from exc
            if not paths.build_db.is_file():
                raise SaveError(
                    f"There is no build database at `{paths.build_db}` to write into. The run "
                    "stays unsaved; run `make all`, then save again."
                )
            step = time.perf_counter()
            try:
                con = io.open_database(paths.build_db)
            except duckdb.IOException as exc:
                raise SaveError(
                    f"The build database is in use by another process ({exc}). The run stays "
                    "unsaved; save again when it is free."
                ) from exc
            try:
                io.ensure_output_tables(con)
                io.write_result(con, outcome.result)
            except duckdb.Error as exc:
                raise SaveError(
                    f"Writing the run into the build database failed ({exc}); its transaction "
                    "was rolled back, so nothing was written."
                ) from exc
            finally:
                con.close()
            timings["write"] = time.perf_counter() - step
            if rebuild_reports:
                step = time.perf_counter()
                manifest.begin_stage(
                    paths,
                    "attribute",
                    f"app save of {outcome.result.run_id}: dbt build --select tag:forecasts",
                    manifest.dbt_invocation_id(run_results),
                )
                code = 1
                try:
                    refresh_reports(paths, run_results.parent)
                    code = 0
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
                raise SaveError(
                    f"The run was written to the build database but publishing failed ({exc}). "
                    "Run `make publish` to make it visible.",
                    written=True,
                ) from exc
            timings["publish"] = time.perf_counter() - step
    except PipelineBusyError as exc:
        raise WarehouseBusyError(exc.pid or running_pipeline(paths.root)) from exc
    timings["total"] = time.perf_counter() - started
    return SaveReport(outcome.result.run_id, published, timings)
