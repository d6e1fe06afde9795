"""Queries of the Trades page: a run's trades, their legs, daily marks and the chain quotes of
their legs, for the drill-down and the greeks P&L attribution (:mod:`engine.greeks_pnl`).

Same rules as :mod:`app.queries`: one short hardened read-only connection per call (one snapshot
of the published file), values bound as parameters, identifiers only from allowlists, numerics
cast to ``DOUBLE`` (a ``DECIMAL`` would plot 10^scale too large).

Tables read: ``backtest.runs``, ``backtest.trades``, ``backtest.legs``,
``backtest.positions_daily`` (engine/schema.py), and the quotes of the run's legs from its chain.
The chain is ``marts.fct_option_chain`` restricted to the run's ``chain_source``; that view is
the union of ``marts.fct_option_features`` (real) and ``marts.fct_option_quotes_modeled``
(modeled), and the side of the run is read directly (:data:`CHAIN_TABLES`): the view's left join
that sets ``is_preferred`` costs about a second on the modeled side, and a run reads one side
only. ``runs.chain_source``, ``runs.chain_model_version`` and ``runs.write_seq`` are read where
present (columns the engine added after the first runs: engine.schema.ADDED_COLUMNS).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from app.queries import EXPECTED_COLUMNS, run_rows_sql

#: "schema.table" -> columns this page reads (the page checks them before it runs).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "backtest.runs": (
        "run_id",
        "strategy",
        "underlying_symbol",
        "config_json",
        "first_date",
        "last_date",
    ),
    "backtest.trades": (
        "run_id",
        "trade_id",
        "status",
        "entry_date",
        "exit_date",
        "expiration",
        "lots",
        "holding_days_actual",
        "exit_reason",
        "exit_type",
        "entry_underlying_price",
        "entry_value",
        "exit_value",
        "commission_usd",
        "slippage_usd",
        "pnl_usd",
        "trade_return",
    ),
    "backtest.legs": EXPECTED_COLUMNS["legs"],
    "backtest.positions_daily": (
        "run_id",
        "trade_id",
        "quote_date",
        "lots",
        "mark_value_usd",
        "unrealized_pnl_usd",
        "is_stale",
        "delta_usd",
        "gamma_usd",
        "vega_usd",
        "theta_usd",
    ),
}

#: chain_source -> the relation of ``marts.fct_option_chain``'s side it reads (an allowlist).
CHAIN_TABLES: Mapping[str, tuple[str, str]] = {
    "real": ("marts", "fct_option_features"),
    "modeled": ("marts", "fct_option_quotes_modeled"),
}
#: Columns read from the chain (per contract per quote_date).
QUOTE_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "quote_date",
    "underlying_price",
    "forward_price",
    "tte_years",
    "risk_free_rate",
    "implied_volatility",
    "vega",
)

_OPTIONAL_RUN_COLUMNS = ("chain_source", "chain_model_version", "write_seq")

_PRESENT_SQL = """
select columns.table_schema, columns.table_name, columns.column_name
from information_schema.columns as columns
where (columns.table_schema = 'backtest' and columns.table_name = 'runs')
    or (columns.table_schema = 'marts'
        and columns.table_name in ('fct_option_features', 'fct_option_quotes_modeled'))
"""

# {optional} is built from _OPTIONAL_RUN_COLUMNS only (present or a typed null), never user text
_RUNS_SQL = """
with trade_counts as (
    select trades.run_id, count(*) as n_trades
    from backtest.trades as trades
    group by trades.run_id
)

select
    runs.run_id,
    runs.strategy,
    runs.underlying_symbol,
    runs.first_date,
    runs.last_date,
    {optional},
    cast(coalesce(trade_counts.n_trades, 0) as bigint) as n_trades
from backtest.runs as runs
left join trade_counts on runs.run_id = trade_counts.run_id
order by write_seq desc nulls last, runs.last_date desc, runs.run_id
"""

_RUN_SQL = """
select
    runs.run_id,
    runs.strategy,
    runs.underlying_symbol,
    runs.config_json,
    runs.first_date,
    runs.last_date,
    {optional}
from backtest.runs as runs
where runs.run_id = $1
"""


def _columns(table: str) -> tuple[str, ...]:
    """This page's columns of ``backtest.<table>`` (:data:`REQUIRED`) but ``run_id``, in order."""
    return tuple(c for c in REQUIRED[f"backtest.{table}"] if c != "run_id")


