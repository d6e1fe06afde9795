"""Chart builders of the Compare page: runs and their baselines overlaid, in distinct colours.

Runs are solid lines in the colours of :data:`RUN_COLOURS`, one hue each; baselines (buy and
hold, Cboe indices) are dashed, in the neutral :data:`BASELINE_COLOURS`, so a baseline never
passes for a run. Colours are set explicitly: Streamlit's own Altair theme pairs each hue with a
light tint of itself (dark blue, light blue, dark red, light red, ...), which made two runs
look alike (issue 19).

Inputs hold floats, never ``DECIMAL``\\ s (FIELD_NOTES: a DuckDB ``DECIMAL`` plots 10^scale too
large): :mod:`app.queries.compare` casts to ``DOUBLE``. Each series reaches the browser
downsampled to at most :data:`~app.charts.sampling.MAX_POINTS` points, its extremes kept
(:func:`app.charts.sampling.downsample_extremes`: eight 2007-2022 runs and their baselines
would otherwise send some 40,000 rows a chart); the subtitle says when.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns
from app.charts.sampling import MAX_POINTS, downsample_extremes, sampled_title

#: Run colours: Tableau 10 (M. Stone, Tableau Software, 2016; Vega's ``tableau10`` scheme) in
#: its order, without its brown and grey (kept for baselines); the light yellow and pink last.
RUN_COLOURS: tuple[str, ...] = (
    "#4e79a7",  # blue
    "#f28e2b",  # orange
    "#e15759",  # red
    "#59a14f",  # green
    "#b07aa1",  # purple
    "#76b7b2",  # teal
    "#edc948",  # yellow
    "#ff9da7",  # pink
)
#: Most runs the page overlays: each has its own hue.
MAX_RUNS = len(RUN_COLOURS)
#: Baseline colours (near-black, Tableau brown and grey), cycled with :data:`BASELINE_DASHES`.
BASELINE_COLOURS: tuple[str, ...] = ("#1b1b1b", "#9c755f", "#79706e")
#: Dash patterns of baselines (pixels on, off, ...); runs are solid (``[1, 0]``).
BASELINE_DASHES: tuple[tuple[int, ...], ...] = ((6, 3), (2, 2), (10, 3, 2, 3))
SOLID: tuple[int, ...] = (1, 0)
#: Legend columns, and pixels the chart grows by per legend row (Vega-Lite's ``fit`` autosize,
#: which Streamlit applies, fits the legend into the chart's height and squeezed the plot).
LEGEND_COLUMNS = 2
LEGEND_ROW_PX = 20


def series_styles(
    runs: Sequence[str], baselines: Sequence[str] = ()
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Colour and dash of each series: runs first (solid), then baselines (dashed).

    Parameters
    ----------
    runs
        Run series names, in legend order; at most :data:`MAX_RUNS`.
    baselines
        Baseline series names, in legend order; the first nine differ in colour or dash.

    Returns
    -------
    dict[str, tuple[str, tuple[int, ...]]]
        Name -> (hex colour, dash pattern).

    Raises
    ------
    ValueError
        More than :data:`MAX_RUNS` runs, or a name given twice (named).

    Examples
    --------
    >>> series_styles(["a", "b"], ["hold"])
    {'a': ('#4e79a7', (1, 0)), 'b': ('#f28e2b', (1, 0)), 'hold': ('#1b1b1b', (6, 3))}
    """
    if len(runs) > MAX_RUNS:
        raise ValueError(f"at most {MAX_RUNS} runs have distinct colours, got {len(runs)}")
    names = [*runs, *baselines]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"series names must be unique, got {repeated} more than once")
    styles = {name: (RUN_COLOURS[i], SOLID) for i, name in enumerate(runs)}
    n_colours = len(BASELINE_COLOURS)
    for i, name in enumerate(baselines):
        dash = BASELINE_DASHES[(i // n_colours) % len(BASELINE_DASHES)]
        styles[name] = (BASELINE_COLOURS[i % n_colours], dash)
    return styles


def _overlaid(
    paths: pl.DataFrame,
    field: str,
    label: str,
    title: str,
    runs: Sequence[str],
    baselines: Sequence[str],
    what: str,
    max_points: int,
) -> alt.Chart:
    data = require_columns(paths, ["series", "quote_date", field], what)
    styles = series_styles(runs, baselines)
    unknown = sorted(set(data["series"].unique().to_list()) - set(styles))
    if unknown:
        raise ValueError(f"{what}: series {unknown} are neither in runs nor in baselines")
    domain = list(styles)
    legend = alt.Legend(orient="bottom", labelLimit=0, columns=LEGEND_COLUMNS, symbolStrokeWidth=3)
    legend_rows = -(-len(domain) // LEGEND_COLUMNS)
    sampled = downsample_extremes(data, "quote_date", field, by="series", max_points=max_points)
    return (
        alt.Chart(
            sampled.data,
            height=CHART_HEIGHT + LEGEND_ROW_PX * legend_rows,
            title=sampled_title(title, sampled),
        )
        .mark_line(strokeWidth=2)
        .encode(
            x=alt.X("yearmonthdate(quote_date):T", title="Quote date"),
            y=alt.Y(f"{field}:Q", title=label, axis=alt.Axis(format="%")),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=domain, range=[styles[n][0] for n in domain]),
                legend=legend,
            ),
            strokeDash=alt.StrokeDash(
                "series:N",
                title=None,
                scale=alt.Scale(domain=domain, range=[list(styles[n][1]) for n in domain]),
                legend=legend,
            ),
            tooltip=[
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip(f"{field}:Q", title=label, format=".2%"),
            ],
        )
    )


def compare_equity_chart(
    paths: pl.DataFrame,
    runs: Sequence[str],
    baselines: Sequence[str] = (),
    *,
    max_points: int = MAX_POINTS,
) -> alt.Chart:
    """Cumulative return of each run and baseline from its own start, overlaid.

    Parameters
    ----------
    paths
        One row per ``series`` per ``quote_date`` (date) with ``cumulative_return`` (decimal,
        ``prod(1 + r) - 1`` from the series' first session).
    runs, baselines
        The series names in ``paths``, in legend order (:func:`series_styles`).
    max_points
        Most points drawn per series (:func:`~app.charts.sampling.downsample_extremes`, by
        ``series``; the subtitle says when the paths were downsampled).

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x (daily ticks), ``cumulative_return:Q`` on a percent y axis,
        ``series:N`` as colour and dash with explicit ranges.

    Raises
    ------
    ValueError
        A missing column, a series not listed, or too many runs (named).

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({"series": ["a"], "quote_date": [dt.date(2019, 6, 21)],
    ...                       "cumulative_return": [0.0]})
    >>> compare_equity_chart(frame, ["a"]).to_dict()["encoding"]["color"]["scale"]["range"]
    ['#4e79a7']
    """
    return _overlaid(
        paths,
        "cumulative_return",
        "Cumulative return",
        "Cumulative return from each series' start",
        runs,
        baselines,
        "compare_equity_chart",
        max_points,
    )


def compare_drawdown_chart(
    paths: pl.DataFrame,
    runs: Sequence[str],
    baselines: Sequence[str] = (),
    *,
    max_points: int = MAX_POINTS,
) -> alt.Chart:
    """Drawdown (decimal, <= 0, from the running peak) of each run and baseline, overlaid.

    As :func:`compare_equity_chart`, with ``drawdown`` on the y axis (each series' deepest
    drawdown is among the points drawn).

    Raises
    ------
    ValueError
        A missing column, a series not listed, or too many runs (named).
    """
    return _overlaid(
        paths,
        "drawdown",
        "Drawdown",
        "Drawdown",
        runs,
        baselines,
        "compare_drawdown_chart",
        max_points,
    )
