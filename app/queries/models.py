"""Queries of the Models page: the registry, fold metrics, ROC / rank IC, calibration, importance
and drift of one training run.

The functions taking ``db`` open the published database read-only through :mod:`app.db` and close
it before returning; those taking ``con`` run on a connection one of them opened (one snapshot
per page run). Every value is bound as a parameter. Numerics come back as
``DOUBLE``. The ROC curve and the rank IC by date are computed here from the walk-forward
predictions joined to their realized outcomes (``forecasts.int_forecast_predictions_realized``,
current runs only), so the page only draws.

Tables read: ``ml.model_registry``, ``ml.model_metrics``, ``ml.feature_importance``,
``ml.feature_drift`` (written by ``python -m ml train``; DDL in :mod:`ml.schema`),
``forecasts.int_forecast_predictions_realized`` and ``forecasts.rpt_forecast_calibration`` (dbt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from sklearn.metrics import auc as _trapezoid_auc
from sklearn.metrics import roc_curve

from app.db import frame as _frame
from app.db import reader as _reader
from ml.metrics import daily_rank_ic

#: "schema.table" -> columns this module reads (the page checks them before it runs).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "ml.model_registry": (
        "run_id",
        "model_name",
        "model_version",
        "family",
        "task",
        "estimator",
        "underlying_symbol",
        "horizon_days",
        "n_splits",
        "selected_features_json",
        "class_labels_json",
        "decision_threshold",
        "train_start_date",
        "train_end_date",
        "n_train_rows",
        "test_start_date",
        "test_end_date",
        "is_current",
    ),
    "ml.model_metrics": ("run_id", "fold_id", "predictor", "metric", "value", "n_rows"),
    "ml.feature_importance": (
        "run_id",
        "importance_type",
        "feature",
        "importance",
        "importance_rank",
    ),
    "ml.feature_drift": (
        "run_id",
        "feature",
        "reference_start_date",
        "reference_end_date",
        "current_start_date",
        "current_end_date",
        "psi",
        "drift_level",
    ),
    "forecasts.int_forecast_predictions_realized": (
        "run_id",
        "as_of_date",
        "prediction_kind",
        "p_up",
        "yhat",
        "prob_low",
        "prob_normal",
        "prob_high",
        "realized_label",
        "realized_return",
    ),
    "forecasts.rpt_forecast_calibration": (
        "run_id",
        "class_label",
        "probability_bin",
        "n_predictions",
        "mean_predicted_probability",
        "observed_frequency",
    ),
}

#: Metrics where a lower value is better (the rest: higher is better).
LOWER_IS_BETTER: frozenset[str] = frozenset({"brier", "log_loss", "mse", "mae"})
#: Metrics that are counts, not scores: never offered as a fold chart.
NOT_A_SCORE: frozenset[str] = frozenset({"rank_ic_dates"})
#: Regime classes and the probability column of each (an allowlist: these names reach SQL).
REGIME_PROBABILITY_COLUMNS: Mapping[str, str] = {
    "LOW": "prob_low",
    "NORMAL": "prob_normal",
    "HIGH": "prob_high",
}
#: Points kept of a ROC curve for the chart (the AUC is computed before thinning).
ROC_MAX_POINTS = 300

_RUNS_SQL = """
select
    model_registry.run_id,
    model_registry.model_name,
    model_registry.family,
    model_registry.task,
    model_registry.estimator,
    model_registry.underlying_symbol,
    model_registry.is_current,
    cast(model_registry.horizon_days as integer) as horizon_days,
    cast(model_registry.n_splits as integer) as n_splits,
    cast(model_registry.decision_threshold as double) as decision_threshold,
    cast(json_array_length(model_registry.selected_features_json) as integer)
        as n_selected_features,
    model_registry.train_start_date,
    model_registry.train_end_date,
    cast(model_registry.n_train_rows as bigint) as n_train_rows,
    model_registry.test_start_date,
    model_registry.test_end_date,
    model_registry.model_version
