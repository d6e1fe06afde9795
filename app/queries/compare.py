"""Read-only queries of the Compare page: several backtest runs side by side.

Same rules as :mod:`app.queries`: one short hardened read-only connection per call, values bound
as parameters (the run ids as one ``varchar[]``), numerics cast to ``DOUBLE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from app.formatting import fmt_int, fmt_pct, fmt_ratio, fmt_usd
from app.queries import chain_label

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
    ("win_rate", "Win rate", "pct"),
    ("n_trades", "Trades", "int"),
    ("avg_trade_pnl_usd", "Average trade P&L", "usd"),
    ("avg_holding_days", "Average holding (trading days)", "days"),
    ("total_commission_usd", "Commissions", "usd"),
)

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
    cast(metrics.win_rate as double) as win_rate,
    cast(metrics.n_trades as integer) as n_trades,
    cast(metrics.avg_trade_pnl_usd as double) as avg_trade_pnl_usd,
    cast(metrics.avg_holding_days as double) as avg_holding_days,
    cast(metrics.total_commission_usd as double) as total_commission_usd,
    metrics.first_date,
    metrics.last_date
from backtest.metrics as metrics
left join backtest.runs as runs on metrics.run_id = runs.run_id
where list_contains(?::varchar[], metrics.run_id)
order by metrics.run_id
"""


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
        :data:`METRIC_ROWS` (floats; ``n_trades`` int), ``first_date``, ``last_date``.
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


def side_by_side(metrics: pl.DataFrame) -> pl.DataFrame:
    """The comparison table: one row per metric of :data:`METRIC_ROWS`, one column per run.

    Parameters
    ----------
    metrics
        :attr:`Comparison.metrics`.

    Returns
    -------
    polars.DataFrame
        ``metric`` (label) then one string column per ``run_id`` (in the input's order) with
        the formatted value (NaN or NULL shows as ``n/a``), then a ``Period`` row, and a
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
    rows = [row for row in METRIC_ROWS if row[0] in metrics.columns]
    has_chain = "chain_source" in metrics.columns
    table: dict[str, list[str]] = {
        "metric": ["Chain"] * has_chain + [label for _, label, _ in rows]
    }
    has_period = "first_date" in metrics.columns and "last_date" in metrics.columns
    if has_period:
        table["metric"].append("Period")
    for run in metrics.iter_rows(named=True):
        values = (
            [chain_label(run["chain_source"], run.get("chain_model_version"))] if has_chain else []
        )
        values += [formats[kind](run[column]) for column, _, kind in rows]
        if has_period:
            values.append(f"{run['first_date']} to {run['last_date']}")
        table[run["run_id"]] = values
    return pl.DataFrame(table, schema={name: pl.String for name in table})
