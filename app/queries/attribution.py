"""Queries of the Attribution page: a backtest's P&L by the forecast in force at entry, and each
model's hit rate and lift by decile of its score.

Every public function opens the published database read-only through :mod:`app.db`, binds every
value as a parameter and closes the connection before returning; the grouping column of
:func:`strategy_attribution` comes from the allowlist :data:`GROUPINGS`. Numerics come back as
``DOUBLE``.

Tables read (dbt marts built by ``make all``): ``forecasts.rpt_strategy_pnl_by_forecast`` (one
row per backtest run × forecast decile × predicted regime) and ``forecasts.rpt_forecast_deciles``
(one row per current model run × decile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader

#: "schema.table" -> columns this module reads (the page checks them before it runs).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "forecasts.rpt_strategy_pnl_by_forecast": (
        "backtest_run_id",
        "strategy",
        "forecast_model",
        "forecast_model_version",
        "forecast_run_id",
        "forecast_run_match",
        "forecast_decile",
        "predicted_regime",
        "n_trades",
        "n_winning_trades",
        "total_pnl_usd",
        "mean_trade_return",
        "total_commission_usd",
        "mean_forecast_p_up",
    ),
    "forecasts.rpt_forecast_deciles": (
        "run_id",
        "model_name",
        "family",
        "task",
        "underlying_symbol",
        "decile",
        "n_predictions",
        "n_hit_observations",
        "min_score",
        "max_score",
        "mean_score",
        "hit_rate",
        "baseline_hit_rate",
        "lift",
        "mean_realized_return",
        "baseline_mean_realized_return",
        "excess_realized_return",
    ),
}

#: Grouping name -> column of rpt_strategy_pnl_by_forecast (an allowlist: spliced into SQL).
GROUPINGS: Mapping[str, str] = {
    "forecast_decile": "forecast_decile",
    "predicted_regime": "predicted_regime",
}
#: Below this many trades in a backtest the page says its splits are anecdotes, not evidence.
FEW_TRADES = 30

_BACKTESTS_SQL = """
select
    pnl.backtest_run_id,
    any_value(pnl.strategy) as strategy,
    any_value(pnl.forecast_model) as forecast_model,
    any_value(pnl.forecast_model_version) as forecast_model_version,
    any_value(pnl.forecast_run_id) as forecast_run_id,
    any_value(pnl.forecast_run_match) as forecast_run_match,
    cast(sum(pnl.n_trades) as bigint) as n_trades,
    cast(sum(pnl.n_winning_trades) as bigint) as n_winning_trades,
    cast(sum(pnl.total_pnl_usd) as double) as total_pnl_usd,
    cast(sum(pnl.total_commission_usd) as double) as total_commission_usd
from forecasts.rpt_strategy_pnl_by_forecast as pnl
group by pnl.backtest_run_id
order by pnl.backtest_run_id
"""

# {group} is a column of GROUPINGS, never user text.
_BY_GROUP_SQL = """
select
    pnl.{group},
    cast(sum(pnl.n_trades) as bigint) as n_trades,
    cast(sum(pnl.n_winning_trades) as bigint) as n_winning_trades,
    cast(sum(pnl.total_pnl_usd) as double) as total_pnl_usd,
    cast(sum(pnl.total_pnl_usd) / sum(pnl.n_trades) as double) as mean_pnl_usd,
    cast(sum(pnl.n_winning_trades) / sum(pnl.n_trades) as double) as win_rate,
    cast(sum(pnl.mean_trade_return * pnl.n_trades) / sum(pnl.n_trades) as double)
        as mean_trade_return,
    cast(
        sum(pnl.mean_forecast_p_up * pnl.n_trades)
        / nullif(sum(pnl.n_trades) filter (where pnl.mean_forecast_p_up is not null), 0)
        as double
    ) as mean_forecast_p_up