from ml.model_registry as model_registry
order by model_registry.is_current desc, model_registry.model_name, model_registry.run_id
"""

_RUN_SQL = """
select
    model_registry.run_id,
    model_registry.model_name,
    model_registry.family,
    model_registry.task,
    cast(model_registry.decision_threshold as double) as decision_threshold,
    model_registry.selected_features_json,
    model_registry.class_labels_json
from ml.model_registry as model_registry
where model_registry.run_id = ?
"""

_METRICS_SQL = """
select
    cast(model_metrics.fold_id as integer) as fold_id,
    model_metrics.predictor,
    model_metrics.metric,
    cast(model_metrics.value as double) as value,
    cast(model_metrics.n_rows as bigint) as n_rows
from ml.model_metrics as model_metrics
where model_metrics.run_id = ?
order by model_metrics.metric, model_metrics.fold_id, model_metrics.predictor
"""

_CALIBRATION_SQL = """
select
    rpt_forecast_calibration.class_label,
    cast(rpt_forecast_calibration.probability_bin as integer) as probability_bin,
    cast(rpt_forecast_calibration.n_predictions as bigint) as n_predictions,
    cast(rpt_forecast_calibration.mean_predicted_probability as double)
        as mean_predicted_probability,
    cast(rpt_forecast_calibration.observed_frequency as double) as observed_frequency
from forecasts.rpt_forecast_calibration as rpt_forecast_calibration
where rpt_forecast_calibration.run_id = ?
order by rpt_forecast_calibration.class_label, rpt_forecast_calibration.probability_bin
"""

_IMPORTANCE_SQL = """
select
    feature_importance.importance_type,
    feature_importance.feature,
    cast(feature_importance.importance as double) as importance,
    cast(feature_importance.importance_rank as integer) as importance_rank
from ml.feature_importance as feature_importance
where feature_importance.run_id = ?
order by feature_importance.importance_type, feature_importance.importance_rank
"""

_DRIFT_SQL = """
select
    feature_drift.feature,
    cast(feature_drift.psi as double) as psi,
    feature_drift.drift_level,
    list_contains(from_json(?, '["varchar"]'), feature_drift.feature) as is_selected,
    feature_drift.reference_start_date,
    feature_drift.reference_end_date,
    feature_drift.current_start_date,
    feature_drift.current_end_date
from ml.feature_drift as feature_drift
where feature_drift.run_id = ?
order by feature_drift.psi desc nulls last, feature_drift.feature
"""

# Labelled walk-forward rows only: live rows have no outcome yet, and ambiguous direction moves
# have no label (the ml metrics leave both out too).
_BINARY_OUTCOMES_SQL = """
select
    cast(predictions_realized.p_up as double) as score,
    predictions_realized.realized_label = 'UP' as is_positive
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.prediction_kind = 'walk_forward'
    and predictions_realized.realized_label is not null
    and predictions_realized.p_up is not null
"""

_MULTICLASS_OUTCOMES_SQL = """
select
    cast(predictions_realized.prob_low as double) as prob_low,
    cast(predictions_realized.prob_normal as double) as prob_normal,
    cast(predictions_realized.prob_high as double) as prob_high,
    predictions_realized.realized_label
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.prediction_kind = 'walk_forward'
    and predictions_realized.realized_label is not null
    and predictions_realized.prob_low is not null
    and predictions_realized.prob_normal is not null
    and predictions_realized.prob_high is not null
"""

_REGRESSION_OUTCOMES_SQL = """
select
    predictions_realized.as_of_date,
    cast(predictions_realized.yhat as double) as yhat,
    cast(predictions_realized.realized_return as double) as realized_return
from forecasts.int_forecast_predictions_realized as predictions_realized
where predictions_realized.run_id = ?
    and predictions_realized.prediction_kind = 'walk_forward'
    and predictions_realized.has_realized_outcome
    and predictions_realized.realized_return is not null
    and predictions_realized.yhat is not null
