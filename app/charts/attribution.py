"""Chart builders of the Attribution page: pure functions from a frame to an Altair chart.

Inputs are the frames of :mod:`app.queries.attribution` (floats, never ``DECIMAL``s). Every
builder keeps only the columns it draws and raises ``ValueError`` naming a missing column or an
unknown grouping.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

DECILES: tuple[int, ...] = tuple(range(1, 11))
REGIMES: tuple[str, ...] = ("LOW", "NORMAL", "HIGH", "UNKNOWN")
#: Grouping column -> (axis title, Vega-Lite type, fixed domain) of the P&L charts.
GROUP_AXES: Mapping[str, tuple[str, str, tuple[object, ...]]] = {
    "forecast_decile": ("Forecast decile of P(up) at entry", "O", DECILES),
    "predicted_regime": ("Predicted regime at entry", "N", REGIMES),
}
POSITIVE, NEGATIVE = "#2ca02c", "#d62728"


def fmt_usd_compact(value: float | None) -> str:
    """A USD amount short enough for a metric tile: ``-$796.5M`` instead of ``-$796,526,…``.

    Below 10,000 in absolute value the amount keeps its cents; above, it is rounded to 4
    significant figures with a ``K``, ``M`` or ``B`` suffix. NULL and NaN show as ``n/a``.

    >>> fmt_usd_compact(-796_507_092.96), fmt_usd_compact(1234.5), fmt_usd_compact(25_300)
    ('-$796.5M', '$1,234.50', '$25.3K')
    >>> fmt_usd_compact(None), fmt_usd_compact(float("nan"))
    ('n/a', 'n/a')
    """
    if value is None or value != value:
        return "n/a"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude < 10_000:
        return f"{sign}${magnitude:,.2f}"
    for divisor, suffix in ((1e9, "B"), (1e6, "M")):
        if magnitude >= divisor:
            return f"{sign}${magnitude / divisor:.4g}{suffix}"
    return f"{sign}${magnitude / 1e3:.4g}K"


def _group_x(group: str) -> alt.X:
    if group not in GROUP_AXES:
        raise ValueError(f"group must be one of {sorted(GROUP_AXES)}, got {group!r}")
    title, kind, domain = GROUP_AXES[group]
    return alt.X(
        f"{group}:{kind}",
        title=title,
        scale=alt.Scale(domain=list(domain)),
        axis=alt.Axis(labelAngle=0),
    )


def _trade_tooltip(group: str) -> list[alt.Tooltip]:
    return [
        alt.Tooltip(f"{group}:{GROUP_AXES[group][1]}", title=GROUP_AXES[group][0]),
        alt.Tooltip("n_trades:Q", title="Trades"),
        alt.Tooltip("n_winning_trades:Q", title="Winning trades"),
        alt.Tooltip("total_pnl_usd:Q", title="Total P&L", format="$,.2f"),
        alt.Tooltip("win_rate:Q", title="Win rate", format=".0%"),
    ]


def _with_trade_labels(
    bars: alt.Chart, data: pl.DataFrame, value: str, group: str
) -> alt.LayerChart:
    """Bars with ``n=<trades>`` written just above the bar, or above zero for a negative bar."""
    positions = data.select(
        group, "trade_label", pl.max_horizontal(pl.col(value), pl.lit(0.0)).alias("label_y")
    )
    labels = (
        alt.Chart(positions)
        .mark_text(dy=-6, baseline="bottom", color="black")
        .encode(x=_group_x(group), y=alt.Y("label_y:Q"), text=alt.Text("trade_label:N"))
    )
    return alt.layer(bars, labels)


def _group_frame(groups: pl.DataFrame, group: str, what: str) -> pl.DataFrame:
    """The rows of one grouping with a ``trade_label`` ("n=4") for the bar labels."""
    columns = [group, "n_trades", "n_winning_trades", "total_pnl_usd", "win_rate"]
    return (
        require_columns(groups, columns, what)
        .filter(pl.col(group).is_not_null())
        .with_columns(pl.format("n={}", pl.col("n_trades")).alias("trade_label"))
    )


def pnl_by_group_chart(groups: pl.DataFrame, group: str) -> alt.LayerChart:
    """Bars of total P&L per group of trades, green above zero and red below, labelled ``n=``.

    Parameters
    ----------
    groups
        One row per value of ``group`` with ``n_trades``, ``n_winning_trades`` (ints),
        ``total_pnl_usd`` (USD, net of commission) and ``win_rate`` (decimal), as
        :func:`app.queries.attribution.strategy_attribution` returns them. Rows with a NULL
        group (trades without a forecast) are left out.
    group
        ``forecast_decile`` (x is the deciles 1..10, empty ones left blank) or
        ``predicted_regime`` (LOW, NORMAL, HIGH, UNKNOWN).

    Returns
    -------
    altair.LayerChart
        Layer 0: ``<group>`` on x (fixed domain), ``total_pnl_usd:Q`` bars on y (dollar axis);
        layer 1: the number of trades as text (``label_y:Q``: the bar's top, or 0 below zero).

    Raises
    ------
    ValueError
        When a required column is missing or ``group`` is not a known grouping.
    """
    x = _group_x(group)
    data = _group_frame(groups, group, "pnl_by_group_chart")
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("total_pnl_usd:Q", title="Total P&L (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.condition(
                alt.datum.total_pnl_usd >= 0, alt.value(POSITIVE), alt.value(NEGATIVE)
            ),
            tooltip=_trade_tooltip(group),
        )
    )
    return _with_trade_labels(bars, data, "total_pnl_usd", group).properties(
        height=CHART_HEIGHT, title=f"Total P&L by {group.replace('_', ' ')}"
    )


def win_rate_by_group_chart(groups: pl.DataFrame, group: str) -> alt.LayerChart:
    """Bars of the win rate per group of trades, labelled with the number of trades.

    Parameters
    ----------
    groups
        As for :func:`pnl_by_group_chart`.
    group
        ``forecast_decile`` or ``predicted_regime``.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``<group>`` on x, ``win_rate:Q`` bars on y (percent axis, 0 to 1); layer 1:
        the number of trades as text.

    Raises
    ------
    ValueError
        When a required column is missing or ``group`` is not a known grouping.
    """
    x = _group_x(group)
    data = _group_frame(groups, group, "win_rate_by_group_chart")
    bars = (
        alt.Chart(data)
        .mark_bar(color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y(
                "win_rate:Q",
                title="Win rate",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=_trade_tooltip(group),
        )
    )
    return _with_trade_labels(bars, data, "win_rate", group).properties(
        height=CHART_HEIGHT, title=f"Win rate by {group.replace('_', ' ')}"
    )


def decile_hit_rate_chart(deciles: pl.DataFrame) -> alt.LayerChart:
    """Bars of the hit rate per score decile against the run's baseline hit rate.

    Parameters
    ----------
    deciles
        One row per ``decile`` (int 1..10) with ``hit_rate`` and ``baseline_hit_rate``
        (decimals; the baseline is the same on every row) and ``n_hit_observations`` (int), as
        :func:`app.queries.attribution.forecast_deciles` returns them.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``decile:O`` on x, ``hit_rate:Q`` bars on y (percent axis); layer 1: a dashed
        rule at ``baseline_hit_rate``.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["decile", "hit_rate", "baseline_hit_rate", "n_hit_observations"]
    data = require_columns(deciles, columns, "decile_hit_rate_chart")
    bars = (
        alt.Chart(data)
        .mark_bar(color="#1f77b4")
        .encode(
            x=alt.X("decile:O", title="Score decile (1 = lowest)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("hit_rate:Q", title="Hit rate", axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("decile:O", title="Decile"),
                alt.Tooltip("hit_rate:Q", title="Hit rate", format=".1%"),
                alt.Tooltip("baseline_hit_rate:Q", title="Baseline", format=".1%"),
                alt.Tooltip("n_hit_observations:Q", title="Labelled rows", format=","),
            ],
        )
    )
    baseline = (
        alt.Chart(data)
        .mark_rule(color="black", strokeDash=[4, 4])
        .encode(y=alt.Y("mean(baseline_hit_rate):Q"))
    )
    return alt.layer(bars, baseline).properties(
        height=CHART_HEIGHT, title="Hit rate by decile (dashed: baseline)"
    )


def decile_lift_chart(deciles: pl.DataFrame) -> alt.LayerChart:
    """Bars of the lift (hit rate over the baseline) per score decile, with a rule at 1.

    Parameters
    ----------
    deciles
        One row per ``decile`` (int 1..10) with ``lift`` (ratio; NULL when the baseline is 0),
        as :func:`app.queries.attribution.forecast_deciles` returns them.

    Returns
    -------
    altair.LayerChart
        Layer 0: ``decile:O`` on x, ``lift:Q`` bars on y, green above 1 and red below; layer 1:
        a dashed rule at 1 (no better than the base rate).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(deciles, ["decile", "lift"], "decile_lift_chart")
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("decile:O", title="Score decile (1 = lowest)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("lift:Q", title="Lift (x baseline)"),
            color=alt.condition(alt.datum.lift >= 1, alt.value(POSITIVE), alt.value(NEGATIVE)),
            tooltip=[
                alt.Tooltip("decile:O", title="Decile"),
                alt.Tooltip("lift:Q", title="Lift", format=".2f"),
            ],
        )
    )
    one = (
        alt.Chart(pl.DataFrame({"lift": [1.0]}))
        .mark_rule(color="black", strokeDash=[4, 4])
        .encode(y=alt.Y("lift:Q"))
    )
    return alt.layer(bars, one).properties(height=CHART_HEIGHT, title="Lift by decile (dashed: 1)")
