"""Chart builders of the Forecasts page: pure functions from a frame to an Altair chart.

Inputs are the frames of :mod:`app.queries.forecasts` (floats, never ``DECIMAL``s). Dates are
drawn with the ``yearmonthdate`` time unit and date-only ticks (:func:`app.charts.features.date_x`);
every builder raises ``ValueError`` naming a missing column. The warehouse's ``live`` prediction
kind is shown as "pending": its outcome lies after the data's last session (see
:mod:`app.queries.forecasts`), which says nothing about today.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns
from app.charts.features import date_x

PREDICTION_KINDS: tuple[str, ...] = ("walk_forward", "live")
KIND_COLOURS: tuple[str, ...] = ("#1f77b4", "#ff7f0e")
#: What the legend and tooltips say for each prediction kind.
KIND_LABELS: dict[str, str] = {
    "walk_forward": "walk-forward (outcome known)",
    "live": "pending (outcome after the last session in the data)",
}
REGIME_CLASSES: tuple[str, ...] = ("LOW", "NORMAL", "HIGH")
REGIME_COLOURS: tuple[str, ...] = ("#2ca02c", "#9e9e9e", "#d62728")


def _x_date(data: pl.DataFrame) -> alt.X:
    return date_x("as_of_date", data.get_column("as_of_date"), title="As-of date")


def _kind_legend() -> alt.Legend:
    # the labels hold no quote character, so they sit in single quotes as they are
    expression = " : ".join(
        f"datum.label == '{kind}' ? '{label}'" for kind, label in KIND_LABELS.items()
    )
    return alt.Legend(labelExpr=f"{expression} : datum.label", labelLimit=0, orient="bottom")


def _with_kind_label(data: pl.DataFrame) -> pl.DataFrame:
    return data.with_columns(
        pl.col("prediction_kind")
        .replace_strict(KIND_LABELS, default=pl.col("prediction_kind"))
        .alias("kind_label")
    )


def _live_start(data: pl.DataFrame) -> list[alt.Chart]:
    """A dashed rule and "pending" label at the first live date of ``data``, or nothing."""
    live = data.filter(pl.col("prediction_kind") == "live")
    if live.is_empty():
        return []
    start = pl.DataFrame(
        {"as_of_date": [live.get_column("as_of_date").min()], "label": ["pending"]}
    )
    base = alt.Chart(start).encode(x=alt.X("yearmonthdate(as_of_date):T"))
    return [
        base.mark_rule(color=KIND_COLOURS[1], strokeDash=[2, 2]),
        # right-aligned, left of the rule: the pending dates are the last ones, at the edge
        base.mark_text(align="right", dx=-3, dy=3, color=KIND_COLOURS[1], baseline="top").encode(
            text="label:N", y=alt.value(0)
        ),
    ]


def p_up_chart(direction: pl.DataFrame, thresholds: Mapping[str, float]) -> alt.LayerChart:
    """P(up) over time, walk-forward and live in two colours, with probability cuts as rules.

    Parameters
    ----------
    direction
        One row per ``as_of_date`` (date, a bucket's first day) × ``prediction_kind``
        (``walk_forward`` | ``live``) with ``p_up`` (decimal in [0, 1]) and ``n_days`` (int),
        as :attr:`app.queries.forecasts.ForecastWindow.direction` holds them.
    thresholds
        Label -> probability cut drawn as a horizontal rule (decimal), e.g. the run's decision
        threshold; empty for none. ``None`` values are skipped.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``yearmonthdate(as_of_date):T`` on x, ``p_up:Q`` on y (percent, 0 to 1), one
        line per ``prediction_kind:N`` (legend labels :data:`KIND_LABELS`); layer 1: points on
        the live (pending) rows; then one dashed rule per threshold (``strokeDash`` by
        ``cut:N``).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = _with_kind_label(
        require_columns(
            direction, ["as_of_date", "prediction_kind", "p_up", "n_days"], "p_up_chart"
        )
    )
    colour = alt.Color(
        "prediction_kind:N",
        title="Prediction",
        scale=alt.Scale(domain=list(PREDICTION_KINDS), range=list(KIND_COLOURS)),
        legend=_kind_legend(),
    )
    y = alt.Y("p_up:Q", title="P(up)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    tooltip = [
        alt.Tooltip("as_of_date:T", title="Date", format="%Y-%m-%d"),
        alt.Tooltip("kind_label:N", title="Prediction"),
        alt.Tooltip("p_up:Q", title="P(up)", format=".1%"),
        alt.Tooltip("n_days:Q", title="Days averaged"),
    ]
    x = _x_date(data)
    line = alt.Chart(data).mark_line(strokeWidth=1).encode(x=x, y=y, color=colour, tooltip=tooltip)
    points = (
        alt.Chart(data.filter(pl.col("prediction_kind") == "live"))
        .mark_point(filled=True, size=40)
        .encode(x=x, y=y, color=colour, tooltip=tooltip)
    )
    layers: list[alt.Chart] = [line, points]
    cuts = {label: value for label, value in thresholds.items() if value is not None}
    if cuts:
        rules = pl.DataFrame({"cut": list(cuts), "p_up": [float(v) for v in cuts.values()]})
        layers.append(
            alt.Chart(rules)
            .mark_rule(color="grey")
            .encode(
                y=alt.Y("p_up:Q"),
                strokeDash=alt.StrokeDash("cut:N", title="Cut"),
                tooltip=[
                    alt.Tooltip("cut:N", title="Cut"),
                    alt.Tooltip("p_up:Q", title="P(up)", format=".1%"),
                ],
            )
        )
    # taller than the others: the kind legend sits below the plot
    return alt.layer(*layers).properties(
        height=CHART_HEIGHT + 70, title="P(up) over the next 5 days"
    )


def regime_chart(regime: pl.DataFrame) -> alt.LayerChart:
    """Stacked areas of the regime probabilities over time, with a rule where live dates start.

    Parameters
    ----------
    regime
        Long format, one row per ``as_of_date`` (date) × ``regime_class`` (``LOW`` | ``NORMAL``
        | ``HIGH``) with ``probability`` (decimal; the three sum to 1 per date),
        ``prediction_kind`` and ``n_days``, as
        :attr:`app.queries.forecasts.ForecastWindow.regime` holds them.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``yearmonthdate(as_of_date):T`` on x, ``probability:Q`` stacked on y (percent,
        0 to 1), colour ``regime_class:N`` in the order LOW, NORMAL, HIGH; then, when live rows
        exist, a dashed rule and a "pending" label at the first live date.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["as_of_date", "regime_class", "probability", "prediction_kind", "n_days"]
    data = _with_kind_label(
        require_columns(regime, columns, "regime_chart").with_columns(
            pl.col("regime_class")
            .replace_strict(
                {c: i for i, c in enumerate(REGIME_CLASSES)}, default=len(REGIME_CLASSES)
            )
            .alias("class_order")
        )
    )
    areas = (
        alt.Chart(data)
        .mark_area()
        .encode(
            x=_x_date(data),
            y=alt.Y(
                "probability:Q",
                title="Probability",
                stack="zero",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color(
                "regime_class:N",
                title="Regime in 5 days",
                scale=alt.Scale(domain=list(REGIME_CLASSES), range=list(REGIME_COLOURS)),
            ),
            order=alt.Order("class_order:Q"),
            tooltip=[
                alt.Tooltip("as_of_date:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip("regime_class:N", title="Regime"),
                alt.Tooltip("probability:Q", title="Probability", format=".1%"),
                alt.Tooltip("kind_label:N", title="Prediction"),
            ],
        )
    )
    return alt.layer(areas, *_live_start(data)).properties(
        height=CHART_HEIGHT, title="Implied-vol regime probabilities"
    )
