"""Queries of the Forecasts page: underlying-level predictions and the strategy selector's signals
by date.

Every public function opens the published database read-only through :mod:`app.db`, binds every
value as a parameter (the date bucket is a value of :data:`BUCKETS`, also bound) and closes the
connection before returning. Numerics come back as ``DOUBLE``. Long date ranges are averaged per
week in SQL so a chart never carries more than about a thousand points per series.

Tables read: ``ml.model_registry`` (current runs and their decision thresholds),
``forecasts.int_forecast_predictions_realized`` (predictions of the current runs with their
realized outcomes) and ``forecasts.fct_strategy_signals`` (the selector's decisions), all built
by ``make all``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader

#: "schema.table" -> columns this module reads (the page checks them before it runs).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "ml.model_registry": (
        "run_id",
        "model_name",
        "family",
        "task",
        "estimator",
        "underlying_symbol",
        "decision_threshold",
        "is_current",
    ),
    "forecasts.int_forecast_predictions_realized": (
        "run_id",
        "underlying_symbol",
        "contract_symbol",
        "as_of_date",
        "prediction_kind",
        "p_up",
        "predicted_label",
        "regime",
        "prob_low",
        "prob_normal",
        "prob_high",
        "realized_label",
    ),
    "forecasts.fct_strategy_signals": (
        "underlying_symbol",
        "as_of_date",
        "direction_prediction_kind",
        "direction_model_name",
        "regime_model_name",
        "p_up",
        "direction_forecast",
        "direction_confidence",
        "confidence_tier",
        "regime_forecast",
        "regime_probability",
        "strategy",
        "size_tier",
        "reason",
    ),
}

Bucket = Literal["day", "week"]
#: Date buckets the series can be averaged over (an allowlist: the value reaches SQL bound).
BUCKETS: tuple[Bucket, ...] = ("day", "week")
#: Longest range, in calendar days, drawn day by day; longer ranges are averaged per week.
DAILY_MAX_DAYS = 3 * 366
#: Families of underlying-level models this page draws (option models forecast contracts).
DIRECTION_FAMILY = "direction"
REGIME_FAMILY = "iv_regime"
REGIME_CLASSES: tuple[str, ...] = ("LOW", "NORMAL", "HIGH")

_RUNS_SQL = """
with prediction_dates as (
    select
        predictions_realized.run_id,
        min(predictions_realized.as_of_date) as first_date,
        max(predictions_realized.as_of_date) as last_date,
        count(*) filter (where predictions_realized.prediction_kind = 'live') as n_live,
    from forecasts.int_forecast_predictions_realized as predictions_realized
    where predictions_realized.contract_symbol is null
    group by predictions_realized.run_id
)

select
    model_registry.run_id,
    model_registry.model_name,
    model_registry.family,
    model_registry.estimator,
    model_registry.underlying_symbol,
    cast(model_registry.decision_threshold as double) as decision_threshold,
    prediction_dates.first_date,
    prediction_dates.last_date,
    cast(prediction_dates.n_live as bigint) as n_live
from ml.model_registry as model_registry
inner join prediction_dates
    on model_registry.run_id = prediction_dates.run_id
where model_registry.is_current
    and model_registry.family in (?, ?)
order by model_registry.underlying_symbol, model_registry.family, model_registry.model_name
"""

_DIRECTION_SQL = """
select
    cast(date_trunc(?, predictions_realized.as_of_date) as date) as as_of_date,
    predictions_realized.prediction_kind,
    cast(avg(predictions_realized.p_up) as double) as p_up,
    cast(avg(
        case predictions_realized.realized_label when 'UP' then 1.0 when 'DOWN' then 0.0 end
    ) as double) as realized_up_share,
    cast(count(*) as bigint) as n_days
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.underlying_symbol = ?
    and predictions_realized.contract_symbol is null
    and predictions_realized.as_of_date between ? and ?
