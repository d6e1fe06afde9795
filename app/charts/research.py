"""Chart builders of the Research page: sweep and scan heatmaps, pure functions to Altair charts.

A heatmap here is three layers over ordinal axes: a grey ``rect`` for every cell, a coloured
``rect`` over it for the cells whose sample is large enough (at least ``min_trades`` trades) and
whose value is defined, and two lines of ``text``: the value, then the trade count (``n=12``).
A grey cell is thus either too thin a sample or a degenerate metric (``n/a``); its value is still
written. Colours are light enough for black text; signed metrics diverge from white at 0.

Inputs are the frames of :mod:`app.research_runner` (floats, never ``DECIMAL``s).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import altair as alt
import polars as pl

from app.charts import require_columns
from app.formatting import fmt_int, fmt_pct, fmt_ratio

#: Fill of a cell that is not coloured (too few trades, or no value).
GREY = "#d9d9d9"
_RED, _WHITE, _BLUE = "#ef8a62", "#f7f7f7", "#67a9cf"  # ColorBrewer RdBu, 5-class, light ends
CELL_PX = 44  # height of one heatmap row, pixels
SLANT_ABOVE = 8  # more columns than this: x labels at an angle


@dataclass(frozen=True)
class MetricStyle:
    """How one metric is shown: ``title``, a formatter for the cell text, the d3 format of
    its tooltip, and the colour ``range`` (two colours: low to high; three: diverging at 0)."""

    title: str
    text: Callable[[float | None], str]
    tooltip_format: str
    range: tuple[str, ...]


def _pct1(value: float | None) -> str:
    return fmt_pct(value, digits=1)


def _points(value: float | None) -> str:
    return fmt_ratio(value, digits=2)


#: Metrics a sweep heatmap can show: columns of :func:`app.research_runner.sweep_table`.
SWEEP_METRICS: dict[str, MetricStyle] = {
    "sharpe_ratio": MetricStyle("Sharpe ratio", fmt_ratio, ".2f", (_RED, _WHITE, _BLUE)),
    "total_return": MetricStyle("Total return", fmt_pct, ".2%", (_RED, _WHITE, _BLUE)),
    "max_drawdown": MetricStyle("Max drawdown", fmt_pct, ".2%", (_RED, _WHITE)),
    "n_closed_trades": MetricStyle("Closed trades", fmt_int, ",d", (_WHITE, _BLUE)),
    "win_rate": MetricStyle("Win rate", _pct1, ".1%", (_WHITE, _BLUE)),
}

#: Metrics a scan heatmap can show: columns of :func:`app.research_runner.scan_cells`.
SCAN_METRICS: dict[str, MetricStyle] = {
    "return_mean": MetricStyle("Mean return", _pct1, ".2%", (_RED, _WHITE, _BLUE)),
    "return_median": MetricStyle("Median return", _pct1, ".2%", (_RED, _WHITE, _BLUE)),
    "win_rate": MetricStyle("Win rate", _pct1, ".1%", (_WHITE, _BLUE)),
    "pnl_points_mean": MetricStyle(
        "Mean P&L (index points)", _points, ".2f", (_RED, _WHITE, _BLUE)
    ),
    "n_trades": MetricStyle("Trades", fmt_int, ",d", (_WHITE, _BLUE)),
}

#: Titles of the swept exit keys (engine.config.ExitConfig), with their units.
SWEEP_KEY_TITLES: dict[str, str] = {
    "take_profit_pct": "Take-profit (% of debit or credit)",
    "stop_loss_pct": "Stop-loss (% of debit or credit)",
    "holding_days": "Hold (sessions)",
    "exit_dte": "Exit at DTE (calendar days)",
}

#: Label of a rule turned off (``None``) on a sweep axis.
OFF = "off"


#: Unit written after a sweep axis value: labels never look like bare numbers, which Vega's
#: loader could read back as numbers (they would then miss the axis's string sort order).
SWEEP_KEY_UNITS: dict[str, str] = {
    "take_profit_pct": "%",
    "stop_loss_pct": "%",
    "holding_days": " sessions",
    "exit_dte": " DTE",
}


def axis_label(value: float | None, key: str | None = None) -> str:
    """A sweep axis value as shown: whole numbers without decimals, the unit of ``key``
    (:data:`SWEEP_KEY_UNITS`) after it, ``None`` as ``off``.

    >>> axis_label(50.0, "take_profit_pct"), axis_label(12.5), axis_label(None, "exit_dte")
    ('50%', '12.5', 'off')
    >>> axis_label(3, "holding_days")
    '3 sessions'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return OFF
    return f"{value:g}{SWEEP_KEY_UNITS.get(key, '') if key is not None else ''}"


def _axis_order(values: Sequence[float | None], key: str) -> list[str]:
    """Labels in ascending order, ``off`` last (a rule off acts as an infinitely far one)."""
    numbers = sorted({v for v in values if v is not None and not math.isnan(v)})
    labels = [axis_label(v, key) for v in numbers]
    return labels + ([OFF] if any(v is None or math.isnan(v) for v in values) else [])