from forecasts.rpt_strategy_pnl_by_forecast as pnl
where pnl.backtest_run_id = ?
group by pnl.{group}
order by pnl.{group} nulls last
"""

_CELLS_SQL = """
select
    pnl.forecast_decile,
    pnl.predicted_regime,
    cast(pnl.n_trades as bigint) as n_trades,
    cast(pnl.n_winning_trades as bigint) as n_winning_trades,
    cast(pnl.total_pnl_usd as double) as total_pnl_usd,
    cast(pnl.mean_pnl_usd as double) as mean_pnl_usd,
    cast(pnl.win_rate as double) as win_rate,
    cast(pnl.mean_trade_return as double) as mean_trade_return,
    cast(pnl.mean_forecast_p_up as double) as mean_forecast_p_up
from forecasts.rpt_strategy_pnl_by_forecast as pnl
where pnl.backtest_run_id = ?
order by pnl.forecast_decile nulls last, pnl.predicted_regime
"""

_DECILE_RUNS_SQL = """
select
    deciles.run_id,
    any_value(deciles.model_name) as model_name,
    any_value(deciles.family) as family,
    any_value(deciles.task) as task,
    any_value(deciles.underlying_symbol) as underlying_symbol,
    cast(sum(deciles.n_predictions) as bigint) as n_predictions
from forecasts.rpt_forecast_deciles as deciles
group by deciles.run_id
order by model_name, deciles.run_id
"""

_DECILES_SQL = """
select
    cast(deciles.decile as integer) as decile,
    cast(deciles.n_predictions as bigint) as n_predictions,
    cast(deciles.n_hit_observations as bigint) as n_hit_observations,
    cast(deciles.min_score as double) as min_score,
    cast(deciles.max_score as double) as max_score,
    cast(deciles.mean_score as double) as mean_score,
    cast(deciles.hit_rate as double) as hit_rate,
    cast(deciles.baseline_hit_rate as double) as baseline_hit_rate,
    cast(deciles.lift as double) as lift,
    cast(deciles.mean_realized_return as double) as mean_realized_return,
    cast(deciles.baseline_mean_realized_return as double) as baseline_mean_realized_return,
    cast(deciles.excess_realized_return as double) as excess_realized_return
from forecasts.rpt_forecast_deciles as deciles
where deciles.run_id = ?
order by deciles.decile
"""


@dataclass(frozen=True)
class StrategyAttribution:
    """A backtest's trades by forecast, read through one connection (one snapshot).

    Attributes
    ----------
    by_decile
        One row per ``forecast_decile`` (int 1..10; NULL for trades without a forecast, last),
        summed over regimes (see :func:`strategy_attribution`).
    by_regime
        One row per ``predicted_regime`` (``LOW``, ``NORMAL``, ``HIGH`` or ``UNKNOWN``), summed
        over deciles.
    cells
        The mart's rows for the run: one per decile × regime.
    """

    by_decile: pl.DataFrame
    by_regime: pl.DataFrame
    cells: pl.DataFrame


def _by_group(con: duckdb.DuckDBPyConnection, backtest_run_id: str, grouping: str) -> pl.DataFrame:
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {sorted(GROUPINGS)}, got {grouping!r}")
    return _frame(con, _BY_GROUP_SQL.format(group=GROUPINGS[grouping]), [backtest_run_id])


def backtest_runs(db: Path | str) -> pl.DataFrame:
    """Backtest runs attributed to forecasts, with their totals.

    Returns
    -------
    polars.DataFrame
        One row per ``backtest_run_id``: ``strategy``, ``forecast_model``,
        ``forecast_model_version``, ``forecast_run_id`` (NULL when no current run matches),
        ``forecast_run_match`` (``model_version`` | ``model_name`` | ``none``), ``n_trades``,
        ``n_winning_trades``, ``total_pnl_usd`` and ``total_commission_usd`` (USD, P&L net of
        commission).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _BACKTESTS_SQL)


