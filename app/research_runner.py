"""Sweeps and scans started from the app (the Research page): ``engine sweep`` and ``engine scan``
on the published warehouse, read-only, bounded, nothing written.

No Streamlit here, so every step is testable on its own.

**Sweep** (``python -m engine sweep``, :func:`engine.backtest.run_sweep`): one config run under
every combination of the values of one or two exit parameters (:data:`engine.backtest.
SWEEP_KEYS`); positions and marks are built once and the grid is an axis of the exit
computation.

1. The base config is a YAML file under ``engine/configs/`` (:func:`config_files`, read as
   ``python -m engine`` reads it) or a saved run's ``backtest.runs.config_json``
   (:func:`saved_run_mapping`, which rebuilds the config that run had: same ``run_id``).
2. :func:`parse_axis_values` reads one axis as the CLI's ``--axis KEY=V1,V2`` does (``none``
   turns a rule off); :func:`sweep_configs` lays every grid row over the base and validates it
   through :meth:`engine.config.BacktestConfig.from_mapping` (so a bad value raises the engine's
   own :class:`~engine.config.ConfigError` naming the key and value), refusing grids above
   :data:`MAX_AXIS_VALUES` values an axis or :data:`MAX_GRID_CELLS` cells.
3. :func:`run_sweep_on_published` loads the inputs on a hardened read-only connection to the
   published file (as :func:`app.backtest_runner.run_on_published` does), closes it, runs the
   grid in memory and returns one row per cell (:func:`sweep_table`).

**Scan** (``python -m engine scan``, :func:`engine.scan.run_scan`): every candidate entry of a
structure over the real chain (``marts.fct_option_quotes_daily``), exited at a fixed DTE,
aggregated by entry DTE × moneyness (or delta) bucket; :func:`scan_cells` folds the summary to
one strike leg's buckets for a heatmap.

Bounds: one sweep or scan at a time per app process (:func:`exclusive_job`, a second one is
refused with :class:`ResearchBusyError`), grids of at most :data:`MAX_GRID_CELLS` cells, scans of
at most :data:`MAX_SCAN_ENTRY_DTE` days with equal-winged condors only. Measured here on 2 cores
(SPX 2019 chain, 56 sessions): a 3×3 iron-condor sweep loads in 0.8 s and runs in 0.5 s (0.5 GB
peak); a 10×10 one runs in 2.7 s; a 7×7 grid on the 16-year MODELED chain loads in 13 s, runs in
13 s and peaks at 5.8 GB, which is why only one job runs at a time. Scans read the 0.79 M SPX
quotes in 0.4 s; a long-call scan takes 0.1 s, a short put vertical (8.8 M trades) 2.6 s, a short
iron condor (4.5 M) 0.8 s; the unequal-winged condor the engine allows (45 M trades, 25 s,
2.6 GB) is left to the shell.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from app.backtest_runner import Progress
from app.db import db_version, read, reader
from engine import io
from engine.backtest import SWEEP_KEYS, BacktestResult, run_sweep
from engine.config import BacktestConfig, ConfigError, read_mapping
from engine.metrics import MIN_MEANINGFUL_TRADES
from engine.scan import (
    BUCKET_LEGS,
    SCAN_QUOTE_COLUMNS,
    ScanConfig,
    ScanConfigError,
    bucket_labels,
    run_scan,
)
from engine.strategies import StrategySpec, load_catalogue
from warehouse.paths import REPO_ROOT
from warehouse.safe_yaml import excerpt

#: Where the sweepable YAML configs live (``engine/configs/**/*.yaml``).
CONFIG_DIR = REPO_ROOT / "engine" / "configs"
#: The config the Sweep tab opens on: the weekly 16-delta iron condor of ``make all``.
DEFAULT_SWEEP_CONFIG = "iron_condor_spx.yaml"

#: Most values on one sweep axis (a heatmap row or column stays legible).
MAX_AXIS_VALUES = 7
#: Most cells of one sweep grid: 7 × 7. The 16-year MODELED iron condor sweeps 49 cells in 26 s
#: at 5.8 GB peak here (the inputs dominate); the real 2019 chain 100 cells in 2.7 s.
MAX_GRID_CELLS = 49
#: Exit keys whose values are whole numbers (sessions, calendar days); the others are percents.
INTEGER_KEYS: frozenset[str] = frozenset({"holding_days", "exit_dte"})

#: Largest ``max_entry_dte`` a scan from the app may ask (calendar days). A short put vertical
#: scan of the SPX 2019 chain makes 8.8 M trades at 45 days (2.6 s) and 11.7 M at 90 (3.2 s,
#: 0.9 GB); the engine allows 3650.
MAX_SCAN_ENTRY_DTE = 120

#: Fewest closed trades (sweep) or trades (scan) a heatmap cell needs before it is coloured:
#: the engine's threshold for a meaningful sample (:data:`engine.metrics.MIN_MEANINGFUL_TRADES`).
DEFAULT_MIN_TRADES = MIN_MEANINGFUL_TRADES

#: Steps reported to the ``progress`` callback, in order.
SWEEP_STEPS: tuple[str, ...] = ("load", "sweep")
SCAN_STEPS: tuple[str, ...] = ("load", "scan")

#: Columns of one sweep cell (:func:`sweep_table`), in order.
SWEEP_COLUMNS: tuple[str, ...] = (
    "cell_no",
    *SWEEP_KEYS,
    "run_id",
    "n_closed_trades",
    "n_open_trades",
    "n_skipped_entries",
    "n_sessions",
    "total_return",
    "cagr",
    "sharpe_ratio",
    "sharpe_ratio_ci_low",
    "sharpe_ratio_ci_high",
    "max_drawdown",
    "win_rate",
    "avg_trade_pnl_usd",
    "is_meaningful",
    "sample_note",
)

#: The cells' columns that come from ``backtest.metrics`` (engine.schema.METRICS_SCHEMA).
_SWEEP_METRIC_COLUMNS = tuple(
    c for c in SWEEP_COLUMNS[SWEEP_COLUMNS.index("n_closed_trades") :] if c != "n_skipped_entries"
)


class ResearchBusyError(RuntimeError):
    """Another sweep or scan of this app process is running; nothing was started."""


class GridError(ConfigError):
    """A sweep grid is malformed or too large; the message names the key and the bad value."""


# --- one job at a time ---------------------------------------------------------------------------

_JOB_LOCK = threading.Lock()
_running: list[str] = []  # what holds _JOB_LOCK, for the refusal message


@contextmanager
def exclusive_job(what: str) -> Iterator[None]:
    """Hold the app's one research slot while ``what`` runs (Streamlit serves every session
    from threads of one process, and a MODELED sweep alone peaks near 6 GB).

    Raises
    ------
    ResearchBusyError
        When another sweep or scan holds the slot (it names that job); nothing waits.
    """
    if not _JOB_LOCK.acquire(blocking=False):
        busy = _running[0] if _running else "another job"
        raise ResearchBusyError(
            f"Another sweep or scan is running in this app ({busy}); run yours when it ends."
        )
    _running[:] = [what]
    try:
        yield
    finally:
        _running.clear()
        _JOB_LOCK.release()


# --- base configs --------------------------------------------------------------------------------


def config_files(root: Path = CONFIG_DIR) -> list[str]:
    """The YAML configs under ``root``, relative to it: the top level first, then each
    sub-folder (``benchmarks/``, ``validation/``), each sorted by name.

    >>> "iron_condor_spx.yaml" in config_files()
    True
    """
    paths = sorted(root.rglob("*.yaml"), key=lambda p: (len(p.relative_to(root).parts), p))
    return [p.relative_to(root).as_posix() for p in paths]


def config_file_mapping(name: str, root: Path = CONFIG_DIR) -> dict[str, Any]:
    """The raw mapping of ``root / name`` (see :func:`engine.config.read_mapping`).

    Raises
    ------
    ConfigError
        When ``name`` is not one of :func:`config_files` (named), or its YAML is unreadable.
    """
    if name not in config_files(root):
        raise ConfigError(f"no config {excerpt(name)} under {root}")
    return read_mapping(root / name)


def _leg_mapping(leg: Mapping[str, Any]) -> dict[str, Any]:
    """One leg of ``BacktestConfig.to_dict()`` as a config's inline ``legs:`` entry."""
    out: dict[str, Any] = {"type": leg["leg_type"], "side": leg["side"], "ratio": leg["ratio"]}
    if leg["leg_type"] == "stock":
        return out
    out["expiry"] = leg["expiry"]
    if leg["rule"] == "same_strike_as":
        out["same_strike_as"] = leg["of"]
    elif leg["rule"] is not None:
        out[leg["rule"]] = leg["value"]
        if leg["rule"] == "width_pct":
            out["of"] = leg["of"]
    return out


