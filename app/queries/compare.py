"""Read-only queries of the Compare page: several backtest runs side by side, their baselines,
their names and tags, a config diff and the frames of an export.

Same rules as :mod:`app.queries`: one short hardened read-only connection per call, values bound
as parameters (run ids as one ``varchar[]``), numerics cast to ``DOUBLE``; the only identifiers
put into SQL are fragments chosen from constants here by what ``information_schema`` shows
(older warehouses lack ``backtest.run_labels``, ``runs.chain_source``, ``runs.write_seq``, the
benchmark marts).

Baselines (:func:`baseline_options`, :func:`compute_baselines`) are drawn over the *sessions of
each chosen run* (its ``backtest.equity_daily.quote_date``\\ s):

- **Buy and hold** of the run's underlying from ``marts.fct_underlying_daily.close``: bought at
  the close of the run's first session, dividends of ``marts.fct_dividends`` reinvested at the
  close of the first session on or after each ex-date (S&P Dow Jones Indices, *Index
  Mathematics Methodology*, "Total Return Indices": ``TR_t = TR_{t-1} (P_t + D_t) / P_{t-1}``).
  A symbol without dividend records is a **price return** and says so (SPX is a price index;
  its dividends are not in the warehouse).
- **Cboe benchmark indices**: the published levels (``marts.fct_benchmark_index_levels``, e.g.
  BXM) and the engine's replications by Cboe's rules
  (``forecasts.rpt_benchmark_replication.replicated_level``, one per chain source), each rebased
  to 0 on the first session of the window it has a level for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from app.formatting import fmt_int, fmt_pct, fmt_ratio, fmt_usd
from app.queries import chain_label
from engine import metrics as engine_metrics
from warehouse.safe_yaml import excerpt

#: Columns the Compare page reads from each ``backtest`` table.
EXPECTED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "runs": ("run_id", "strategy", "underlying_symbol", "first_date", "last_date"),
    "equity_daily": ("run_id", "quote_date", "daily_return", "drawdown"),
    "metrics": (
        "run_id",
        "total_return",
        "cagr",
        "volatility",
        "sharpe_ratio",
        "sortino_ratio",
        "max_drawdown",
        "calmar_ratio",
        "win_rate",
        "n_trades",
        "avg_trade_pnl_usd",
        "avg_holding_days",
        "total_commission_usd",
        "first_date",
        "last_date",
    ),
}

#: The user's names and tags of runs (written by :mod:`app.run_admin`; optional).
LABELS_TABLE = "backtest.run_labels"

#: ``(column, label, kind)`` of each metric row of the comparison table, in order; ``kind`` is
#: how it displays: ``pct`` (decimal fraction as percent), ``ratio``, ``int``, ``usd``, ``days``.
METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (annualised)", "pct"),
    ("sharpe_ratio", "Sharpe", "ratio"),
    ("sortino_ratio", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("calmar_ratio", "Calmar", "ratio"),
    ("n_sessions", "Sessions", "int"),
    ("win_rate", "Win rate", "pct"),
    ("n_trades", "Trades", "int"),
    ("avg_trade_pnl_usd", "Average trade P&L", "usd"),
    ("avg_holding_days", "Average holding (trading days)", "days"),
    ("total_commission_usd", "Commissions", "usd"),
)

#: Days after a symbol's last recorded ex-date beyond which its dividend record is presumed to
#: have ended (a quarterly payer's ex-dates are about 91 days apart).
DIVIDEND_RECORD_GAP_DAYS = 100
#: Calendar days a session may look back for the underlying's last close (holidays, gaps).
CLOSE_LOOKBACK_DAYS = 7

BaselineKind = Literal["hold", "published", "replicated"]

# cumulative return from each run's start: the product of (1 + daily return) so far, less one
# (an unknown, NaN, return counts as flat); its last value is the run's total_return
_EQUITY_SQL = """
with returns_known as (
    select
        equity_daily.run_id,
        equity_daily.quote_date,
        case
            when equity_daily.daily_return is null or isnan(equity_daily.daily_return) then 0.0
            else cast(equity_daily.daily_return as double)
        end as daily_return,
        cast(equity_daily.drawdown as double) as drawdown
    from backtest.equity_daily as equity_daily
    where list_contains(?::varchar[], equity_daily.run_id)
)

select
    returns_known.run_id,
    returns_known.quote_date,
    cast(
        product(1.0 + returns_known.daily_return) over (
            partition by returns_known.run_id
            order by returns_known.quote_date
            rows between unbounded preceding and current row
        ) - 1.0 as double
    ) as cumulative_return,
    returns_known.drawdown
from returns_known
order by returns_known.run_id, returns_known.quote_date
"""

_METRICS_SQL = """
with sessions_counted as (
    select equity_daily.run_id, count(*) as n_sessions
    from backtest.equity_daily as equity_daily
    where list_contains($1::varchar[], equity_daily.run_id)
    group by all
)

select
    metrics.run_id,
    runs.strategy,
    cast(metrics.total_return as double) as total_return,
    cast(metrics.cagr as double) as cagr,
    cast(metrics.volatility as double) as volatility,
    cast(metrics.sharpe_ratio as double) as sharpe_ratio,
    cast(metrics.sortino_ratio as double) as sortino_ratio,
    cast(metrics.max_drawdown as double) as max_drawdown,
    cast(metrics.calmar_ratio as double) as calmar_ratio,
    cast(coalesce(sessions_counted.n_sessions, 0) as integer) as n_sessions,
    cast(metrics.win_rate as double) as win_rate,
    cast(metrics.n_trades as integer) as n_trades,
    cast(metrics.avg_trade_pnl_usd as double) as avg_trade_pnl_usd,
    cast(metrics.avg_holding_days as double) as avg_holding_days,
    cast(metrics.total_commission_usd as double) as total_commission_usd,
    metrics.first_date,
    metrics.last_date