"""

_ROC_SCHEMA = {
    "class_label": pl.String,
    "false_positive_rate": pl.Float64,
    "true_positive_rate": pl.Float64,
    "threshold": pl.Float64,
}
_AUC_SCHEMA = {
    "class_label": pl.String,
    "auc": pl.Float64,
    "n_rows": pl.Int64,
    "n_positive": pl.Int64,
}
_IC_SCHEMA = {"as_of_date": pl.Date, "n_contracts": pl.UInt32, "rank_ic": pl.Float64}


@dataclass(frozen=True)
class RunDetail:
    """Everything the Models page shows for one run, read through one connection (one snapshot).

    Attributes
    ----------
    run
        Zero rows (unknown run) or one: ``run_id``, ``model_name``, ``family``, ``task``,
        ``decision_threshold`` (binary tasks, decimal probability), ``selected_features_json``,
        ``class_labels_json``.
    metrics
        One row per fold × predictor × metric (see :func:`run_metrics`).
    roc
        ROC points (see :func:`roc_curves`); empty for regression runs.
    roc_auc
        One row per class: the area under the unthinned curve (see :func:`roc_curves`).
    rank_ic
        One row per as-of date (see :func:`rank_ic_by_date`); empty unless regression.
    calibration
        Reliability bins (see :func:`calibration`); empty for regression runs.
    importance
        One row per importance type × feature (see :func:`feature_importance`).
    drift
        One row per feature (see :func:`feature_drift`).
    """

    run: pl.DataFrame
    metrics: pl.DataFrame
    roc: pl.DataFrame
    roc_auc: pl.DataFrame
    rank_ic: pl.DataFrame
    calibration: pl.DataFrame
    importance: pl.DataFrame
    drift: pl.DataFrame

    @property
    def task(self) -> str | None:
        """``binary``, ``multiclass`` or ``regression``; ``None`` for an unknown run."""
        return self.run.item(0, "task") if self.run.height else None


def list_runs(db: Path | str) -> pl.DataFrame:
    """The training runs of the registry, current ones first.

    Returns
    -------
    polars.DataFrame
        One row per ``run_id``: ``model_name``, ``family``, ``task``, ``estimator``,
        ``underlying_symbol``, ``is_current``, ``horizon_days``, ``n_splits``,
        ``decision_threshold`` (decimal probability; NULL unless binary), ``n_selected_features``,
        the final model's training window (``train_start_date``, ``train_end_date``,
        ``n_train_rows``), the walk-forward test window and ``model_version``.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _RUNS_SQL)