def saved_config_mapping(config_json: str) -> tuple[dict[str, Any], str]:
    """A saved run's ``config_json`` (:meth:`BacktestConfig.to_dict`) as a config mapping.

    The strategy becomes its name with inline ``legs:`` (its legs as the run traded them, leg
    overrides applied) and ``cash_secured``; every other key is kept.

    Returns
    -------
    tuple[dict, str]
        The mapping (input of :meth:`BacktestConfig.from_mapping`) and the strategy's
        description, which inline legs cannot carry but the config hash covers (see
        :func:`build_config`).

    Raises
    ------
    ConfigError
        When ``config_json`` is not a JSON object with a strategy mapping of legs.
    """
    try:
        raw = json.loads(config_json)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config_json is not JSON: {excerpt(config_json)}") from exc
    strategy = raw.get("strategy") if isinstance(raw, dict) else None
    if not isinstance(strategy, dict) or not isinstance(strategy.get("legs"), list):
        raise ConfigError(f"config_json has no strategy with legs: {excerpt(config_json)}")
    try:
        legs = [_leg_mapping(leg) for leg in strategy["legs"]]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"config_json has a malformed leg: {excerpt(strategy['legs'])}") from exc
    mapping = {k: v for k, v in raw.items() if k != "strategy"}
    mapping.update(
        strategy=strategy.get("name"),
        legs=legs,
        cash_secured=bool(strategy.get("cash_secured", False)),
    )
    return mapping, str(strategy.get("description", ""))