from backtest.metrics as metrics
left join backtest.runs as runs on metrics.run_id = runs.run_id
left join sessions_counted on metrics.run_id = sessions_counted.run_id
where list_contains($1::varchar[], metrics.run_id)
order by metrics.run_id
"""

_PRESENT_SQL = """
select columns.table_schema || '.' || columns.table_name as relation, columns.column_name
from information_schema.columns as columns
where columns.table_schema in ('backtest', 'marts', 'forecasts')
"""

# {chain}, {labels}, {labels_join} and {write_seq} are fragments of this module (by what the
# warehouse has), never user text
_RUNS_SQL = """
select
    runs.run_id,
    runs.strategy,
    runs.underlying_symbol,
    runs.first_date,
    runs.last_date,
    {chain},
    {labels},
    {write_seq} as write_seq
from backtest.runs as runs
{labels_join}
order by write_seq desc nulls last, runs.run_id
"""

_CHAIN_PRESENT = (
    "coalesce(runs.chain_source, 'real') as chain_source,\n    runs.chain_model_version"
)
_CHAIN_ABSENT = "'real' as chain_source,\n    cast(null as varchar) as chain_model_version"
_LABELS_PRESENT = "run_labels.name,\n    coalesce(run_labels.tags, cast([] as varchar[])) as tags"
_LABELS_ABSENT = "cast(null as varchar) as name,\n    cast([] as varchar[]) as tags"
_LABELS_JOIN = "left join backtest.run_labels as run_labels on runs.run_id = run_labels.run_id"

_CONFIGS_SQL = """
select runs.run_id, runs.config_json
from backtest.runs as runs
where list_contains(?::varchar[], runs.run_id)
"""

_CLOSES_SQL = """
select
    underlying_daily.underlying_symbol,
    underlying_daily.trade_date,
    cast(underlying_daily.close as double) as close
from marts.fct_underlying_daily as underlying_daily
where list_contains($1::varchar[], underlying_daily.underlying_symbol)
    and underlying_daily.trade_date between $2::date - {lookback} and $3::date
order by underlying_daily.underlying_symbol, underlying_daily.trade_date
"""

_DIVIDENDS_SQL = """
select
    dividends.underlying_symbol,
    dividends.ex_date,
    cast(dividends.dividend_usd as double) as dividend_usd
from marts.fct_dividends as dividends
where list_contains($1::varchar[], dividends.underlying_symbol)
    and dividends.ex_date between $2::date and $3::date
order by dividends.underlying_symbol, dividends.ex_date
"""

_DIVIDEND_RECORDS_SQL = """
select
    dividends.underlying_symbol,
    count(*) as n_dividends,
    min(dividends.ex_date) as first_ex_date,
    max(dividends.ex_date) as last_ex_date,
    string_agg(distinct dividends.source, ', ' order by dividends.source) as source
from marts.fct_dividends as dividends
group by all
"""

_HOLD_SYMBOLS_SQL = """
select distinct underlying_daily.underlying_symbol
from marts.fct_underlying_daily as underlying_daily
where list_contains(?::varchar[], underlying_daily.underlying_symbol)
order by underlying_daily.underlying_symbol
"""

_PUBLISHED_SYMBOLS_SQL = """
select distinct index_levels.index_symbol
from marts.fct_benchmark_index_levels as index_levels
order by index_levels.index_symbol
"""

_REPLICATED_SYMBOLS_SQL = """
select
    replication.benchmark_symbol,
    replication.chain_source,
    any_value(runs.chain_model_version) as chain_model_version
from forecasts.rpt_benchmark_replication as replication
left join backtest.runs as runs on replication.run_id = runs.run_id
group by all
order by replication.benchmark_symbol, replication.chain_source
"""

_PUBLISHED_LEVELS_SQL = """
select
    index_levels.index_symbol as symbol,
    cast(null as varchar) as chain_source,
    index_levels.trade_date as quote_date,
    cast(index_levels.level as double) as level
from marts.fct_benchmark_index_levels as index_levels
where list_contains($1::varchar[], index_levels.index_symbol)
    and index_levels.trade_date between $2::date and $3::date
order by symbol, quote_date
"""

_REPLICATED_LEVELS_SQL = """
select
    replication.benchmark_symbol as symbol,
    replication.chain_source,
    replication.quote_date,
    cast(replication.replicated_level as double) as level
from forecasts.rpt_benchmark_replication as replication
where list_contains($1::varchar[], replication.benchmark_symbol)
    and replication.quote_date between $2::date and $3::date
    and replication.replicated_level is not null