def run_metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Fold metrics of one run on an open connection.

    Returns
    -------
    polars.DataFrame
        One row per ``fold_id`` (0 = all walk-forward test rows pooled, 1..n the folds) ×
        ``predictor`` (``model``, ``majority``, ``persistence``, ``train_mean``) × ``metric``:
        ``value`` (float; NULL where undefined; probabilities and rates are decimals) and
        ``n_rows`` (test rows scored).
    """
    return _frame(con, _METRICS_SQL, [run_id])


def _thin(points: pl.DataFrame, max_points: int | None) -> pl.DataFrame:
    """Keep about ``max_points`` evenly spaced rows, always the first and the last."""
    if max_points is None or points.height <= max_points:
        return points
    keep = np.unique(np.linspace(0, points.height - 1, max_points).round().astype(int))
    return points[keep]


def _roc_frames(
    labelled: list[tuple[str, np.ndarray, np.ndarray]], max_points: int | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    curves, areas = [], []
    for class_label, is_positive, score in labelled:
        n_positive = int(is_positive.sum())
        if n_positive == 0 or n_positive == len(is_positive):
            continue  # one class only: no curve (the ml metrics report NULL too)
        fpr, tpr, thresholds = roc_curve(is_positive, score)
        areas.append(
            {
                "class_label": class_label,
                "auc": float(_trapezoid_auc(fpr, tpr)),
                "n_rows": len(is_positive),
                "n_positive": n_positive,
            }
        )
        points = pl.DataFrame(
            {
                "class_label": class_label,
                "false_positive_rate": fpr,
                "true_positive_rate": tpr,
                # the first threshold is +inf (no row called positive): not JSON, so NULL
                "threshold": np.where(np.isfinite(thresholds), thresholds, np.nan),
            },
            schema=_ROC_SCHEMA,
        ).with_columns(pl.col("threshold").fill_nan(None))
        curves.append(_thin(points, max_points))
    roc = pl.concat(curves) if curves else pl.DataFrame(schema=_ROC_SCHEMA)
    return roc, pl.DataFrame(areas, schema=_AUC_SCHEMA)


def roc_curves(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    task: str | None,
    max_points: int | None = ROC_MAX_POINTS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ROC curves of a classifier's walk-forward predictions against their realized labels.

    Binary runs give one curve (class ``UP``, scored by ``p_up``); multiclass (regime) runs one
    curve per class, one-vs-rest, scored by that class's probability. Only labelled
    walk-forward rows count (out-of-sample; live rows have no outcome yet; ambiguous direction
    moves have no label), the rows ``ml.model_metrics`` scores its ``auc`` on.

    Parameters
    ----------
    con
        Open connection (:func:`app.db.reader`).
    run_id
        The run (bound as a parameter).
    task
        The run's task; ``regression`` or ``None`` gives empty frames.
    max_points
        Points kept per curve for the chart (evenly spaced along the curve, first and last
        kept); ``None`` keeps all (``sklearn.metrics.roc_curve`` with intermediate points
        dropped).

    Returns
    -------
    tuple[polars.DataFrame, polars.DataFrame]
        ``roc``: per class, points in curve order from (0, 0) to (1, 1):
        ``class_label``, ``false_positive_rate``, ``true_positive_rate`` (decimals),
        ``threshold`` (score cut; NULL at the (0, 0) end). ``areas``: one row per class with
        ``auc`` (trapezoidal area under the full, unthinned curve), ``n_rows``, ``n_positive``.
        A class absent from (or the only one of) the labels has no curve. For binary runs the
        ``auc`` equals the pooled ``auc`` of ``ml.model_metrics``; for multiclass runs the mean
        of the class areas equals its macro one-vs-rest ``auc``.
    """
    if task == "binary":
        rows = _frame(con, _BINARY_OUTCOMES_SQL, [run_id])
        labelled = [("UP", rows["is_positive"].to_numpy(), rows["score"].to_numpy())]
    elif task == "multiclass":
        rows = _frame(con, _MULTICLASS_OUTCOMES_SQL, [run_id])
        labels = rows["realized_label"]
        labelled = [
            (label, (labels == label).to_numpy(), rows[column].to_numpy())
            for label, column in REGIME_PROBABILITY_COLUMNS.items()
        ]
    else:
        labelled = []
    return _roc_frames([item for item in labelled if len(item[1])], max_points)