# The select lists and their casts are the package's (app.queries.READ_TYPES): one definition
# for the Backtest page's trades and legs and this page's.
_TRADES_SQL = run_rows_sql("trades", _columns("trades"), ("trade_id",))
_LEGS_SQL = run_rows_sql("legs", _columns("legs"), ("trade_id", "leg_no"))
_POSITIONS_SQL = run_rows_sql(
    "positions_daily", _columns("positions_daily"), ("trade_id", "quote_date")
)

# {relation} is a value of CHAIN_TABLES, never user text; the contracts, their expirations and
# the dates come bound. On the 20M-row modeled table a contract list filtered in the scan is
# about twice as fast as a range join with the legs, and the expirations (a date compare) first
# halve it again; each contract's own holding days are kept in Polars.
_QUOTES_SQL = """
select
    chain.contract_symbol,
    chain.quote_date,
    cast(chain.underlying_price as double) as underlying_price,
    cast(chain.forward_price as double) as forward_price,
    cast(chain.tte_years as double) as tte_years,
    cast(chain.risk_free_rate as double) as risk_free_rate,
    cast(chain.implied_volatility as double) as implied_volatility,
    cast(chain.vega as double) as vega
from {relation} as chain
where chain.quote_date between $1 and $2
    and chain.expiration in (select unnest($5::date[]))
    and list_contains($3::varchar[], chain.contract_symbol)
    {version_filter}
"""

_QUOTES_SCHEMA = {
    "contract_symbol": pl.String,
    "quote_date": pl.Date,
    **{name: pl.Float64 for name in QUOTE_COLUMNS[2:]},
}


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    present: dict[str, set[str]] = {}
    for schema, table, column in _frame(con, _PRESENT_SQL).iter_rows():
        present.setdefault(f"{schema}.{table}", set()).add(column)
    return present


def _optional_run_columns(present: dict[str, set[str]]) -> str:
    have = present.get("backtest.runs", set())
    kinds = {"chain_source": "varchar", "chain_model_version": "varchar", "write_seq": "bigint"}
    parts = []
    for name in _OPTIONAL_RUN_COLUMNS:
        if name in have:
            value = f"runs.{name}"
            if name == "chain_source":  # a run written before chain sources read the real chain
                value = "coalesce(runs.chain_source, 'real')"
            parts.append(f"{value} as {name}")
        elif name == "chain_source":
            parts.append("'real' as chain_source")
        else:
            parts.append(f"cast(null as {kinds[name]}) as {name}")
    return ",\n    ".join(parts)


def _legs_held(legs: pl.DataFrame, trades: pl.DataFrame, last_date: object) -> pl.DataFrame:
    """Each option contract of the run with the first and last day it is held: from its
    entry to its exit (the leg's, else the trade's, else the run's last date while open)."""
    options = legs.filter(pl.col("leg_type") != "stock").join(
        trades.select("trade_id", pl.col("exit_date").alias("_trade_exit")), on="trade_id"
    )
    return options.group_by("contract_symbol").agg(
        pl.col("expiration").first(),
        pl.col("entry_date").min().alias("first_date"),
        pl.coalesce("exit_date", "_trade_exit", pl.lit(last_date, dtype=pl.Date))
        .max()
        .alias("last_date"),
    )


def trade_runs(db: Path | str) -> pl.DataFrame:
    """The runs of the published warehouse, the most recently written first.

    Returns
    -------
    polars.DataFrame
        One row per run: ``run_id``, ``strategy``, ``underlying_symbol``, ``first_date``,
        ``last_date``, ``chain_source`` (``real``/``modeled``), ``chain_model_version`` (null on
        the real chain), ``write_seq`` (order written, 1, 2, ...; null in a warehouse written
        before it existed) and ``n_trades``. Ordered by ``write_seq`` descending, then (where it
        is null) by ``last_date`` descending and ``run_id``.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.runs`` or ``backtest.trades`` does not exist.
    """
    with _reader(db) as con:
        optional = _optional_run_columns(_present(con))
        return _frame(con, _RUNS_SQL.format(optional=optional))