order by symbol, replication.chain_source, replication.quote_date
"""

# {table} is one of the names of EXPORT_TABLES, never user text
_EXPORT_SQL = "select * from backtest.{table} where run_id = ? order by {order}"

#: ``backtest`` tables an export reads, with their sort keys.
EXPORT_TABLES: Mapping[str, str] = {
    "runs": "run_id",
    "metrics": "run_id",
    "trades": "trade_id",
    "legs": "trade_id, leg_no",
    "equity_daily": "quote_date",
}


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for relation, column in _frame(con, _PRESENT_SQL).iter_rows():
        out.setdefault(relation, set()).add(column)
    return out


# ---- runs ---------------------------------------------------------------------------------------


def list_runs(db: Path | str) -> pl.DataFrame:
    """The saved runs with their chain and the user's name and tags, newest first.

    Returns
    -------
    polars.DataFrame
        One row per run of ``backtest.runs``: ``run_id``, ``strategy``, ``underlying_symbol``,
        ``first_date``, ``last_date``, ``chain_source`` (``real`` | ``modeled``; ``real`` for a
        table that predates chain sources), ``chain_model_version``, ``name`` (null when
        unnamed), ``tags`` (list of str, ``[]`` when none; both from
        :data:`LABELS_TABLE` where it exists), ``write_seq`` (the order runs were written,
        null where the engine did not record it). Ordered by ``write_seq`` descending (newest
        first; nulls last), then ``run_id``.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.runs`` does not exist.
    """
    with _reader(db) as con:
        present = _present(con)
        runs = present.get("backtest.runs", set())
        has_labels = {"run_id", "name", "tags"} <= present.get(LABELS_TABLE, set())
        sql = _RUNS_SQL.format(
            chain=(
                _CHAIN_PRESENT if {"chain_source", "chain_model_version"} <= runs else _CHAIN_ABSENT
            ),
            labels=_LABELS_PRESENT if has_labels else _LABELS_ABSENT,
            labels_join=_LABELS_JOIN if has_labels else "",
            write_seq=(
                "cast(runs.write_seq as bigint)" if "write_seq" in runs else "cast(null as bigint)"
            ),
        )
        return _frame(con, sql)


def short_hash(run_id: str, strategy: str | None) -> str | None:
    """The config-hash part of an engine run id (``<strategy>-<12 hex>``), else ``None``.

    >>> short_hash("iron_condor-56dc87d1f0a3", "iron_condor"), short_hash("x-1", "y")
    ('56dc87d1f0a3', None)
    """
    prefix = f"{strategy}-"
    if strategy and run_id.startswith(prefix) and len(run_id) > len(prefix):
        return run_id[len(prefix) :]
    return None


def display_names(runs: pl.DataFrame) -> dict[str, str]:
    """A unique display name of each run: the user's name, else its strategy and short hash.

    Parameters
    ----------
    runs
        One row per run with ``run_id``, ``strategy`` and ``name`` (as :func:`list_runs`).

    Returns
    -------
    dict[str, str]
        ``run_id`` -> name. An unnamed engine run shows as ``"<strategy> <6 hex>"``; any other
        unnamed run as its ``run_id``. Names that collide get their short hash (or run id)
        appended in parentheses, so every name picks out one run.

    Examples
    --------
    >>> runs = pl.DataFrame({"run_id": ["bxm-432d1583d6e2", "bxm-6e253ab7011f", "put-03b97b"],
    ...     "strategy": ["bxm", "bxm", "put"], "name": [None, "BXM monthly", "BXM monthly"]})
    >>> display_names(runs)
    {'bxm-432d1583d6e2': 'bxm 432d15', 'bxm-6e253ab7011f': 'BXM monthly (6e253ab7)', \
'put-03b97b': 'BXM monthly (03b97b)'}
    """
    rows = list(runs.select("run_id", "strategy", "name").iter_rows())
    base = {}
    for run_id, strategy, name in rows:
        hashed = short_hash(run_id, strategy)
        base[run_id] = name or (f"{strategy} {hashed[:6]}" if hashed else run_id)
    counts: dict[str, int] = {}
    for value in base.values():
        counts[value] = counts.get(value, 0) + 1
    out = {}
    for run_id, strategy, _ in rows:
        if counts[base[run_id]] == 1:
            out[run_id] = base[run_id]
        else:
            hashed = short_hash(run_id, strategy)
            out[run_id] = f"{base[run_id]} ({hashed[:8] if hashed else run_id})"
    if len(set(out.values())) < len(out):  # two 8-hex prefixes equal: use the full ids
        out = {run_id: f"{base[run_id]} ({run_id})" for run_id in out}
    return out


def run_option_label(run: Mapping[str, Any], name: str) -> str:
    """What the runs picker shows for one run of :func:`list_runs`.

    >>> run = {"underlying_symbol": "SPX", "first_date": "2019-04-25", "last_date": "2019-07-22",
    ...        "chain_source": "modeled", "chain_model_version": "ssvi-1", "tags": ["wing"]}
    >>> run_option_label(run, "iron_condor 56dc87")
    'iron_condor 56dc87 · SPX 2019-04-25 to 2019-07-22 · modeled chain ssvi-1 · #wing'
    """
    tags = " ".join(f"#{tag}" for tag in (run.get("tags") or []))
    parts = [
        name,
        f"{run['underlying_symbol']} {run['first_date']} to {run['last_date']}",
        chain_label(run.get("chain_source"), run.get("chain_model_version")),
    ]
    return " · ".join(parts + ([tags] if tags else []))


def run_configs(db: Path | str, run_ids: Sequence[str]) -> dict[str, str | None]:
    """``run_id`` -> its ``backtest.runs.config_json`` (unknown ids are absent).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return dict(_frame(con, _CONFIGS_SQL, [list(run_ids)]).iter_rows())