group by all
order by as_of_date, predictions_realized.prediction_kind
"""

_REGIME_SQL = """
select
    cast(date_trunc(?, predictions_realized.as_of_date) as date) as as_of_date,
    -- one row per bucket so the stacked probabilities sum to 1: a week holding the first live
    -- dates counts as live
    case
        when bool_or(predictions_realized.prediction_kind = 'live') then 'live'
        else 'walk_forward'
    end as prediction_kind,
    cast(avg(predictions_realized.prob_low) as double) as LOW,
    cast(avg(predictions_realized.prob_normal) as double) as NORMAL,
    cast(avg(predictions_realized.prob_high) as double) as HIGH,
    cast(count(*) as bigint) as n_days
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.underlying_symbol = ?
    and predictions_realized.contract_symbol is null
    and predictions_realized.as_of_date between ? and ?
group by 1
order by as_of_date
"""

_SIGNALS_SQL = """
select
    fct_strategy_signals.as_of_date,
    fct_strategy_signals.direction_prediction_kind as prediction_kind,
    fct_strategy_signals.strategy,
    fct_strategy_signals.size_tier,
    cast(fct_strategy_signals.p_up as double) as p_up,
    fct_strategy_signals.direction_forecast,
    cast(fct_strategy_signals.direction_confidence as double) as direction_confidence,
    fct_strategy_signals.confidence_tier,
    fct_strategy_signals.regime_forecast,
    cast(fct_strategy_signals.regime_probability as double) as regime_probability,
    fct_strategy_signals.reason,
    fct_strategy_signals.direction_model_name,
    fct_strategy_signals.regime_model_name
from forecasts.fct_strategy_signals as fct_strategy_signals
where fct_strategy_signals.underlying_symbol = ?
    and fct_strategy_signals.as_of_date between ? and ?
order by fct_strategy_signals.as_of_date desc
"""

_LATEST_DIRECTION_SQL = """
select
    predictions_realized.as_of_date,
    cast(predictions_realized.p_up as double) as p_up,
    predictions_realized.predicted_label
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.underlying_symbol = ?
    and predictions_realized.contract_symbol is null
    and predictions_realized.prediction_kind = 'live'
order by predictions_realized.as_of_date desc
limit 1
"""

_LATEST_REGIME_SQL = """
select
    predictions_realized.as_of_date,
    predictions_realized.regime,
    cast(greatest(
        predictions_realized.prob_low,
        predictions_realized.prob_normal,
        predictions_realized.prob_high
    ) as double) as regime_probability
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.underlying_symbol = ?
    and predictions_realized.contract_symbol is null
    and predictions_realized.prediction_kind = 'live'
order by predictions_realized.as_of_date desc
limit 1
"""

_LATEST_SIGNAL_SQL = """
select
    fct_strategy_signals.as_of_date,
    fct_strategy_signals.strategy,
    fct_strategy_signals.size_tier,
    fct_strategy_signals.reason
from forecasts.fct_strategy_signals as fct_strategy_signals
where fct_strategy_signals.underlying_symbol = ?
    and fct_strategy_signals.direction_prediction_kind = 'live'