def strategy_attribution(db: Path | str, backtest_run_id: str) -> StrategyAttribution:
    """P&L and win rate of one backtest's trades by forecast decile and by predicted regime.

    Parameters
    ----------
    db
        Published DuckDB file.
    backtest_run_id
        The backtest (bound as a parameter); an unknown id gives empty frames.

    Returns
    -------
    StrategyAttribution
        ``by_decile`` and ``by_regime`` hold ``n_trades``, ``n_winning_trades``,
        ``total_pnl_usd`` and ``mean_pnl_usd`` (USD, net of commission), ``win_rate``
        (``n_winning_trades / n_trades``, decimal; the mart's win rate where every trade has a
        P&L), ``mean_trade_return`` (trade-weighted, decimal) and ``mean_forecast_p_up``
        (trade-weighted over the trades with a forecast, decimal; NULL without one).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return StrategyAttribution(
            by_decile=_by_group(con, backtest_run_id, "forecast_decile"),
            by_regime=_by_group(con, backtest_run_id, "predicted_regime"),
            cells=_frame(con, _CELLS_SQL, [backtest_run_id]),
        )


def decile_runs(db: Path | str) -> pl.DataFrame:
    """Model runs with a decile report.

    Returns
    -------
    polars.DataFrame
        One row per ``run_id`` (current runs): ``model_name``, ``family``, ``task``,
        ``underlying_symbol`` and ``n_predictions`` (walk-forward rows with an outcome).
    """
    with _reader(db) as con:
        return _frame(con, _DECILE_RUNS_SQL)


def forecast_deciles(db: Path | str, run_id: str) -> pl.DataFrame:
    """Hit rate, lift and realized return by decile of one run's score.

    Parameters
    ----------
    db
        Published DuckDB file.
    run_id
        The model run (bound as a parameter); an unknown id gives an empty frame.

    Returns
    -------
    polars.DataFrame
        One row per ``decile`` (1 = lowest scores .. 10), ascending: ``n_predictions``,
        ``n_hit_observations``, ``min_score`` / ``max_score`` / ``mean_score`` (p_up, yhat or
        prob_high), ``hit_rate`` and ``baseline_hit_rate`` (decimals), ``lift`` (hit_rate /
        baseline; 1 = no better), ``mean_realized_return``, ``baseline_mean_realized_return``
        and ``excess_realized_return`` (decimals; NULL for regime runs).
    """
    with _reader(db) as con:
        return _frame(con, _DECILES_SQL, [run_id])


def no_decile_reason(
    forecast_model: str | None, forecast_run_match: str | None, n_with_decile: int
) -> str | None:
    """Why a backtest's trades have no forecast decile, or ``None`` when some have one.

    Parameters
    ----------
    forecast_model
        The model the backtest's entries were conditioned on (``backtest.runs``); ``None`` for
        an ungated backtest.
    forecast_run_match
        How the mart matched it to a current run: ``model_version`` | ``model_name`` | ``none``.
    n_with_decile
        Trades of the backtest that have a forecast decile.

    Examples
    --------
    >>> no_decile_reason(None, "none", 0)[:40]
    'This backtest is ungated: no forecast de'
    >>> no_decile_reason("xgb_direction_5d", "model_version", 12) is None
    True
    """
    if n_with_decile > 0:
        return None
    if forecast_model is None:
        return (
            "This backtest is ungated: no forecast decided its entries (its `forecast_model` "
            "is empty), so no P(up) was in force at entry to rank its trades by, and there are "
            "no forecast deciles to draw. The regime split below still applies: it reads the "
            "strategy selector's regime model on each entry date."
        )
    if forecast_run_match == "none":
        return (
            f"This backtest was gated on `{forecast_model}`, which has no current model run "
            "to attribute its trades to (retrained or removed since), so there are no "
            "forecast deciles to draw."
        )
    return (
        f"This backtest was gated on `{forecast_model}`, whose forecasts have no P(up) (a "
        "regime or option-level model, not a direction model), so its trades have no P(up) "
        "decile to draw. The regime split below applies."
    )