# ---- equity and metrics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Several runs read through one connection (one snapshot).

    Attributes
    ----------
    equity
        One row per run per ``quote_date``: ``run_id``, ``quote_date``, ``cumulative_return``
        (decimal, compounded from the run's start: ``prod(1 + daily_return) - 1``) and
        ``drawdown`` (decimal, <= 0).
    metrics
        One row per run (ordered by ``run_id``): ``strategy`` and the columns of
        :data:`METRIC_ROWS` (floats; ``n_trades`` and ``n_sessions``, the run's rows of
        ``backtest.equity_daily``, int), ``first_date``, ``last_date``.
    """

    equity: pl.DataFrame
    metrics: pl.DataFrame


def compare_runs(db: Path | str, run_ids: Sequence[str]) -> Comparison:
    """Equity paths and metrics of ``run_ids`` (unknown ids are simply absent).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    ids = list(run_ids)
    with _reader(db) as con:
        return Comparison(
            equity=_frame(con, _EQUITY_SQL, [ids]),
            metrics=_frame(con, _METRICS_SQL, [ids]),
        )


def side_by_side(metrics: pl.DataFrame, names: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The comparison table: one row per metric of :data:`METRIC_ROWS`, one column per run.

    Parameters
    ----------
    metrics
        :attr:`Comparison.metrics`, optionally with baseline rows of
        :attr:`Baselines.metrics` appended (their ``chain_text`` replaces the chain label).
    names
        ``run_id`` -> column name (:func:`display_names`); default: the ``run_id``.

    Returns
    -------
    polars.DataFrame
        ``metric`` (label) then one string column per ``run_id`` (in the input's order) with
        the formatted value (NaN or NULL shows as ``n/a``), then a ``Period`` row, a
        ``Sample`` row when ``metrics`` has ``n_sessions`` (:func:`sample_text`), and a
        ``Chain`` row first when ``metrics`` has ``chain_source`` (and
        ``chain_model_version``: :func:`app.queries.run_chains`), so a modeled run is never
        read as a real one.

    Examples
    --------
    >>> row = {"run_id": "a", "total_return": 0.1, "n_trades": 3}
    >>> side_by_side(pl.DataFrame([row])).filter(pl.col("metric") == "Total return")["a"][0]
    '10.00%'
    """
    formats = {
        "pct": fmt_pct,
        "ratio": fmt_ratio,
        "int": fmt_int,
        "usd": fmt_usd,
        "days": lambda v: fmt_ratio(v, digits=1),
    }
    names = names or {}
    rows = [row for row in METRIC_ROWS if row[0] in metrics.columns]
    has_chain = "chain_source" in metrics.columns
    table: dict[str, list[str]] = {
        "metric": ["Chain"] * has_chain + [label for _, label, _ in rows]
    }
    has_period = "first_date" in metrics.columns and "last_date" in metrics.columns
    if has_period:
        table["metric"].append("Period")
    has_sample = "n_sessions" in metrics.columns
    if has_sample:
        table["metric"].append("Sample")
    for run in metrics.iter_rows(named=True):
        chain = run.get("chain_text") or (
            chain_label(run["chain_source"], run.get("chain_model_version")) if has_chain else ""
        )
        values = [chain] if has_chain else []
        values += [formats[kind](run[column]) for column, _, kind in rows]
        if has_period:
            values.append(f"{run['first_date']} to {run['last_date']}")
        if has_sample:
            values.append(sample_text(run.get("n_sessions"), run.get("n_trades")))
        table[names.get(run["run_id"], run["run_id"])] = values
    return pl.DataFrame(table, schema={name: pl.String for name in table})


def sample_text(n_sessions: int | None, n_trades: int | None) -> str:
    """Whether a sample is large enough for annualised figures to mean much.

    Too few below the thresholds of :mod:`engine.metrics`
    (:data:`~engine.metrics.MIN_MEANINGFUL_SESSIONS` sessions,
    :data:`~engine.metrics.MIN_MEANINGFUL_TRADES` closed trades); a baseline (``n_trades``
    null) is judged on its sessions alone.

    >>> sample_text(61, 10), sample_text(4015, None), sample_text(300, 40), sample_text(70, 3)
    ('too few: 61 sessions, 10 trades', 'enough', 'enough', 'too few: 3 trades')
    """
    short = []
    if n_sessions is None or n_sessions < engine_metrics.MIN_MEANINGFUL_SESSIONS:
        short.append(f"{'?' if n_sessions is None else f'{n_sessions:,}'} sessions")
    if n_trades is not None and n_trades < engine_metrics.MIN_MEANINGFUL_TRADES:
        short.append(f"{n_trades:,} trades")
    return "too few: " + ", ".join(short) if short else "enough"


# ---- config diff --------------------------------------------------------------------------------


def _config(config_json: str | None, what: str) -> dict[str, Any]:
    if config_json is None:
        return {}
    try:
        value = json.loads(config_json)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config_json of {what} is not JSON: {excerpt(config_json)}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"config_json of {what} is not a JSON object: {excerpt(value)}")
    return value


def flatten_config(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as ``dotted.key`` -> JSON text of each leaf; list items ``[1]``, ``[2]``
    (1-based, as legs are numbered).

    >>> flatten_config({"exits": {"holding_days": 5}, "legs": [{"side": "short"}], "roots": []})
    {'exits.holding_days': '5', 'legs[1].side': '"short"', 'roots': '[]'}
    """
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key in sorted(value, key=str):
            out.update(flatten_config(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        out = {}
        for index, item in enumerate(value, start=1):
            out.update(flatten_config(item, f"{prefix}[{index}]"))
        return out
    return {prefix: json.dumps(value, sort_keys=True)}


#: What a key missing from one side of a diff shows.
ABSENT = "(absent)"


def config_diff(
    left_json: str | None,
    right_json: str | None,
    *,
    all_keys: bool = False,
    left: str = "left",
    right: str = "right",
) -> pl.DataFrame:
    """The keys of two runs' ``config_json`` side by side (only those that differ by default).

    Parameters
    ----------
    left_json, right_json
        ``backtest.runs.config_json`` of the two runs (``None``: no config stored).
    all_keys
        Every key, not only those that differ.
    left, right
        Names of the two runs, used as the value columns' names and in error messages.

    Returns
    -------
    polars.DataFrame
        One row per flattened key (:func:`flatten_config`), sorted: ``key``, ``<left>``,
        ``<right>`` (JSON text of each value, :data:`ABSENT` where a side lacks the key) and
        ``differs`` (bool).

    Raises
    ------
    ValueError
        A config that is not a JSON object, naming the run.

    Examples
    --------
    >>> config_diff('{"exits": {"holding_days": 5}, "k": 1}', '{"exits": {"holding_days": null}, "k": 1}').rows()
    [('exits.holding_days', '5', 'null', True)]
    """  # noqa: E501
    if left == right:
        raise ValueError(f"the two runs of a config diff need different names, got {left!r}")
    a = flatten_config(_config(left_json, left))
    b = flatten_config(_config(right_json, right))
    keys = sorted(set(a) | set(b))
    rows = [(k, a.get(k, ABSENT), b.get(k, ABSENT), a.get(k) != b.get(k)) for k in keys]
    if not all_keys:
        rows = [row for row in rows if row[3]]
    return pl.DataFrame(
        rows,
        schema={"key": pl.String, left: pl.String, right: pl.String, "differs": pl.Boolean},
        orient="row",
    )


# ---- baselines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """One baseline the page offers.

    Attributes
    ----------
    key
        Stable id, used in links: ``hold:<symbol>``, ``published:<index>`` or
        ``replicated:<index>:<chain_source>``.
    label
        What the page shows, e.g. ``Buy and hold SPX (price return)``.
    kind
        ``hold`` | ``published`` | ``replicated``.
    symbol
        The underlying (``hold``) or the Cboe index symbol.
    chain_source, chain_model_version
        The chain a replication traded (``replicated`` only).
    has_dividends
        ``hold`` only: the warehouse records the symbol's dividends (a total return).
    """

    key: str
    label: str
    kind: BaselineKind
    symbol: str
    chain_source: str | None = None
    chain_model_version: str | None = None
    has_dividends: bool = False


def baseline_options(db: Path | str, underlyings: Sequence[str]) -> list[Baseline]:
    """The baselines the warehouse can draw for runs on ``underlyings``.

    Returns
    -------
    list[Baseline]
        Buy and hold of each of ``underlyings`` with closes in ``marts.fct_underlying_daily``,
        then each published Cboe index of ``marts.fct_benchmark_index_levels``, then each
        replication of ``forecasts.rpt_benchmark_replication`` (one per index and chain
        source); a relation the warehouse lacks contributes none.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    out: list[Baseline] = []
    with _reader(db) as con:
        present = _present(con)
        if "marts.fct_underlying_daily" in present:
            dividends = (
                set(_frame(con, _DIVIDEND_RECORDS_SQL)["underlying_symbol"])
                if "marts.fct_dividends" in present
                else set()
            )
            for (symbol,) in _frame(con, _HOLD_SYMBOLS_SQL, [sorted(set(underlyings))]).rows():
                basis = "total return" if symbol in dividends else "price return"
                out.append(
                    Baseline(
                        f"hold:{symbol}",
                        f"Buy and hold {symbol} ({basis})",
                        "hold",
                        symbol,
                        has_dividends=symbol in dividends,
                    )
                )
        if "marts.fct_benchmark_index_levels" in present:
            for (symbol,) in _frame(con, _PUBLISHED_SYMBOLS_SQL).rows():
                out.append(
                    Baseline(
                        f"published:{symbol}", f"{symbol} published (Cboe)", "published", symbol
                    )
                )
        if "forecasts.rpt_benchmark_replication" in present and "backtest.runs" in present:
            for symbol, chain, version in _frame(con, _REPLICATED_SYMBOLS_SQL).rows():
                out.append(
                    Baseline(
                        f"replicated:{symbol}:{chain}",
                        f"{symbol} replicated ({chain_label(chain, version)})",
                        "replicated",
                        symbol,
                        chain_source=chain,
                        chain_model_version=version,
                    )
                )
    return out


@dataclass(frozen=True)
class BaselineInputs:
    """What the baselines read over one span of dates (one snapshot).

    Attributes
    ----------
    closes
        ``underlying_symbol``, ``trade_date``, ``close`` (USD) from
        :data:`CLOSE_LOOKBACK_DAYS` before the span's first date to its last.
    dividends
        ``underlying_symbol``, ``ex_date``, ``dividend_usd`` (USD per share) in the span.
    dividend_records
        Per symbol with any: ``n_dividends``, ``first_ex_date``, ``last_ex_date``, ``source``.
    levels
        ``symbol``, ``chain_source`` (null for a published index), ``quote_date``, ``level``
        (index points) in the span.
    """

    closes: pl.DataFrame
    dividends: pl.DataFrame
    dividend_records: pl.DataFrame
    levels: pl.DataFrame


def baseline_inputs(
    db: Path | str, baselines: Sequence[Baseline], first_date: Any, last_date: Any
) -> BaselineInputs:
    """Read what ``baselines`` need between ``first_date`` and ``last_date`` (dates).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    holds = sorted({b.symbol for b in baselines if b.kind == "hold"})
    published = sorted({b.symbol for b in baselines if b.kind == "published"})
    replicated = sorted({b.symbol for b in baselines if b.kind == "replicated"})
    span = [first_date, last_date]
    empty_levels = pl.DataFrame(
        schema={
            "symbol": pl.String,
            "chain_source": pl.String,
            "quote_date": pl.Date,
            "level": pl.Float64,
        }
    )
    with _reader(db) as con:
        present = _present(con)
        closes = (
            _frame(con, _CLOSES_SQL.format(lookback=CLOSE_LOOKBACK_DAYS), [holds, *span])
            if holds and "marts.fct_underlying_daily" in present
            else pl.DataFrame(
                schema={"underlying_symbol": pl.String, "trade_date": pl.Date, "close": pl.Float64}
            )
        )
        has_dividends = bool(holds) and "marts.fct_dividends" in present
        dividends = (
            _frame(con, _DIVIDENDS_SQL, [holds, *span])
            if has_dividends
            else pl.DataFrame(
                schema={
                    "underlying_symbol": pl.String,
                    "ex_date": pl.Date,
                    "dividend_usd": pl.Float64,
                }
            )
        )
        records = (
            _frame(con, _DIVIDEND_RECORDS_SQL)
            if has_dividends
            else pl.DataFrame(
                schema={
                    "underlying_symbol": pl.String,
                    "n_dividends": pl.Int64,
                    "first_ex_date": pl.Date,
                    "last_ex_date": pl.Date,
                    "source": pl.String,
                }
            )
        )
        levels = [empty_levels]
        if published and "marts.fct_benchmark_index_levels" in present:
            levels.append(_frame(con, _PUBLISHED_LEVELS_SQL, [published, *span]))
        if replicated and "forecasts.rpt_benchmark_replication" in present:
            levels.append(_frame(con, _REPLICATED_LEVELS_SQL, [replicated, *span]))
    return BaselineInputs(
        closes, dividends, records, pl.concat([f.cast(empty_levels.schema) for f in levels])
    )


_PATH_SCHEMA = {
    "quote_date": pl.Date,
    "daily_return": pl.Float64,
    "cumulative_return": pl.Float64,
    "drawdown": pl.Float64,
}


def _path_from_returns(dates: pl.Series, returns: pl.Series) -> pl.DataFrame:
    """``daily_return`` (null on the first day) compounded into the path columns."""
    wealth = (1.0 + returns.fill_null(0.0)).cum_prod()
    return pl.DataFrame(
        {
            "quote_date": dates,
            "daily_return": returns,
            "cumulative_return": wealth - 1.0,
            "drawdown": wealth / wealth.cum_max() - 1.0,
        }
    ).cast(_PATH_SCHEMA)


def hold_path(
    sessions: Sequence[Any] | pl.Series, closes: pl.DataFrame, dividends: pl.DataFrame
) -> pl.DataFrame:
    """Buy and hold of one underlying over ``sessions``, dividends reinvested.

    Bought at the close of the first session that has a close; each session is marked at its
    last close on or before it (:data:`CLOSE_LOOKBACK_DAYS` at most); a dividend counts on the
    first session on or after its ex-date, after the first session (a buyer at the ex-date's
    close is not entitled to it). Total-return chaining of S&P Dow Jones Indices' *Index
    Mathematics Methodology* ("Total Return Indices"):
    ``1 + r_t = (P_t + D_t) / P_{t-1}``, with ``D_t`` the dividends that went ex in
    ``(session_{t-1}, session_t]``.

    Parameters
    ----------
    sessions
        The run's sessions (dates), any order; duplicates are dropped.
    closes
        One row per ``trade_date`` with ``close`` (USD) of the underlying.
    dividends
        One row per ``ex_date`` with ``dividend_usd`` (USD per share); empty for a price return.

    Returns
    -------
    polars.DataFrame
        One row per session from the first with a close, ascending: ``quote_date``,
        ``daily_return`` (decimal; null on the first), ``cumulative_return`` (decimal, 0 on the
        first), ``drawdown`` (decimal, <= 0, from the running peak).

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, d) for d in (2, 3, 4)]
    >>> closes = pl.DataFrame({"trade_date": days, "close": [100.0, 99.0, 101.0]})
    >>> divs = pl.DataFrame({"ex_date": [dt.date(2024, 1, 3)], "dividend_usd": [1.0]})
    >>> # (99 + 1) / 100 = 1.00, then 101 / 99 = 1.020202
    >>> hold_path(days, closes, divs)["cumulative_return"].round(6).to_list()
    [0.0, 0.0, 0.020202]
    """
    frame_sessions = (
        pl.DataFrame({"quote_date": pl.Series(list(sessions), dtype=pl.Date)})
        .unique()
        .sort("quote_date")
    )
    priced = frame_sessions.join_asof(
        closes.select(
            pl.col("trade_date").cast(pl.Date).alias("close_date"),
            pl.col("close").cast(pl.Float64),
        ).sort("close_date"),
        left_on="quote_date",
        right_on="close_date",
        strategy="backward",
    ).filter(
        pl.col("close").is_not_null()
        & ((pl.col("quote_date") - pl.col("close_date")).dt.total_days() <= CLOSE_LOOKBACK_DAYS)
    )
    if priced.is_empty():
        return pl.DataFrame(schema=_PATH_SCHEMA)
    first = priced["quote_date"][0]
    paid = (
        dividends.select(pl.col("ex_date").cast(pl.Date), pl.col("dividend_usd").cast(pl.Float64))
        .filter(pl.col("ex_date") > first)
        .sort("ex_date")
        .join_asof(
            priced.select(pl.col("quote_date").alias("paid_date")),
            left_on="ex_date",
            right_on="paid_date",
            strategy="forward",
        )
        .group_by("paid_date")
        .agg(pl.col("dividend_usd").sum())
    )
    priced = (
        priced.join(paid, left_on="quote_date", right_on="paid_date", how="left")
        .with_columns(pl.col("dividend_usd").fill_null(0.0))
        .sort("quote_date")
    )
    returns = (pl.col("close") + pl.col("dividend_usd")) / pl.col("close").shift(1) - 1.0
    daily = priced.select(returns.alias("daily_return"))["daily_return"]
    return _path_from_returns(priced["quote_date"], daily)


def level_path(sessions: Sequence[Any] | pl.Series, levels: pl.DataFrame) -> pl.DataFrame:
    """An index level over ``sessions``, rebased: the sessions that have a level.

    Parameters
    ----------
    sessions
        The run's sessions (dates).
    levels
        One row per ``quote_date`` with ``level`` (index points).

    Returns
    -------
    polars.DataFrame
        As :func:`hold_path`: ``cumulative_return = level / first level - 1`` on each session
        with a level (a session without one is skipped, not filled).

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, d) for d in (2, 3, 4)]
    >>> lv = pl.DataFrame({"quote_date": days[1:], "level": [200.0, 190.0]})
    >>> level_path(days, lv).select(pl.col("cumulative_return", "drawdown").round(6)).rows()
    [(0.0, 0.0), (-0.05, -0.05)]
    """
    on_sessions = (
        levels.select(pl.col("quote_date").cast(pl.Date), pl.col("level").cast(pl.Float64))
        .filter(
            pl.col("quote_date").is_in(pl.Series(list(sessions), dtype=pl.Date).implode())
            & pl.col("level").is_not_null()
            & (pl.col("level") > 0)
        )
        .unique("quote_date")
        .sort("quote_date")
    )
    if on_sessions.is_empty():
        return pl.DataFrame(schema=_PATH_SCHEMA)
    daily = on_sessions.select(
        (pl.col("level") / pl.col("level").shift(1) - 1.0).alias("daily_return")
    )["daily_return"]
    return _path_from_returns(on_sessions["quote_date"], daily)


def path_metrics(path: pl.DataFrame) -> dict[str, float | int]:
    """The metrics of :data:`METRIC_ROWS` a baseline has, from its daily returns.

    :mod:`engine.metrics` on the path's ``daily_return`` after its first session (decimal,
    noncumulative; 252 sessions a year, risk-free rate 0), as the engine computes a run's;
    ``n_sessions`` counts the path's sessions. Trade metrics are absent (a baseline has none).
    """
    returns = path["daily_return"].drop_nulls().to_numpy()
    return {
        "total_return": engine_metrics.total_return(returns),
        "cagr": engine_metrics.cagr(returns),
        "volatility": engine_metrics.volatility(returns),
        "sharpe_ratio": engine_metrics.sharpe_ratio(returns),
        "sortino_ratio": engine_metrics.sortino_ratio(returns),
        "max_drawdown": engine_metrics.max_drawdown(returns),
        "calmar_ratio": engine_metrics.calmar_ratio(returns),
        "n_sessions": int(path.height),
    }


@dataclass(frozen=True)
class Baselines:
    """The chosen baselines drawn over the chosen runs' sessions.

    Attributes
    ----------
    paths
        One row per series per session: ``series`` (its label), ``quote_date``,
        ``cumulative_return``, ``drawdown`` (decimals).
    metrics
        One row per series: ``run_id`` (= its label), ``chain_text`` and the columns of
        :func:`path_metrics`, ``first_date``, ``last_date``.
    notes
        Sentences the page shows under the charts: the return basis of each buy and hold, and
        any series that covers only part of its window or none of it.
    modeled
        Labels of the series that replicate on the modeled chain.
    """

    paths: pl.DataFrame
    metrics: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    modeled: list[str] = field(default_factory=list)


def compute_baselines(
    windows: Sequence[tuple[Sequence[Any], Sequence[str]]],
    baselines: Sequence[Baseline],
    inputs: BaselineInputs,
) -> Baselines:
    """Draw ``baselines`` over each window of sessions.

    Parameters
    ----------
    windows
        ``(sessions, underlyings)`` per distinct span of the chosen runs: the sessions (dates)
        of a run of that span and the underlyings of its runs (a buy and hold is drawn for
        those only).
    baselines
        Chosen of :func:`baseline_options`.
    inputs
        :func:`baseline_inputs` over the union of the windows.

    Returns
    -------
    Baselines
        Series labelled with the baseline's label, plus ``· <first> to <last>`` when there is
        more than one window.
    """
    paths, metric_rows, notes, modeled = [], [], [], []
    records = {
        row["underlying_symbol"]: row for row in inputs.dividend_records.iter_rows(named=True)
    }
    for sessions, underlyings in windows:
        days = sorted(set(sessions))
        if not days:
            continue
        span = f"{days[0]} to {days[-1]}"
        for baseline in baselines:
            if baseline.kind == "hold" and baseline.symbol not in underlyings:
                continue
            series = baseline.label + (f" · {span}" if len(windows) > 1 else "")
            if baseline.kind == "hold":
                path = hold_path(
                    days,
                    inputs.closes.filter(pl.col("underlying_symbol") == baseline.symbol),
                    inputs.dividends.filter(pl.col("underlying_symbol") == baseline.symbol),
                )
                record = records.get(baseline.symbol)
                if record is None:
                    notes.append(
                        f"{series}: marts.fct_dividends records no {baseline.symbol} dividends, "
                        "so this is the price return (an index level such as SPX excludes "
                        "its dividends)."
                    )
                else:
                    n = inputs.dividends.filter(
                        (pl.col("underlying_symbol") == baseline.symbol)
                        & (pl.col("ex_date") > days[0])
                        & (pl.col("ex_date") <= days[-1])
                    ).height
                    gap = (days[-1] - record["last_ex_date"]).days
                    notes.append(
                        f"{series}: total return, {n} dividends ({record['source']}) reinvested "
                        "at the close of their ex-date"
                        + (
                            f"; dividends are recorded only through {record['last_ex_date']}, "
                            "so later ones are missing"
                            if gap > DIVIDEND_RECORD_GAP_DAYS
                            else ""
                        )
                        + "."
                    )
                chain_text = "no options (underlying)"
            else:
                chain = baseline.chain_source if baseline.kind == "replicated" else None
                levels = inputs.levels.filter(
                    (pl.col("symbol") == baseline.symbol)
                    & (
                        pl.col("chain_source").is_null()
                        if chain is None
                        else pl.col("chain_source") == chain
                    )
                )
                path = level_path(days, levels)
                chain_text = (
                    "published index"
                    if chain is None
                    else chain_label(chain, baseline.chain_model_version)
                )
                if chain == "modeled":
                    modeled.append(series)
            if path.height < 2:
                notes.append(f"{series}: no levels over {span}, not drawn.")
                continue
            first, last = path["quote_date"][0], path["quote_date"][-1]
            if (first, last) != (days[0], days[-1]):
                notes.append(
                    f"{series}: levels only from {first} to {last} ({path.height} of the "
                    f"{len(days)} sessions of {span}), rebased to 0 on {first}."
                )
            elif path.height < len(days):
                notes.append(
                    f"{series}: a level on {path.height} of the {len(days)} sessions; the "
                    "others are skipped."
                )
            paths.append(path.select(pl.lit(series).alias("series"), pl.exclude("daily_return")))
            metric_rows.append(
                {
                    "run_id": series,
                    "chain_text": chain_text,
                    **path_metrics(path),
                    "first_date": first,
                    "last_date": last,
                }
            )
    path_schema = {
        "series": pl.String,
        **{k: v for k, v in _PATH_SCHEMA.items() if k != "daily_return"},
    }
    metrics_schema = {
        "run_id": pl.String,
        "chain_text": pl.String,
        **{
            k: pl.Float64
            for k in (
                "total_return",
                "cagr",
                "volatility",
                "sharpe_ratio",
                "sortino_ratio",
                "max_drawdown",
                "calmar_ratio",
            )
        },
        "n_sessions": pl.Int32,
        "first_date": pl.Date,
        "last_date": pl.Date,
    }
    return Baselines(
        pl.concat(paths).cast(path_schema) if paths else pl.DataFrame(schema=path_schema),
        pl.DataFrame(metric_rows, schema=metrics_schema)
        if metric_rows
        else pl.DataFrame(schema=metrics_schema),
        notes,
        modeled,
    )


# ---- export -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunExport:
    """Everything an export of one run holds, read in one connection (one snapshot).

    Attributes
    ----------
    run
        The run's ``backtest.runs`` row (every column the table has).
    metrics, trades, legs, equity
        The run's rows of ``backtest.metrics``, ``trades`` (by ``trade_id``), ``legs`` (by
        ``trade_id``, ``leg_no``) and ``equity_daily`` (by ``quote_date``), every column.
    """

    run: dict[str, Any]
    metrics: pl.DataFrame
    trades: pl.DataFrame
    legs: pl.DataFrame
    equity: pl.DataFrame


def run_export(db: Path | str, run_id: str) -> RunExport:
    """Read run ``run_id`` for :func:`app.export.run_archive`.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    LookupError
        When ``backtest.runs`` has no run ``run_id`` (named).
    """
    with _reader(db) as con:
        frames = {
            table: _frame(con, _EXPORT_SQL.format(table=table, order=order), [run_id])
            for table, order in EXPORT_TABLES.items()
        }
    if frames["runs"].is_empty():
        raise LookupError(f"backtest.runs has no run {run_id!r}")
    return RunExport(
        run=frames["runs"].row(0, named=True),
        metrics=frames["metrics"],
        trades=frames["trades"],
        legs=frames["legs"],
        equity=frames["equity_daily"],
    )


def sessions_of(equity: pl.DataFrame) -> dict[str, list[Any]]:
    """``run_id`` -> its sessions (ascending) from :attr:`Comparison.equity`."""
    grouped = equity.group_by("run_id").agg(pl.col("quote_date").sort())
    return dict(grouped.iter_rows())


def run_windows(
    sessions: Mapping[str, Sequence[Any]], underlying_of: Sequence[tuple[str, str]]
) -> list[tuple[list[Any], list[str]]]:
    """The distinct spans of the chosen runs, for :func:`compute_baselines`.

    Parameters
    ----------
    sessions
        ``run_id`` -> its sessions, ascending (:func:`sessions_of`).
    underlying_of
        ``(run_id, underlying_symbol)`` of each chosen run, in the picker's order.

    Returns
    -------
    list[tuple[list, list[str]]]
        One ``(sessions, underlyings)`` per distinct (first, last) session pair, in the order
        of the first run with it: that run's sessions and the sorted underlyings of every
        run of the span. Runs without sessions are left out.

    Examples
    --------
    >>> run_windows({"a": [1, 2, 3], "b": [1, 3], "c": [5, 6]},
    ...             [("c", "SPY"), ("a", "SPX"), ("b", "SPY"), ("d", "QQQ")])
    [([5, 6], ['SPY']), ([1, 2, 3], ['SPX', 'SPY'])]
    """
    spans: dict[tuple[Any, Any], tuple[list[Any], set[str]]] = {}
    for run_id, symbol in underlying_of:
        days = list(sessions.get(run_id) or [])
        if days:
            spans.setdefault((days[0], days[-1]), (days, set()))[1].add(symbol)
    return [(days, sorted(symbols)) for days, symbols in spans.values()]


__all__ = [
    "ABSENT",
    "EXPECTED_COLUMNS",
    "LABELS_TABLE",
    "METRIC_ROWS",
    "Baseline",
    "BaselineInputs",
    "Baselines",
    "Comparison",
    "RunExport",
    "baseline_inputs",
    "baseline_options",
    "compare_runs",
    "compute_baselines",
    "config_diff",
    "display_names",
    "flatten_config",
    "hold_path",
    "level_path",
    "list_runs",
    "path_metrics",
    "run_configs",
    "run_export",
    "run_option_label",
    "run_windows",
    "sample_text",
    "sessions_of",
    "short_hash",
    "side_by_side",
]