order by fct_strategy_signals.as_of_date desc
limit 1
"""


@dataclass(frozen=True)
class ForecastWindow:
    """What the Forecasts page draws for one underlying, pair of runs and date range, read
    through one connection (one snapshot).

    Attributes
    ----------
    bucket
        ``day`` or ``week``: the series are averages over this bucket of as-of dates.
    direction
        One row per bucket × ``prediction_kind`` (``walk_forward`` or ``live``), ascending:
        ``as_of_date`` (the bucket's first day), ``p_up`` (mean P(up), decimal),
        ``realized_up_share`` (share of labelled dates that went up, decimal; NULL without a
        label), ``n_days`` (as-of dates averaged). Empty without a direction run.
    regime
        Long format, one row per bucket × ``regime_class`` (``LOW``, ``NORMAL``, ``HIGH``):
        ``probability`` (mean, decimal; the three sum to 1 per bucket), ``prediction_kind``
        (``live`` when any date of the bucket is), ``n_days``. Empty without a regime run.
    signals
        One row per as-of date in the range, newest first: the selector's decision
        (``strategy``, ``size_tier``, ``reason``) and its inputs (``p_up``,
        ``direction_forecast``, ``direction_confidence``, ``confidence_tier``,
        ``regime_forecast``, ``regime_probability``: decimals), ``prediction_kind`` of the
        direction forecast, and the model names the selector used.
    latest_direction, latest_regime, latest_signal
        Zero rows or one: the newest ``live`` prediction of each run (``as_of_date``, ``p_up``
        and ``predicted_label``; ``regime`` and its ``regime_probability``) and the newest live
        signal (``as_of_date``, ``strategy``, ``size_tier``, ``reason``), whatever the range.
    """

    bucket: Bucket
    direction: pl.DataFrame
    regime: pl.DataFrame
    signals: pl.DataFrame
    latest_direction: pl.DataFrame
    latest_regime: pl.DataFrame
    latest_signal: pl.DataFrame


def forecast_runs(db: Path | str) -> pl.DataFrame:
    """Current underlying-level runs (direction and regime families) with their prediction dates.

    Returns
    -------
    polars.DataFrame
        One row per current run that has underlying-level predictions: ``run_id``,
        ``model_name``, ``family`` (``direction`` | ``iv_regime``), ``estimator``,
        ``underlying_symbol``, ``decision_threshold`` (P(up) cut, decimal; NULL for regime
        runs), ``first_date`` / ``last_date`` of its predictions, ``n_live`` (live dates).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _RUNS_SQL, [DIRECTION_FAMILY, REGIME_FAMILY])


def bucket_for(start: dt.date, end: dt.date) -> Bucket:
    """Date bucket of a range: ``day`` up to :data:`DAILY_MAX_DAYS` calendar days, else ``week``.

    >>> bucket_for(dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    'day'
    >>> bucket_for(dt.date(1995, 1, 1), dt.date(2022, 12, 31))
    'week'
    """
    return "day" if (end - start).days <= DAILY_MAX_DAYS else "week"


def _series(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    bucket: Bucket,
    run_id: str | None,
    underlying: str,
    start: dt.date,
    end: dt.date,
) -> pl.DataFrame:
    return _frame(con, sql, [bucket, run_id, underlying, start, end])


def forecast_window(
    db: Path | str,
    underlying: str,
    direction_run_id: str | None,
    regime_run_id: str | None,
    start: dt.date,
    end: dt.date,
) -> ForecastWindow:
    """Predictions of two runs and the selector's signals for one underlying and date range.

    Parameters
    ----------
    db
        Published DuckDB file.
    underlying
        Underlying symbol (bound as a parameter).
    direction_run_id, regime_run_id
        Current runs of the direction and regime families (bound); ``None`` or an unknown id
        gives empty series.
    start, end
        Inclusive range of as-of dates. ``start`` after ``end`` gives empty frames.

    Returns
    -------
    ForecastWindow
        See its attributes; the bucket comes from :func:`bucket_for`.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    bucket = bucket_for(start, end)
    if bucket not in BUCKETS:  # the allowlist, should bucket_for ever change
        raise ValueError(f"bucket must be one of {BUCKETS}, got {bucket!r}")
    with _reader(db) as con:
        direction = _series(con, _DIRECTION_SQL, bucket, direction_run_id, underlying, start, end)
        regime_wide = _series(con, _REGIME_SQL, bucket, regime_run_id, underlying, start, end)
        signals = _frame(con, _SIGNALS_SQL, [underlying, start, end])
        latest_direction = _frame(con, _LATEST_DIRECTION_SQL, [direction_run_id, underlying])
        latest_regime = _frame(con, _LATEST_REGIME_SQL, [regime_run_id, underlying])
        latest_signal = _frame(con, _LATEST_SIGNAL_SQL, [underlying])
    regime = regime_wide.unpivot(
        on=list(REGIME_CLASSES),
        index=["as_of_date", "prediction_kind", "n_days"],
        variable_name="regime_class",
        value_name="probability",
    ).sort("as_of_date", "prediction_kind", "regime_class")
    return ForecastWindow(
        bucket=bucket,
        direction=direction,
        regime=regime,
        signals=signals,
        latest_direction=latest_direction,
        latest_regime=latest_regime,
        latest_signal=latest_signal,
    )
