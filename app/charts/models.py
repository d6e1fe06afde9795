"""Chart builders of the Models page: pure functions from a frame to an Altair chart.

Inputs are the frames of :mod:`app.queries.models` (floats, never ``DECIMAL``s). Every encoding
names its type; every builder keeps only the columns it draws and raises ``ValueError`` naming a
missing column.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

#: Metrics drawn on a percent axis (shares of rows); the others are unitless scores.
PERCENT_METRICS: frozenset[str] = frozenset({"accuracy", "hit_rate"})
#: Drift levels of ``ml.feature_drift`` and their colours (green, amber, red).
DRIFT_LEVELS: tuple[str, ...] = ("none", "moderate", "significant")
DRIFT_COLOURS: tuple[str, ...] = ("#2ca02c", "#ff7f0e", "#d62728")
#: PSI rules of thumb drawn on the drift chart.
PSI_THRESHOLDS: tuple[float, ...] = (0.10, 0.25)
PREDICTOR_ORDER: tuple[str, ...] = ("model", "majority", "persistence", "train_mean")
BAR_HEIGHT = 20  # pixels per bar of a horizontal bar chart
LABEL_LIMIT = 240  # pixels of a feature name before it is cut


def _diagonal() -> alt.Chart:
    """Dashed grey y = x from (0, 0) to (1, 1): a random ranking, or perfect calibration."""
    line = pl.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})
    return (
        alt.Chart(line)
        .mark_line(color="grey", strokeDash=[4, 4])
        .encode(x=alt.X("x:Q"), y=alt.Y("y:Q"))
    )


def fold_metric_chart(metrics: pl.DataFrame, metric: str) -> alt.Chart:
    """Grouped bars of one metric per walk-forward fold: the model against its baselines.

    Parameters
    ----------
    metrics
        One row per ``fold_id`` × ``predictor`` × ``metric`` with ``value`` (float), as
        :func:`app.queries.models.run_metrics` returns. Fold 0 (pooled) and other metrics are
        left out of the chart.
    metric
        The metric drawn (e.g. ``auc``, ``brier``, ``rank_ic``).

    Returns
    -------
    altair.Chart
        ``fold_id:O`` on x, one bar per ``predictor:N`` (``xOffset`` and colour), ``value:Q`` on
        y (percent axis for :data:`PERCENT_METRICS`).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(
        metrics, ["fold_id", "predictor", "metric", "value"], "fold_metric_chart"
    )
    data = data.filter((pl.col("metric") == metric) & (pl.col("fold_id") > 0)).drop("metric")
    value_format = "%" if metric in PERCENT_METRICS else ".3f"
    return (
        alt.Chart(data, height=CHART_HEIGHT, title=f"{metric} by walk-forward fold")
        .mark_bar()
        .encode(
            x=alt.X(
                "fold_id:O", title="Fold (test block, oldest first)", axis=alt.Axis(labelAngle=0)
            ),
            xOffset=alt.XOffset("predictor:N", sort=list(PREDICTOR_ORDER)),
            y=alt.Y("value:Q", title=metric, axis=alt.Axis(format=value_format)),
            color=alt.Color("predictor:N", sort=list(PREDICTOR_ORDER), title="Predictor"),
            tooltip=[
                alt.Tooltip("fold_id:O", title="Fold"),
                alt.Tooltip("predictor:N", title="Predictor"),
                alt.Tooltip("value:Q", title=metric, format=".4f"),
            ],
        )
    )