def _color_scale(style: MetricStyle) -> alt.Scale:
    if len(style.range) == 3:
        return alt.Scale(range=list(style.range), domainMid=0)
    return alt.Scale(range=list(style.range))


def _heatmap(
    data: pl.DataFrame,
    *,
    x: str,
    y: str,
    x_title: str,
    y_title: str,
    x_sort: list[str],
    y_sort: list[str],
    style: MetricStyle,
    count_title: str,
    title: str,
    show_text: bool,
) -> alt.LayerChart:
    """The layered heatmap of ``data``: ``x``, ``y`` (labels), ``value`` (float or null),
    ``n`` (int), ``is_coloured`` (bool), ``value_text``, ``n_text``."""
    base = alt.Chart(data).encode(
        # slanted labels when many columns, so that none is dropped for overlapping
        x=alt.X(
            f"{x}:O",
            title=x_title,
            sort=x_sort,
            axis=alt.Axis(labelAngle=0 if len(x_sort) <= SLANT_ABOVE else -40),
        ),
        y=alt.Y(f"{y}:O", title=y_title, sort=y_sort),
        tooltip=[
            alt.Tooltip(f"{y}:O", title=y_title),
            alt.Tooltip(f"{x}:O", title=x_title),
            alt.Tooltip("value:Q", title=style.title, format=style.tooltip_format),
            alt.Tooltip("n:Q", title=count_title, format=",d"),
        ],
    )
    any_coloured = bool(data["is_coloured"].any())
    grey = base.mark_rect(color=GREY, stroke="white", strokeWidth=1)
    cells_px = max(len(y_sort), 2) * CELL_PX
    coloured = (
        base.transform_filter(alt.datum.is_coloured)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            color=alt.Color(
                "value:Q",
                title=style.title,
                scale=_color_scale(style),
                # no coloured cell: no domain, and an empty legend would read "NaN"
                legend=alt.Legend(format=style.tooltip_format) if any_coloured else None,
            )
        )
    )
    layers: list[alt.Chart] = [grey, coloured]
    if show_text:
        layers += [
            base.mark_text(baseline="bottom", dy=-1, fontSize=11, color="black").encode(
                text=alt.Text("value_text:N")
            ),
            base.mark_text(baseline="top", dy=1, fontSize=9, color="#333333").encode(
                text=alt.Text("n_text:N")
            ),
        ]
    # Streamlit's default ``autosize: fit`` counts the title, axes and legend in the height and
    # squeezes the cells of a short grid to nothing: fit the width only; the height is the cells'.
    return alt.layer(*layers).properties(
        title=title,
        height=cells_px,
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
    )


def _cell_columns(
    frame: pl.DataFrame, metric: str, style: MetricStyle, n_column: str, min_trades: int
) -> pl.DataFrame:
    values = frame[metric].cast(pl.Float64).fill_nan(None)
    counts = frame[n_column].cast(pl.Int64)
    return frame.with_columns(
        values.alias("value"),
        counts.alias("n"),
        (values.is_not_null() & (counts >= min_trades)).alias("is_coloured"),
        pl.Series("value_text", [style.text(v) for v in values], dtype=pl.String),
        pl.Series("n_text", [f"n={fmt_int(n)}" for n in counts], dtype=pl.String),
    )


def _check_min_trades(min_trades: int) -> None:
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0:
        raise ValueError(f"min_trades must be an integer >= 0, got {min_trades!r}")