def build_config(
    mapping: Mapping[str, Any],
    description: str | None = None,
    catalogue: dict[str, StrategySpec] | None = None,
) -> BacktestConfig:
    """Validate ``mapping`` into a config; ``description`` (from :func:`saved_config_mapping`)
    replaces the inline strategy's empty one so the config hashes as the saved run did.

    Raises
    ------
    ConfigError
        The engine's message naming the bad key and value.
    """
    cfg = BacktestConfig.from_mapping(copy.deepcopy(dict(mapping)), catalogue)
    if description:
        cfg = dataclasses.replace(
            cfg, strategy=dataclasses.replace(cfg.strategy, description=description)
        )
    return cfg


_SAVED_RUNS_SQL = """
select runs.run_id, runs.strategy, runs.underlying_symbol, runs.config_json
from backtest.runs as runs
order by runs.run_id
"""


def saved_runs(db: Path | str) -> pl.DataFrame:
    """Saved runs whose config a sweep can start from.

    Returns
    -------
    polars.DataFrame
        One row per run of ``backtest.runs``, ordered by ``run_id``: ``run_id``, ``strategy``,
        ``underlying_symbol``, ``config_json`` (strings).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.runs`` does not exist.
    """
    return read(db, _SAVED_RUNS_SQL)


# --- sweep grids ---------------------------------------------------------------------------------


def parse_axis_values(key: str, text: str) -> tuple[float | int | None, ...]:
    """One sweep axis from text, as ``python -m engine sweep --axis KEY=V1,V2`` reads it.

    Values are separated by commas; ``none`` (any case) or ``off`` turns the rule off.
    ``holding_days`` and ``exit_dte`` take whole numbers, the percent keys any number; ranges
    are the engine's and are checked by :func:`sweep_configs`.

    Raises
    ------
    GridError
        An unknown key, no value, a value that is not a number (or not whole for the integer
        keys), a repeated value, or more than :data:`MAX_AXIS_VALUES` values; the message names
        the key and the value (at most 80 characters of it).

    Examples
    --------
    >>> parse_axis_values("take_profit_pct", "25, 50,none")
    (25.0, 50.0, None)
    >>> parse_axis_values("holding_days", "3,5")
    (3, 5)
    """
    if key not in SWEEP_KEYS:
        raise GridError(f"sweep axes must be among {list(SWEEP_KEYS)}, got {excerpt(key)}")
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise GridError(f"{key}: give at least one value (e.g. 25, 50, none)")
    values: list[float | int | None] = []
    for part in parts:
        if not part:
            raise GridError(f"{key}: empty value in {excerpt(text)}")
        if part.lower() in ("none", "off"):
            value: float | int | None = None
        else:
            try:
                number = float(part)
            except ValueError as exc:
                raise GridError(f"{key}: {excerpt(part)} is not a number") from exc
            if not math.isfinite(number):
                raise GridError(f"{key}: {excerpt(part)} is not a finite number")
            if key in INTEGER_KEYS:
                if not number.is_integer():
                    raise GridError(f"{key}: {excerpt(part)} is not a whole number")
                value = int(number)
            else:
                value = number
        if value in values:
            raise GridError(f"{key}: {excerpt(part)} is given twice")
        values.append(value)
    if len(values) > MAX_AXIS_VALUES:
        raise GridError(
            f"{key}: {len(values)} values, at most {MAX_AXIS_VALUES} an axis in the app "
            "(use `python -m engine sweep` for bigger grids)"
        )
    return tuple(values)