def rank_ic_by_date(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Cross-sectional rank IC of a regression run's walk-forward forecasts, per as-of date.

    The Spearman correlation between ``yhat`` and the realized 5-day return across the
    contracts of one date (average ranks for ties, as :func:`ml.metrics.regression_metrics`);
    dates with fewer than 3 contracts or a constant forecast are left out, so the mean of
    ``rank_ic`` equals the pooled ``rank_ic`` of ``ml.model_metrics``.

    Returns
    -------
    polars.DataFrame
        One row per ``as_of_date`` (ascending): ``n_contracts``, ``rank_ic`` (in [-1, 1]).
        Empty for an unknown run or one without regression rows.
    """
    rows = _frame(con, _REGRESSION_OUTCOMES_SQL, [run_id])
    if rows.is_empty():
        return pl.DataFrame(schema=_IC_SCHEMA)
    return daily_rank_ic(rows, "yhat", "realized_return").sort("as_of_date").cast(_IC_SCHEMA)


def run_detail(
    db: Path | str, run_id: str, roc_max_points: int | None = ROC_MAX_POINTS
) -> RunDetail:
    """Registry row, metrics, ROC or rank IC, calibration, importance and drift of one run.

    Parameters
    ----------
    db
        Published DuckDB file.
    run_id
        The run (bound as a parameter). An unknown run gives empty frames.
    roc_max_points
        Points kept per ROC curve (see :func:`roc_curves`).

    Returns
    -------
    RunDetail
        ``calibration``: one row per ``class_label`` × ``probability_bin`` (1..10):
        ``n_predictions``, ``mean_predicted_probability`` and ``observed_frequency`` (decimals).
        ``importance``: ``importance_type`` (``gain``, ``abs_coefficient``,
        ``mutual_information``), ``feature``, ``importance`` (float, unit of the type),
        ``importance_rank`` (1 = most important). ``drift``: ``feature``, ``psi`` (>= 0; NULL
        when a window has no value), ``drift_level`` (``none`` < 0.10 <= ``moderate`` < 0.25 <=
        ``significant``), ``is_selected`` (the feature is an input of the final model) and the
        reference / current windows, ordered by ``psi`` descending.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        run = _frame(con, _RUN_SQL, [run_id])
        task = run.item(0, "task") if run.height else None
        selected = run.item(0, "selected_features_json") if run.height else "[]"
        roc, roc_auc = roc_curves(con, run_id, task, roc_max_points)
        return RunDetail(
            run=run,
            metrics=run_metrics(con, run_id),
            roc=roc,
            roc_auc=roc_auc,
            rank_ic=(
                rank_ic_by_date(con, run_id)
                if task == "regression"
                else pl.DataFrame(schema=_IC_SCHEMA)
            ),
            calibration=_frame(con, _CALIBRATION_SQL, [run_id]),
            importance=_frame(con, _IMPORTANCE_SQL, [run_id]),
            drift=_frame(con, _DRIFT_SQL, [selected, run_id]),
        )


def pooled_metric_table(metrics: pl.DataFrame) -> pl.DataFrame:
    """Pooled (fold 0) value of each metric for the model and each baseline, side by side.

    Parameters
    ----------
    metrics
        Rows of :func:`run_metrics`: ``fold_id``, ``predictor``, ``metric``, ``value``.

    Returns
    -------
    polars.DataFrame
        One row per ``metric`` (score metrics only, alphabetical): ``model`` (float or NULL),
        ``best_baseline`` (the best baseline value: highest, or lowest for
        :data:`LOWER_IS_BETTER` metrics; NULL without one) and ``lower_is_better`` (bool).

    Examples
    --------
    >>> m = pl.DataFrame({"fold_id": [0, 0, 0], "predictor": ["model", "majority", "persistence"],
    ...                   "metric": ["brier"] * 3, "value": [0.2, 0.25, 0.3]})
    >>> pooled_metric_table(m).row(0)
    ('brier', 0.2, 0.25, True)
    """
    pooled = metrics.filter((pl.col("fold_id") == 0) & ~pl.col("metric").is_in(NOT_A_SCORE))
    lower = pl.col("metric").is_in(LOWER_IS_BETTER)
    baselines = pooled.filter(pl.col("predictor") != "model")
    best = baselines.group_by("metric").agg(
        pl.when(lower.first())
        .then(pl.col("value").min())
        .otherwise(pl.col("value").max())
        .alias("best_baseline")
    )
    model = pooled.filter(pl.col("predictor") == "model").select(
        "metric", pl.col("value").alias("model")
    )
    return (
        pooled.select("metric")
        .unique()
        .join(model, on="metric", how="left")
        .join(best, on="metric", how="left")
        .with_columns(lower.alias("lower_is_better"))
        .sort("metric")
    )