@dataclass(frozen=True)
class TradeRun:
    """Everything the Trades page shows for one run, read in one connection (one snapshot).

    Attributes
    ----------
    run
        The run's ``backtest.runs`` row as a dict (``config_json`` parsed into ``config``;
        ``chain_source``, ``chain_model_version``, ``write_seq`` as in :func:`trade_runs`);
        empty when the run is unknown.
    trades
        One row per trade (:data:`REQUIRED` columns of ``backtest.trades`` but ``run_id``),
        by ``trade_id``; USD columns and prices as floats, ``entry_value``/``exit_value`` net
        premium per lot in index points (+ debit, − credit).
    legs
        One row per trade per leg (``backtest.legs`` without ``run_id``).
    positions
        One row per trade per session it is open (``backtest.positions_daily`` without
        ``run_id``): marks and dollar greeks, USD, for all its lots.
    quotes
        The run's chain quotes of its option legs over the days they are held: one row per
        ``contract_symbol`` per ``quote_date`` with :data:`QUOTE_COLUMNS` (index points,
        years, decimals; ``vega`` per vol point per unit). Empty when the chain table is absent.
    quotes_relation
        The relation the quotes came from (``marts.fct_option_features`` or
        ``marts.fct_option_quotes_modeled``), or ``None`` when it is absent.
    """

    run: dict[str, Any]
    trades: pl.DataFrame
    legs: pl.DataFrame
    positions: pl.DataFrame
    quotes: pl.DataFrame
    quotes_relation: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def multiplier(self) -> float:
        """The run's contract multiplier (``execution.multiplier`` of its config; 100 if unset)."""
        value = (self.config.get("execution") or {}).get("multiplier")
        return float(value) if value else 100.0

    @property
    def exit_levels_pct(self) -> dict[str, float]:
        """``take_profit_pct`` / ``stop_loss_pct`` of the run's config that are set (% of the
        entry premium at mid; engine.exits)."""
        exits = self.config.get("exits") or {}
        return {
            key: float(exits[key])
            for key in ("take_profit_pct", "stop_loss_pct")
            if exits.get(key) is not None
        }


def trade_run(db: Path | str, run_id: str) -> TradeRun:
    """One run's trades, legs, daily marks and leg quotes (see :class:`TradeRun`).

    Parameters
    ----------
    db
        Published DuckDB file.
    run_id
        Run to read (bound as a parameter).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    json.JSONDecodeError
        When the run's stored ``config_json`` is not JSON.
    """
    with _reader(db) as con:
        present = _present(con)
        run_rows = _frame(
            con, _RUN_SQL.format(optional=_optional_run_columns(present)), [run_id]
        ).to_dicts()
        run = run_rows[0] if run_rows else {}
        config = json.loads(run["config_json"]) if run.get("config_json") else {}
        trades = _frame(con, _TRADES_SQL, [run_id])
        legs = _frame(con, _LEGS_SQL, [run_id])
        positions = _frame(con, _POSITIONS_SQL, [run_id])
        source = run.get("chain_source") or "real"
        schema, table = CHAIN_TABLES.get(source, CHAIN_TABLES["real"])
        relation = f"{schema}.{table}"
        has_chain = {*QUOTE_COLUMNS, "expiration"} <= present.get(relation, set())
        held = _legs_held(legs, trades, run.get("last_date"))
        if run and has_chain and held.height:
            version = run.get("chain_model_version")
            with_version = (
                source == "modeled" and version is not None and "model_version" in present[relation]
            )
            sql = _QUOTES_SQL.format(
                relation=relation,
                version_filter="and chain.model_version = $4" if with_version else "and $4 is null",
            )
            params = [
                held["first_date"].min(),
                held["last_date"].max(),
                held["contract_symbol"].to_list(),
                version if with_version else None,
                held["expiration"].unique().sort().to_list(),
            ]
            quotes = (
                _frame(con, sql, params)
                .join(held, on="contract_symbol")
                .filter(pl.col("quote_date").is_between("first_date", "last_date"))
                .drop("first_date", "last_date", "expiration")
                .sort("contract_symbol", "quote_date")
            )
        else:
            quotes = pl.DataFrame(schema=_QUOTES_SCHEMA)
    return TradeRun(
        run=run,
        trades=trades,
        legs=legs,
        positions=positions,
        quotes=quotes,
        quotes_relation=relation if has_chain else None,
        config=config,
    )