def sweep_configs(
    base: Mapping[str, Any],
    axes: Mapping[str, Sequence[float | int | None]],
    *,
    description: str | None = None,
    catalogue: dict[str, StrategySpec] | None = None,
) -> list[BacktestConfig]:
    """Every grid row of ``axes`` laid over ``base``'s exits, validated, in grid order.

    Parameters
    ----------
    base
        Config mapping (:func:`config_file_mapping` or :func:`saved_config_mapping`).
    axes
        ``SWEEP_KEYS`` key -> values (:func:`parse_axis_values`); one or two axes, the first
        varying slowest (the order of :func:`engine.backtest.sweep_grid`). ``None`` turns a
        rule off.
    description
        See :func:`build_config`.

    Returns
    -------
    list[BacktestConfig]
        One config per cell (``len = prod(len(values))``), each with its own ``run_id``.

    Raises
    ------
    GridError
        No axis, more than two, an unknown or repeated key, an empty axis, more than
        :data:`MAX_AXIS_VALUES` values an axis or :data:`MAX_GRID_CELLS` cells.
    ConfigError
        A cell the engine rejects (e.g. ``exits.take_profit_pct must be in [0, 10000], got
        -5``), named with the cell.
    """
    if not 1 <= len(axes) <= 2:
        raise GridError(f"a sweep from the app has one or two axes, got {list(axes)}")
    unknown = [k for k in axes if k not in SWEEP_KEYS]
    if unknown:
        raise GridError(f"sweep axes must be among {list(SWEEP_KEYS)}, got {excerpt(unknown)}")
    n_cells = 1
    for key, values in axes.items():
        if not values:
            raise GridError(f"{key}: the axis has no value")
        if len(values) > MAX_AXIS_VALUES:
            raise GridError(f"{key}: {len(values)} values, at most {MAX_AXIS_VALUES} an axis")
        n_cells *= len(values)
    if n_cells > MAX_GRID_CELLS:
        raise GridError(
            f"the grid has {n_cells} cells, at most {MAX_GRID_CELLS} in the app "
            "(use `python -m engine sweep` for bigger grids)"
        )
    catalogue = catalogue if catalogue is not None else load_catalogue()
    keys = list(axes)
    rows: list[dict[str, Any]] = [{}]
    for key in keys:  # the first axis varies slowest, as itertools.product
        rows = [{**row, key: value} for row in rows for value in axes[key]]
    configs = []
    for row in rows:
        mapping = copy.deepcopy(dict(base))
        mapping["exits"] = {**(mapping.get("exits") or {}), **row}
        try:
            configs.append(build_config(mapping, description, catalogue))
        except ConfigError as exc:
            cell = ", ".join(f"{k}={v}" for k, v in row.items())
            raise ConfigError(f"grid cell {cell}: {exc}") from exc
    return configs