def roc_chart(roc: pl.DataFrame, title: str = "ROC curve") -> alt.LayerChart:
    """ROC curves (one per class) over the diagonal of a random ranking.

    Parameters
    ----------
    roc
        Points in curve order, per ``class_label`` (str): ``false_positive_rate`` and
        ``true_positive_rate`` (decimals in [0, 1]), ``threshold`` (float or NULL), as
        :func:`app.queries.models.roc_curves` returns.
    title
        Chart title (the page puts the AUC in it).

    Returns
    -------
    altair.LayerChart
        Layer 0: ``false_positive_rate:Q`` on x, ``true_positive_rate:Q`` on y, one line per
        ``class_label:N``, drawn in row order; layer 1: the dashed diagonal. Percent axes.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["class_label", "false_positive_rate", "true_positive_rate", "threshold"]
    data = require_columns(roc, columns, "roc_chart").with_row_index("point_order")
    curves = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X(
                "false_positive_rate:Q",
                title="False positive rate",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y(
                "true_positive_rate:Q",
                title="True positive rate",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            order=alt.Order("point_order:Q"),
            color=alt.Color("class_label:N", title="Class"),
            tooltip=[
                alt.Tooltip("class_label:N", title="Class"),
                alt.Tooltip("threshold:Q", title="Score cut", format=".3f"),
                alt.Tooltip("false_positive_rate:Q", title="FPR", format=".1%"),
                alt.Tooltip("true_positive_rate:Q", title="TPR", format=".1%"),
            ],
        )
    )
    return alt.layer(curves, _diagonal()).properties(height=CHART_HEIGHT, title=title)


def rank_ic_chart(rank_ic: pl.DataFrame) -> alt.LayerChart:
    """Bars of the cross-sectional rank IC per as-of date, with a rule at their mean.

    Parameters
    ----------
    rank_ic
        One row per ``as_of_date`` (date) with ``rank_ic`` (Spearman, in [-1, 1]) and
        ``n_contracts`` (int), as :func:`app.queries.models.rank_ic_by_date` returns.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``yearmonthdate(as_of_date):T`` on x, ``rank_ic:Q`` bars coloured by sign;
        layer 1: a rule at the mean ``rank_ic``.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(rank_ic, ["as_of_date", "rank_ic", "n_contracts"], "rank_ic_chart")
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(as_of_date):T", title="As-of date"),
            y=alt.Y("rank_ic:Q", title="Rank IC (Spearman)"),
            color=alt.condition(alt.datum.rank_ic >= 0, alt.value("#2ca02c"), alt.value("#d62728")),
            tooltip=[
                alt.Tooltip("as_of_date:T", title="Date"),
                alt.Tooltip("rank_ic:Q", title="Rank IC", format=".3f"),
                alt.Tooltip("n_contracts:Q", title="Contracts", format=","),
            ],
        )
    )
    mean = alt.Chart(data).mark_rule(strokeDash=[4, 4]).encode(y=alt.Y("mean(rank_ic):Q"))
    return alt.layer(bars, mean).properties(
        height=CHART_HEIGHT, title="Rank IC by date (dashed: mean)"
    )


