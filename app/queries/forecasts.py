"""Queries of the Forecasts page: underlying-level predictions and the strategy selector's signals
by date.

Every public function opens the published database read-only through :mod:`app.db`, binds every
value as a parameter (the date bucket is a value of :data:`BUCKETS`, also bound) and closes the
connection before returning. Numerics come back as ``DOUBLE``. Long date ranges are averaged per
week in SQL so a chart never carries more than about a thousand points per series.

Tables read: ``ml.model_registry`` (current runs and their decision thresholds),
``ml.model_metrics`` (their pooled out-of-sample AUC),
``forecasts.int_forecast_predictions_realized`` (predictions of the current runs with their
realized outcomes), ``forecasts.fct_strategy_signals`` (the selector's decisions) and
``marts.fct_underlying_daily`` (the underlying's last session), all built by ``make all``.

"Live" is defined by the data, never by today's date: the warehouse's ``prediction_kind =
'live'`` rows are the latest as-of dates whose ``horizon_days``-session outcome lies after the
underlying's last session in the data (:attr:`ForecastWindow.last_session`); their outcome is
*pending*, however long ago that session was. The page calls them "pending", not "live".
"""

from __future__ import annotations

import datetime as dt
import math
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
        "horizon_days",
        "is_current",
    ),
    "ml.model_metrics": ("run_id", "fold_id", "predictor", "metric", "value", "n_rows"),
    "marts.fct_underlying_daily": ("underlying_symbol", "trade_date"),
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
        "direction_run_id",
        "direction_model_name",
        "regime_run_id",
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
#: The strategy selector calls UP at p_up >= this cut, whatever a run's tuned decision
#: threshold (models_sql/models/forecasts/fct_strategy_signals.sql, ``direction_forecast``).
SELECTOR_CUT = 0.5
#: AUC of a score that ranks no better than chance.
NO_SKILL_AUC = 0.5
#: Two-sided normal quantile of the 95 % skill interval.
Z_95 = 1.959963984540054

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
    cast(model_registry.horizon_days as integer) as horizon_days,
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
    fct_strategy_signals.reason,
    fct_strategy_signals.direction_run_id,
    fct_strategy_signals.direction_model_name,
    cast(fct_strategy_signals.p_up as double) as p_up,
    fct_strategy_signals.direction_forecast,
    fct_strategy_signals.regime_run_id,
    fct_strategy_signals.regime_model_name
from forecasts.fct_strategy_signals as fct_strategy_signals
where fct_strategy_signals.underlying_symbol = ?
    and fct_strategy_signals.direction_prediction_kind = 'live'
order by fct_strategy_signals.as_of_date desc
limit 1
"""


_LAST_SESSION_SQL = """
select max(fct_underlying_daily.trade_date) as last_session
from marts.fct_underlying_daily as fct_underlying_daily
where fct_underlying_daily.underlying_symbol = ?
"""

# The pooled walk-forward AUC (fold_id 0, ml/schema.py) and the labelled rows it was scored on.
_SKILL_SQL = """
with labelled as (
    select
        predictions_realized.run_id,
        count(*) filter (where predictions_realized.realized_label = 'UP') as n_up,
        count(*) filter (where predictions_realized.realized_label = 'DOWN') as n_down
    from forecasts.int_forecast_predictions_realized as predictions_realized
    where predictions_realized.run_id in (select unnest(?::varchar[]))
        and predictions_realized.contract_symbol is null
        and predictions_realized.prediction_kind = 'walk_forward'
    group by predictions_realized.run_id
)

select
    model_registry.run_id,
    model_registry.model_name,
    model_registry.family,
    model_registry.task,
    cast(model_registry.horizon_days as integer) as horizon_days,
    cast(model_metrics.value as double) as auc,
    cast(model_metrics.n_rows as bigint) as n_scored,
    cast(coalesce(labelled.n_up, 0) as bigint) as n_up,
    cast(coalesce(labelled.n_down, 0) as bigint) as n_down
from ml.model_registry as model_registry
left join ml.model_metrics as model_metrics
    on model_registry.run_id = model_metrics.run_id
    and model_metrics.fold_id = 0
    and model_metrics.predictor = 'model'
    and model_metrics.metric = 'auc'
left join labelled
    on model_registry.run_id = labelled.run_id