def sweep_heatmap(
    table: pl.DataFrame,
    metric: str,
    x_key: str,
    y_key: str | None = None,
    *,
    min_trades: int = 20,
) -> alt.LayerChart:
    """Heatmap of one metric over a sweep grid, the closed-trade count in every cell.

    Parameters
    ----------
    table
        One row per grid cell (:func:`app.research_runner.sweep_table`) with the swept keys
        ``x_key`` (and ``y_key``) (floats or ints; null = rule off), ``metric`` and
        ``n_closed_trades`` (int). Values of ``x_key`` × ``y_key`` are unique.
    metric
        One of :data:`SWEEP_METRICS`.
    x_key, y_key
        Swept keys (:data:`SWEEP_KEY_TITLES`) across and down; without ``y_key`` one row.
    min_trades
        Cells with fewer closed trades are grey (their value still written): below
        :data:`engine.metrics.MIN_MEANINGFUL_TRADES` (20) the engine calls a sample not
        meaningful.

    Returns
    -------
    altair.LayerChart
        Grey ``rect`` for every cell, coloured ``rect`` (``value:Q``) for those with
        ``n_closed_trades >= min_trades`` and a defined value, text ``value_text`` and
        ``n=<n_closed_trades>``; ``x_label:O`` across and ``y_label:O`` down, values ascending
        with ``off`` last (rows: smallest at the top).

    Raises
    ------
    ValueError
        An unknown metric or key, ``x_key == y_key``, a negative ``min_trades``, or a missing
        column (named).
    """
    if metric not in SWEEP_METRICS:
        raise ValueError(f"metric must be one of {list(SWEEP_METRICS)}, got {metric!r}")
    for key in (x_key, y_key):
        if key is not None and key not in SWEEP_KEY_TITLES:
            raise ValueError(f"sweep key must be one of {list(SWEEP_KEY_TITLES)}, got {key!r}")
    if x_key == y_key:
        raise ValueError(f"x_key and y_key must differ, got {x_key!r} twice")
    _check_min_trades(min_trades)
    keys = [x_key] + ([y_key] if y_key is not None else [])
    data = require_columns(
        table, list(dict.fromkeys([*keys, metric, "n_closed_trades"])), "sweep_heatmap"
    )
    style = SWEEP_METRICS[metric]
    x_values = data[x_key].to_list()
    y_values = data[y_key].to_list() if y_key is not None else [None] * data.height
    data = data.with_columns(
        pl.Series("x_label", [axis_label(v, x_key) for v in x_values], dtype=pl.String),
        pl.Series(
            "y_label",
            [axis_label(v, y_key) if y_key is not None else "" for v in y_values],
            dtype=pl.String,
        ),
    )
    data = _cell_columns(data, metric, style, "n_closed_trades", min_trades)
    return _heatmap(
        data.select("x_label", "y_label", "value", "n", "is_coloured", "value_text", "n_text"),
        x="x_label",
        y="y_label",
        x_title=SWEEP_KEY_TITLES[x_key],
        y_title=SWEEP_KEY_TITLES[y_key] if y_key is not None else "",
        x_sort=_axis_order(x_values, x_key),
        y_sort=_axis_order(y_values, y_key) if y_key is not None else [""],
        style=style,
        count_title="Closed trades",
        title=f"{style.title} by exit rule (n = closed trades; grey: fewer than {min_trades})",
        show_text=True,
    )


#: Above this many bucket columns a scan heatmap carries no text (tooltips only): the labels
#: would not fit the cells of a page-wide chart.
MAX_TEXT_COLUMNS = 14


def scan_heatmap(
    cells: pl.DataFrame,
    metric: str,
    *,
    bucket_title: str,
    bucket_order: Sequence[str],
    dte_order: Sequence[str],
    min_trades: int = 20,
) -> alt.LayerChart:
    """Heatmap of one scan statistic by entry DTE (down) × moneyness or delta bucket (across).

    Parameters
    ----------
    cells
        One row per non-empty cell (:func:`app.research_runner.scan_cells`): ``dte_bucket``,
        ``bucket`` (labels), ``metric`` (decimal returns and win rate, index points for P&L;
        may be null) and ``n_trades`` (int).
    metric
        One of :data:`SCAN_METRICS`.
    bucket_title
        Title of the across axis (e.g. ``"Moneyness S / K of leg 1"``).
    bucket_order, dte_order
        Every label of each axis in axis order (:func:`engine.scan.bucket_labels`); only the
        labels of ``cells`` are drawn, in this order.
    min_trades
        Cells with fewer trades are grey (their value still written).

    Returns
    -------
    altair.LayerChart
        Layers as :func:`sweep_heatmap`'s, ``bucket:O`` across, ``dte_bucket:O`` down (shortest
        first); no text when more than :data:`MAX_TEXT_COLUMNS` buckets are drawn.

    Raises
    ------
    ValueError
        An unknown metric, a negative ``min_trades``, a label missing from its order, or a
        missing column (named).
    """
    if metric not in SCAN_METRICS:
        raise ValueError(f"metric must be one of {list(SCAN_METRICS)}, got {metric!r}")
    _check_min_trades(min_trades)
    data = require_columns(
        cells, list(dict.fromkeys(["dte_bucket", "bucket", metric, "n_trades"])), "scan_heatmap"
    )
    for column, order in (("bucket", bucket_order), ("dte_bucket", dte_order)):
        unknown = sorted(set(data[column].drop_nulls().to_list()) - set(order))
        if unknown:
            raise ValueError(f"{column} labels {unknown} are not in the given order {order}")
    present_x = set(data["bucket"].to_list())
    present_y = set(data["dte_bucket"].to_list())
    x_sort = [label for label in bucket_order if label in present_x]
    y_sort = [label for label in dte_order if label in present_y]
    style = SCAN_METRICS[metric]
    data = _cell_columns(data, metric, style, "n_trades", min_trades)
    return _heatmap(
        data.select("bucket", "dte_bucket", "value", "n", "is_coloured", "value_text", "n_text"),
        x="bucket",
        y="dte_bucket",
        x_title=bucket_title,
        y_title="Entry DTE (calendar days)",
        x_sort=x_sort,
        y_sort=y_sort,
        style=style,
        count_title="Trades",
        title=f"{style.title} by entry DTE × bucket (grey: fewer than {min_trades} trades)",
        show_text=len(x_sort) <= MAX_TEXT_COLUMNS,
    )