def calibration_chart(calibration: pl.DataFrame) -> alt.LayerChart:
    """Reliability diagram: observed frequency against mean predicted probability per bin.

    Parameters
    ----------
    calibration
        One row per ``class_label`` (str) × ``probability_bin`` (int, 1..10) with
        ``mean_predicted_probability`` and ``observed_frequency`` (decimals in [0, 1]) and
        ``n_predictions`` (int), as ``forecasts.rpt_forecast_calibration`` holds them.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``mean_predicted_probability:Q`` on x, ``observed_frequency:Q`` on y, a line
        per ``class_label:N``; layer 1: its points, sized by ``n_predictions:Q``; layer 2: the
        dashed diagonal of perfect calibration. Percent axes from 0 to 1.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = [
        "class_label",
        "probability_bin",
        "mean_predicted_probability",
        "observed_frequency",
        "n_predictions",
    ]
    data = require_columns(calibration, columns, "calibration_chart")
    x = alt.X(
        "mean_predicted_probability:Q",
        title="Mean predicted probability",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    )
    y = alt.Y(
        "observed_frequency:Q",
        title="Observed frequency",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    )
    colour = alt.Color("class_label:N", title="Class")
    base = alt.Chart(data)
    lines = base.mark_line().encode(x=x, y=y, color=colour, order=alt.Order("probability_bin:O"))
    points = base.mark_circle(opacity=0.8).encode(
        x=x,
        y=y,
        color=colour,
        size=alt.Size("n_predictions:Q", title="Predictions"),
        tooltip=[
            alt.Tooltip("class_label:N", title="Class"),
            alt.Tooltip("probability_bin:O", title="Bin"),
            alt.Tooltip("mean_predicted_probability:Q", title="Predicted", format=".1%"),
            alt.Tooltip("observed_frequency:Q", title="Observed", format=".1%"),
            alt.Tooltip("n_predictions:Q", title="Predictions", format=","),
        ],
    )
    return alt.layer(lines, points, _diagonal()).properties(
        height=CHART_HEIGHT, title="Calibration (dashed: perfect)"
    )


def importance_chart(importance: pl.DataFrame, importance_type: str, top_n: int) -> alt.Chart:
    """Horizontal bars of the ``top_n`` most important features of one importance type.

    Parameters
    ----------
    importance
        One row per ``importance_type`` × ``feature`` with ``importance`` (float, unit of the
        type: XGBoost gain, absolute standardised coefficient, mutual information in nats) and
        ``importance_rank`` (1 = most important), as ``ml.feature_importance`` holds them.
    importance_type
        The type drawn; rows of other types are left out.
    top_n
        Features kept, by rank (>= 1).

    Returns
    -------
    altair.Chart
        ``importance:Q`` on x, ``feature:N`` on y sorted by rank (most important on top), one
        :data:`BAR_HEIGHT` step per feature.

    Raises
    ------
    ValueError
        When a required column is missing, or ``top_n`` < 1.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n!r}")
    columns = ["importance_type", "feature", "importance", "importance_rank"]
    data = (
        require_columns(importance, columns, "importance_chart")
        .filter(pl.col("importance_type") == importance_type)
        .sort("importance_rank")
        .head(top_n)
        .drop("importance_type")
    )
    return (
        alt.Chart(
            data,
            height=alt.Step(BAR_HEIGHT),
            title=f"Top {data.height} features by {importance_type}",
        )
        .mark_bar()
        .encode(
            x=alt.X("importance:Q", title=importance_type),
            y=alt.Y(
                "feature:N",
                title=None,
                sort=alt.EncodingSortField("importance_rank", order="ascending"),
                axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False),
            ),
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("importance_rank:Q", title="Rank"),
                alt.Tooltip("importance:Q", title=importance_type, format=".4g"),
            ],
        )
    )


def drift_chart(drift: pl.DataFrame) -> alt.LayerChart:
    """Horizontal bars of the population stability index per feature, coloured by drift level.

    Parameters
    ----------
    drift
        One row per ``feature`` with ``psi`` (>= 0, float) and ``drift_level`` (``none``,
        ``moderate``, ``significant``), as ``ml.feature_drift`` holds them. Rows with a NULL
        ``psi`` are left out.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``psi:Q`` on x (symlog scale: PSI runs from 0 to about 8), ``feature:N`` on y
        sorted by PSI descending, colour ``drift_level:N`` on a fixed green / amber / red scale;
        layer 1: dashed rules at the 0.10 and 0.25 rules of thumb.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(drift, ["feature", "psi", "drift_level"], "drift_chart").filter(
        pl.col("psi").is_not_null()
    )
    psi_scale = alt.Scale(type="symlog", constant=0.1)
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="PSI (symlog scale)", scale=psi_scale),
            y=alt.Y(
                "feature:N",
                title=None,
                sort=alt.EncodingSortField("psi", order="descending"),
                axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False),
            ),
            color=alt.Color(
                "drift_level:N",
                title="Drift",
                scale=alt.Scale(domain=list(DRIFT_LEVELS), range=list(DRIFT_COLOURS)),
            ),
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("psi:Q", title="PSI", format=".3f"),
                alt.Tooltip("drift_level:N", title="Drift"),
            ],
        )
    )
    rules = (
        alt.Chart(pl.DataFrame({"psi_threshold": list(PSI_THRESHOLDS)}))
        .mark_rule(strokeDash=[4, 4], color="grey")
        .encode(x=alt.X("psi_threshold:Q", scale=psi_scale))
    )
    return alt.layer(bars, rules).properties(
        height=alt.Step(BAR_HEIGHT),
        title="Feature drift: latest window against the training window",
    )