where model_registry.run_id in (select unnest(?::varchar[]))
order by model_registry.run_id
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
        Zero rows or one: the newest ``live`` (outcome pending) prediction of each run
        (``as_of_date``, ``p_up`` and ``predicted_label``, the label at the run's tuned
        decision threshold; ``regime`` and its ``regime_probability``) and the newest pending
        signal (``as_of_date``, ``strategy``, ``size_tier``, ``reason``, and the inputs it
        traded on: ``direction_run_id``, ``direction_model_name``, ``p_up``,
        ``direction_forecast`` at the selector's 0.5 cut, ``regime_run_id``,
        ``regime_model_name``), whatever the range.
    last_session
        The underlying's last trade date in ``marts.fct_underlying_daily`` (``None`` when it
        has none): what "pending" and "latest" are relative to, never today's date.
    """

    bucket: Bucket
    direction: pl.DataFrame
    regime: pl.DataFrame
    signals: pl.DataFrame
    latest_direction: pl.DataFrame
    latest_regime: pl.DataFrame
    latest_signal: pl.DataFrame
    last_session: dt.date | None = None


def forecast_runs(db: Path | str) -> pl.DataFrame:
    """Current underlying-level runs (direction and regime families) with their prediction dates.

    Returns
    -------
    polars.DataFrame
        One row per current run that has underlying-level predictions: ``run_id``,
        ``model_name``, ``family`` (``direction`` | ``iv_regime``), ``estimator``,
        ``underlying_symbol``, ``decision_threshold`` (P(up) cut, decimal; NULL for regime
        runs), ``horizon_days`` (sessions to the outcome), ``first_date`` / ``last_date`` of
        its predictions, ``n_live`` (live, i.e. pending, dates).

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
        last_session = _frame(con, _LAST_SESSION_SQL, [underlying]).item(0, "last_session")
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
        last_session=last_session,
    )