# --- running a sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """One sweep from the app, held in memory (never written).

    Attributes
    ----------
    configs
        One config per cell, grid order.
    axes
        The swept keys and their values, in axis order (first = slowest).
    table
        One row per cell (:func:`sweep_table`).
    equity
        ``run_id, quote_date, equity_usd, drawdown`` of every cell (one row per cell per
        session; USD, decimal drawdown <= 0).
    chain_source, chain_model_version
        The chain the runs traded (``'modeled'``: model prices, labelled on the page).
    published_version
        :func:`app.db.db_version` of the file read, ``None`` when a publish replaced it during
        the load.
    timings_s
        Seconds per step of :data:`SWEEP_STEPS`, and ``total``.
    """

    configs: tuple[BacktestConfig, ...]
    axes: dict[str, tuple[float | int | None, ...]]
    table: pl.DataFrame
    equity: pl.DataFrame
    chain_source: str
    chain_model_version: str | None
    published_version: str | None
    timings_s: dict[str, float]


def sweep_table(
    configs: Sequence[BacktestConfig], results: Sequence[BacktestResult]
) -> pl.DataFrame:
    """One row per grid cell: its exit values, run id and metrics with their sample.

    Parameters
    ----------
    configs, results
        Cells in grid order (``results[i]`` ran ``configs[i]``).

    Returns
    -------
    polars.DataFrame
        :data:`SWEEP_COLUMNS`: ``cell_no`` (0-based grid order), the four exit keys
        (``take_profit_pct``, ``stop_loss_pct`` percent; ``holding_days`` sessions; ``exit_dte``
        calendar days; null = off), ``run_id``, ``n_closed_trades``, ``n_open_trades``,
        ``n_skipped_entries`` (scheduled entries that opened nothing), ``n_sessions``,
        ``total_return``, ``cagr``, ``max_drawdown``, ``win_rate`` (decimal),
        ``sharpe_ratio`` with its 95 % interval (Lo 2002, as :mod:`engine.metrics` computes it),
        ``avg_trade_pnl_usd``, ``is_meaningful``, ``sample_note`` (the engine's; NaN metrics are
        the engine's degenerate values).

    Raises
    ------
    ValueError
        When the two sequences differ in length, or a result's run id is not its config's.
    """
    if len(configs) != len(results):
        raise ValueError(f"{len(configs)} configs but {len(results)} results")
    for cfg, result in zip(configs, results, strict=True):
        if cfg.run_id != result.run_id:
            raise ValueError(f"result {result.run_id!r} is not the run of {cfg.run_id!r}")
    exits = pl.DataFrame(
        {k: [getattr(c.exits, k) for c in configs] for k in SWEEP_KEYS},
        schema={
            "take_profit_pct": pl.Float64,
            "stop_loss_pct": pl.Float64,
            "holding_days": pl.Int64,
            "exit_dte": pl.Int64,
        },
    )
    if not results:
        empty = {c: pl.Float64 for c in _SWEEP_METRIC_COLUMNS}
        metrics = pl.DataFrame(schema={"run_id": pl.String, **empty})
    else:
        metrics = pl.concat([r.metrics for r in results], how="vertical_relaxed")
    skipped = pl.Series(
        "n_skipped_entries", [r.skipped_entries.height for r in results], dtype=pl.Int64
    )
    return (
        pl.concat([exits, metrics.select("run_id", *_SWEEP_METRIC_COLUMNS)], how="horizontal")
        .with_columns(skipped, pl.int_range(pl.len(), dtype=pl.Int64).alias("cell_no"))
        .select(SWEEP_COLUMNS)
    )


def run_sweep_on_published(
    configs: Sequence[BacktestConfig],
    axes: Mapping[str, Sequence[float | int | None]],
    db: Path | str,
    *,
    progress: Progress | None = None,
) -> SweepOutcome:
    """Run the grid ``configs`` (from :func:`sweep_configs`) on the published warehouse ``db``.

    The connection is open only while :func:`engine.io.load_inputs` reads; the grid then runs in
    memory as one computation (:func:`engine.backtest.run_sweep`, ``grid`` = the cells' exits).
    Nothing is written. Runs inside :func:`exclusive_job`.

    Raises
    ------
    ResearchBusyError
        Another sweep or scan of this process is running.
    FileNotFoundError
        When ``db`` does not exist.
    engine.io.MissingTableError
        An input table or column is missing (named, with the command that builds it).
    ValueError
        No configs, configs that differ in more than their exits, no current predictions of
        the signal's model, or no trading day in the window.
    duckdb.IOException
        When the file is locked or being replaced.
    """
    if not configs:
        raise ValueError("a sweep needs at least one grid cell")
    base = configs[0]
    for cfg in configs[1:]:
        if dataclasses.replace(cfg, exits=base.exits) != base:
            raise ValueError(f"grid cell {cfg.run_id} differs from {base.run_id} beyond its exits")
    say = progress or (lambda step, message: None)
    timings: dict[str, float] = {}
    what = f"a {len(configs)}-cell sweep of {base.strategy.name}"
    with exclusive_job(what):
        started = time.perf_counter()
        chain = "MODELED chain" if base.chain_source == "modeled" else "chain"
        say("load", f"Loading the {base.underlying_symbol} {chain} (read-only)")
        version = db_version(db)
        with reader(db) as con:
            inputs = io.load_inputs(con, base, db_path=db)
        if db_version(db) != version:
            version = None
        timings["load"] = time.perf_counter() - started

        step = time.perf_counter()
        say("sweep", f"Backtesting {base.strategy.name} over {len(configs)} exit configurations")
        results = [
            io.with_provenance(r, inputs)
            for r in run_sweep(
                inputs.chain,
                inputs.universe,
                inputs.underlying,
                base,
                grid=[c.exits for c in configs],
                **inputs.signals,
            )
        ]
        timings["sweep"] = time.perf_counter() - step
    table = sweep_table(configs, results)
    equity = pl.concat(
        [
            r.equity_daily.select(
                pl.lit(r.run_id, dtype=pl.String).alias("run_id"),
                "quote_date",
                pl.col("equity_usd").cast(pl.Float64),
                pl.col("drawdown").cast(pl.Float64),
            )
            for r in results
        ]
    )
    runs = results[0].runs
    timings["total"] = time.perf_counter() - started
    return SweepOutcome(
        configs=tuple(configs),
        axes={k: tuple(v) for k, v in axes.items()},
        table=table,
        equity=equity.sort("run_id", "quote_date"),
        chain_source=runs.item(0, "chain_source") if runs.height else inputs.chain_source,
        chain_model_version=runs.item(0, "chain_model_version") if runs.height else None,
        published_version=version,
        timings_s=timings,
    )


# --- scans ---------------------------------------------------------------------------------------

_SCAN_UNIVERSE_SQL = """
select
    quotes.underlying_symbol,
    quotes.option_root,
    count(*) as n_quotes,
    min(quotes.quote_date) as first_date,
    max(quotes.quote_date) as last_date
from marts.fct_option_quotes_daily as quotes
group by all
order by quotes.underlying_symbol, quotes.option_root
"""

_SCAN_QUOTES_SQL = f"""
select {", ".join(f"quotes.{c}" for c in SCAN_QUOTE_COLUMNS)}
from marts.fct_option_quotes_daily as quotes
where quotes.underlying_symbol = ? and list_contains(?, quotes.option_root)
"""


def scan_universe(db: Path | str) -> pl.DataFrame:
    """What a scan can read: one row per ``(underlying_symbol, option_root)`` of
    ``marts.fct_option_quotes_daily`` (real market quotes) with ``n_quotes`` (int),
    ``first_date``, ``last_date``; ordered by symbol and root.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When the mart does not exist.
    """
    return read(db, _SCAN_UNIVERSE_SQL)


def scan_config(values: Mapping[str, Any]) -> ScanConfig:
    """A :class:`engine.scan.ScanConfig` from the Scan tab's values, within the app's bounds.

    Raises
    ------
    ScanConfigError
        The engine's message for an unknown key or bad value; ``max_entry_dte`` above
        :data:`MAX_SCAN_ENTRY_DTE`, or ``equal_wings`` false (both named).
    """
    if values.get("equal_wings", True) is not True:
        raise ScanConfigError(
            f"equal_wings must be true in the app (unequal wings make ten times the trades: "
            f"45 M on the SPX 2019 chain, 25 s, 2.6 GB), got {excerpt(values['equal_wings'])}; "
            "use `python -m engine scan --config`"
        )
    dte = values.get("max_entry_dte", ScanConfig.max_entry_dte)
    if isinstance(dte, int | float) and not isinstance(dte, bool) and dte > MAX_SCAN_ENTRY_DTE:
        raise ScanConfigError(
            f"max_entry_dte must be <= {MAX_SCAN_ENTRY_DTE} in the app, got {excerpt(dte)}; "
            "use `python -m engine scan` for longer scans"
        )
    return ScanConfig.from_mapping(values)


@dataclass(frozen=True)
class ScanOutcome:
    """One scan from the app, held in memory.

    Attributes
    ----------
    config
        The scan settings (defaults filled in).
    underlying_symbol, option_roots
        What was scanned.
    n_quotes
        Quotes read (``marts.fct_option_quotes_daily`` rows of the underlying's roots).
    summary
        :func:`engine.scan.run_scan`'s aggregate, one row per non-empty bucket combination.
    published_version, timings_s
        As in :class:`SweepOutcome` (steps :data:`SCAN_STEPS`).
    """

    config: ScanConfig
    underlying_symbol: str
    option_roots: tuple[str, ...]
    n_quotes: int
    summary: pl.DataFrame
    published_version: str | None
    timings_s: dict[str, float]

    @property
    def n_trades(self) -> int:
        """Trades over every bucket."""
        return int(self.summary["n_trades"].sum()) if self.summary.height else 0

    @property
    def n_exact_exit(self) -> int:
        """Trades whose exit day was exactly ``exit_dte`` before expiry."""
        return int(self.summary["n_exact_exit"].sum()) if self.summary.height else 0


def run_scan_on_published(
    cfg: ScanConfig,
    db: Path | str,
    underlying_symbol: str,
    option_roots: Sequence[str],
    *,
    progress: Progress | None = None,
) -> ScanOutcome:
    """Scan ``cfg`` over the real quotes of ``underlying_symbol``'s ``option_roots`` in the
    published warehouse ``db`` (read-only, nothing written), as ``python -m engine scan`` does.

    Runs inside :func:`exclusive_job`; only the aggregate is collected (the combinatorial
    structures stream, :func:`engine.scan.run_scan`).

    Raises
    ------
    ResearchBusyError
        Another sweep or scan of this process is running.
    ValueError
        No root given, no quote of them (named), or duplicate quotes (:func:`run_scan`).
    FileNotFoundError, duckdb.IOException, duckdb.CatalogException
        As :func:`app.db.reader` and a missing mart.
    """
    roots = tuple(dict.fromkeys(str(r) for r in option_roots))
    if not roots:
        raise ValueError("choose at least one option root to scan")
    say = progress or (lambda step, message: None)
    timings: dict[str, float] = {}
    with exclusive_job(f"a {cfg.side} {cfg.structure} scan of {underlying_symbol}"):
        started = time.perf_counter()
        say("load", f"Reading the {underlying_symbol} {list(roots)} quotes (read-only)")
        version = db_version(db)
        quotes = read(db, _SCAN_QUOTES_SQL, [underlying_symbol, list(roots)])
        if db_version(db) != version:
            version = None
        if quotes.is_empty():
            raise ValueError(
                f"no quote of {excerpt(underlying_symbol)} roots {list(roots)} in "
                "marts.fct_option_quotes_daily"
            )
        timings["load"] = time.perf_counter() - started
        step = time.perf_counter()
        say("scan", f"Scanning every {cfg.side} {cfg.structure} over {quotes.height:,} quotes")
        summary = run_scan(quotes.lazy(), cfg, keep_trades=False).summary
        timings["scan"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return ScanOutcome(cfg, underlying_symbol, roots, quotes.height, summary, version, timings)


#: The label of a strike leg's null bucket (a quote without a delta, ``bucket_by='delta'``).
NO_BUCKET = "no delta"


def scan_bucket_legs(cfg: ScanConfig) -> tuple[int, ...]:
    """The legs whose entry bucket is a key of ``cfg``'s summary (:data:`engine.scan.BUCKET_LEGS`).

    >>> scan_bucket_legs(ScanConfig(structure="iron_condor"))
    (1, 2, 3, 4)
    """
    return BUCKET_LEGS[cfg.structure]


def scan_cells(summary: pl.DataFrame, cfg: ScanConfig, leg: int = 1) -> pl.DataFrame:
    """The scan summary folded to entry DTE × one strike leg's bucket (a heatmap's cells).

    A structure with several bucketed legs has one summary row per combination of their
    buckets; a cell here pools the rows of one ``(dte_bucket, bucket of leg)``: counts add, and
    ``return_mean``, ``win_rate`` and ``pnl_points_mean`` are their means weighted by
    ``n_trades`` (exact for the last two; for ``return_mean`` exact unless a trade had a zero
    entry premium, whose return is undefined and left out by the engine). Quantiles do not pool:
    ``return_median`` is kept only when ``leg`` is the one bucketed leg.

    Parameters
    ----------
    summary
        :func:`engine.scan.run_scan`'s summary for ``cfg``: ``dte_bucket``,
        ``<bucket_by>_bucket_leg<i>``, ``n_trades``, ``n_exact_exit``, ``return_mean``,
        ``return_median``, ``win_rate`` (decimal), ``pnl_points_mean`` (index points).
    cfg
        The scan's settings (bucket edges give the order of the labels).
    leg
        One of :func:`scan_bucket_legs`.

    Returns
    -------
    polars.DataFrame
        One row per non-empty cell, sorted by ``dte_order, bucket_order``: ``dte_bucket``,
        ``bucket`` (labels; :data:`NO_BUCKET` for a null delta), ``dte_order``,
        ``bucket_order`` (ints, the buckets' order on the axis), ``n_trades``, ``n_exact_exit``,
        ``return_mean``, ``return_median`` (null when pooled), ``win_rate``,
        ``pnl_points_mean`` (floats; null where the engine's is).

    Raises
    ------
    ValueError
        When ``leg`` is not bucketed, or ``summary`` lacks a column (named).

    Examples
    --------
    >>> cfg = ScanConfig(structure="strangle", bucket_edges=(0.9, 1.1))
    >>> summary = pl.DataFrame({
    ...     "dte_bucket": ["(7, 14]", "(7, 14]"],
    ...     "moneyness_bucket_leg1": ["[0.9, 1.1)", "[0.9, 1.1)"],
    ...     "moneyness_bucket_leg2": ["(-inf, 0.9)", "[0.9, 1.1)"],
    ...     "n_trades": [1, 3], "n_exact_exit": [1, 3], "return_mean": [0.4, 0.0],
    ...     "return_median": [0.4, 0.0], "win_rate": [1.0, 0.0], "pnl_points_mean": [2.0, -2.0]})
    >>> scan_cells(summary, cfg, leg=1).select("n_trades", "return_mean", "win_rate").row(0)
    (4, 0.1, 0.25)
    """
    legs = scan_bucket_legs(cfg)
    if leg not in legs:
        raise ValueError(f"leg must be one of {list(legs)} for a {cfg.structure}, got {leg!r}")
    column = f"{cfg.bucket_by}_bucket_leg{leg}"
    needed = [
        "dte_bucket",
        column,
        "n_trades",
        "n_exact_exit",
        "return_mean",
        "return_median",
        "win_rate",
        "pnl_points_mean",
    ]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(f"scan summary lacks columns {missing}, has {summary.columns}")
    dte_labels = bucket_labels(cfg.dte_bucket_edges, left_closed=False)
    labels = [*bucket_labels(cfg.bucket_edges, left_closed=True), NO_BUCKET]
    n = pl.col("n_trades").cast(pl.Float64)

    def pooled(name: str) -> pl.Expr:
        value = pl.col(name).cast(pl.Float64).fill_nan(None)
        weight = pl.when(value.is_not_null()).then(n).sum()
        return pl.when(weight > 0).then((value * n).sum() / weight).alias(name)

    pooled_median = (
        pl.col("return_median").cast(pl.Float64).first()
        if len(legs) == 1
        else pl.lit(None, dtype=pl.Float64)
    )
    return (
        summary.select(needed)
        .with_columns(pl.col(column).fill_null(NO_BUCKET).alias("bucket"))
        .group_by("dte_bucket", "bucket")
        .agg(
            pl.col("n_trades").sum().cast(pl.Int64),
            pl.col("n_exact_exit").sum().cast(pl.Int64),
            pooled("return_mean"),
            pooled_median.alias("return_median"),
            pooled("win_rate"),
            pooled("pnl_points_mean"),
        )
        .with_columns(
            pl.col("dte_bucket")
            .replace_strict(dte_labels, list(range(len(dte_labels))), return_dtype=pl.Int64)
            .alias("dte_order"),
            pl.col("bucket")
            .replace_strict(labels, list(range(len(labels))), return_dtype=pl.Int64)
            .alias("bucket_order"),
        )
        .sort("dte_order", "bucket_order")
        .select(
            "dte_bucket",
            "bucket",
            "dte_order",
            "bucket_order",
            "n_trades",
            "n_exact_exit",
            "return_mean",
            "return_median",
            "win_rate",
            "pnl_points_mean",
        )
    )