def model_skill(db: Path | str, run_ids: list[str]) -> pl.DataFrame:
    """Pooled out-of-sample AUC of some runs and the labelled rows behind it.

    Parameters
    ----------
    db
        Published DuckDB file.
    run_ids
        Runs to read (bound as a list); unknown ids give no row.

    Returns
    -------
    polars.DataFrame
        One row per known run, by ``run_id``: ``model_name``, ``family``, ``task``
        (``binary`` | ``multiclass`` | ``regression``), ``horizon_days`` (sessions),
        ``auc`` (``ml.model_metrics`` fold 0 = every walk-forward test row pooled; NULL for
        regression runs; multiclass runs carry the macro one-vs-rest AUC), ``n_scored`` (rows
        it was scored on), ``n_up`` / ``n_down`` (labelled walk-forward underlying-level
        predictions by realized label; 0 for other families).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    ids = [str(run_id) for run_id in run_ids]
    with _reader(db) as con:
        return _frame(con, _SKILL_SQL, [ids, ids])


def auc_interval(
    auc: float, n_positive: int, n_negative: int, horizon_days: int = 1, z: float = Z_95
) -> tuple[float, float]:
    """Normal-approximation interval of an AUC, with overlapping outcomes thinned.

    The standard error is that of Hanley & McNeil (1982), "The meaning and use of the area
    under a receiver operating characteristic (ROC) curve", Radiology 143(1), 29-36 (the
    standard error of the Wilcoxon statistic ``W``, with its exponential approximations of
    ``Q1`` and ``Q2``)::

        Q1 = A / (2 - A),  Q2 = 2 A^2 / (1 + A)
        SE^2 = (A (1 - A) + (nP - 1)(Q1 - A^2) + (nN - 1)(Q2 - A^2)) / (nP nN)

    It assumes independent rows; consecutive daily forecasts of an ``h``-session outcome share
    ``h - 1`` sessions of it, so the counts are divided by ``horizon_days`` (about one
    independent outcome per ``h`` sessions, the non-overlapping sample), which widens the
    interval. The bounds are clipped to [0, 1].

    Parameters
    ----------
    auc
        Area under the ROC curve, in [0, 1].
    n_positive, n_negative
        Labelled rows of each class (> 0 each).
    horizon_days
        Outcome horizon in sessions (>= 1); 1 for non-overlapping outcomes.
    z
        Normal quantile (1.96 for 95 %).

    Returns
    -------
    tuple[float, float]
        ``(low, high)``.

    Raises
    ------
    ValueError
        When ``auc`` is outside [0, 1] or NaN, a count is < 1, or ``horizon_days`` < 1 (the
        message names the value).

    Examples
    --------
    A = 0.5 and 100 rows of each class: Q1 = Q2 = 1/3, SE^2 = (0.25 + 2 x 99 x (1/3 - 0.25))
    / 10,000 = 0.001675, SE = 0.04093, half-width 1.96 x SE = 0.0802:

    >>> low, high = auc_interval(0.5, 100, 100)
    >>> round(low, 4), round(high, 4)
    (0.4198, 0.5802)
    >>> [round(b, 3) for b in auc_interval(0.499, 2436, 1752, horizon_days=5)]
    [0.459, 0.539]
    """
    if not 0.0 <= auc <= 1.0:
        raise ValueError(f"auc must be in [0, 1], got {auc!r}")
    if n_positive < 1 or n_negative < 1:
        raise ValueError(
            f"need rows of both classes, got n_positive={n_positive!r}, n_negative={n_negative!r}"
        )
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days!r}")
    n_p = max(n_positive / horizon_days, 1.0)
    n_n = max(n_negative / horizon_days, 1.0)
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (
        auc * (1.0 - auc) + (n_p - 1.0) * (q1 - auc * auc) + (n_n - 1.0) * (q2 - auc * auc)
    ) / (n_p * n_n)
    half = z * math.sqrt(max(variance, 0.0))
    return max(auc - half, 0.0), min(auc + half, 1.0)


def lacks_skill(auc: float | None, interval: tuple[float, float] | None = None) -> bool:
    """Whether a model shows no demonstrated ranking skill out of sample.

    True when the AUC is missing, at or below :data:`NO_SKILL_AUC` (0.5, a coin flip), or
    when its interval (from :func:`auc_interval`) reaches down to 0.5.

    >>> lacks_skill(0.499), lacks_skill(0.56, (0.52, 0.60)), lacks_skill(0.53, (0.49, 0.57))
    (True, False, True)
    """
    if auc is None or math.isnan(auc) or auc <= NO_SKILL_AUC:
        return True
    return interval is not None and interval[0] <= NO_SKILL_AUC


def direction_call(p_up: float | None, cut: float = SELECTOR_CUT) -> str:
    """``UP`` at ``p_up >= cut`` (inclusive, as the selector), ``DOWN`` below, ``n/a`` without.

    >>> direction_call(0.674), direction_call(0.5), direction_call(0.4999), direction_call(None)
    ('UP', 'UP', 'DOWN', 'n/a')
    """
    if p_up is None:
        return "n/a"
    return "UP" if p_up >= cut else "DOWN"


def skill_warning(row: dict, role: str) -> str | None:
    """The warning for a model without demonstrated out-of-sample skill, or ``None``.

    Parameters
    ----------
    row
        One row of :func:`app.queries.forecasts.model_skill` as a mapping.
    role
        Who uses the model, e.g. ``"The strategy selector trades on"``.

    Examples
    --------
    >>> row = {"model_name": "xgb_direction_5d", "task": "binary", "auc": 0.499,
    ...        "n_up": 2436, "n_down": 1752, "horizon_days": 5}
    >>> print(skill_warning(row, "The strategy selector trades on"))  # doctest: +ELLIPSIS
    The strategy selector trades on `xgb_direction_5d`, whose out-of-sample AUC is 0.499 (95 % ...
    >>> skill_warning({**row, "auc": 0.65}, "x") is None
    True
    """
    auc, name = row["auc"], row["model_name"]
    if auc is None:
        return (
            f"{role} `{name}`, which has no out-of-sample AUC in `ml.model_metrics`: its skill "
            "is unknown."
        )
    interval = None
    if row["task"] == "binary" and row["n_up"] and row["n_down"]:
        interval = auc_interval(
            auc, row["n_up"], row["n_down"], horizon_days=max(row["horizon_days"] or 1, 1)
        )
    if not lacks_skill(auc, interval):
        return None
    if interval is None:
        detail = f"out-of-sample AUC is {auc:.3f}"
    else:
        n = row["n_up"] + row["n_down"]
        detail = (
            f"out-of-sample AUC is {auc:.3f} (95 % interval {interval[0]:.3f} to "
            f"{interval[1]:.3f}, over {n:,} labelled walk-forward dates counted as "
            f"{n // max(row['horizon_days'] or 1, 1):,} independent "
            f"{row['horizon_days']}-session outcomes)"
        )
    if interval is not None and interval[1] < NO_SKILL_AUC:
        verdict = "reliably worse than a coin flip (AUC 0.5)"
    elif interval is not None:
        verdict = "indistinguishable from a coin flip (AUC 0.5)"
    else:
        verdict = "no better than a coin flip (AUC 0.5)"
    return (
        f"{role} `{name}`, whose {detail}: {verdict}. Its calls, and the strategies chosen from "
        "them, carry no demonstrated skill: do not trade them as if they did."
    )
