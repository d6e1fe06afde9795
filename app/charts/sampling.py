"""Downsampling of long series before they reach the browser, keeping every extreme.

A modeled 2007-2022 run has about 4,000 sessions, and Compare overlays up to eight runs plus
their baselines: every row of a chart's data goes to the browser as JSON/Arrow and Vega draws
each one, though a chart ~1,000 px wide cannot show more than a few points per pixel column.
:func:`downsample_extremes` cuts each series to at most :data:`MAX_POINTS` rows with the M4
rule (U. Jugel, Z. Jerzak, G. Hackenbroich, V. Markl, "M4: A Visualization-Oriented Time Series
Data Aggregation", PVLDB 7(10), 2014, section 4): the series is cut into buckets of consecutive
rows, and of each bucket the first, the last, the minimum and the maximum row are kept. A line
through those rows has the same ups and downs as the full one at any width up to one pixel
column per bucket, every peak and trough (the run's worst drawdown, its highest equity) is
drawn at its own value, and the rows kept are the original rows, so a tooltip gives exact
values. :func:`sampled_title` puts the "downsampled" note in the chart's own subtitle.

Pure functions of their arguments (no Streamlit); deterministic: rows are ordered by the series
and x columns first, ties keep the earliest row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import polars as pl

#: Most rows per series a chart sends to the browser.
MAX_POINTS = 1_500
#: Rows kept per bucket for each y column (its min and max) and for the bucket (first, last).
_PER_Y, _PER_BUCKET = 2, 2
_ROW = "__row"
_BUCKET = "__bucket"


@dataclass(frozen=True)
class Downsampled:
    """A frame cut by :func:`downsample_extremes`, with what it was cut from.

    Attributes
    ----------
    data
        The rows kept (all columns of the input), ordered by series then x.
    n_rows
        Rows of the input.
    n_series
        Series of the input (1 without ``by``).
    max_series_kept
        Rows kept of the series with the most rows kept.
    """

    data: pl.DataFrame
    n_rows: int
    n_series: int
    max_series_kept: int

    @property
    def is_downsampled(self) -> bool:
        """Whether rows were dropped."""
        return self.data.height < self.n_rows

    def note(self) -> str | None:
        """What the chart's subtitle says when rows were dropped, else ``None``; short enough
        (under 80 characters for one series) to show whole over a half-width chart.

        >>> frame = pl.DataFrame({"x": range(10), "y": [0.0, 1, 0, 5, 0, 0, -3, 0, 0, 1]})
        >>> downsample_extremes(frame, "x", "y", max_points=4).note()
        "Downsampled to 4 of 10 points: each stretch's first, last, min, max"
        """
        if not self.is_downsampled:
            return None
        each = f" (at most {self.max_series_kept:,} a series)" if self.n_series > 1 else ""
        return (
            f"Downsampled to {self.data.height:,} of {self.n_rows:,} points{each}: each "
            "stretch's first, last, min, max"
        )


def downsample_extremes(
    frame: pl.DataFrame,
    x: str,
    y: str | Sequence[str],
    *,
    by: str | None = None,
    max_points: int = MAX_POINTS,
) -> Downsampled:
    """At most ``max_points`` rows of each series, keeping each stretch's first, last, min, max.

    Parameters
    ----------
    frame
        One row per ``x`` (per ``by`` value when given), e.g. one row per ``quote_date`` of an
        equity curve, or per ``series`` per ``quote_date`` on Compare. Any order.
    x
        The column the series is ordered by (a date, usually).
    y
        The plotted column(s); with several (one chart per column, or one chart of several
        lines) each one's min and max are kept, so every plotted line keeps its extremes.
    by
        The column naming the series (each is cut on its own), or ``None`` for one series.
    max_points
        Most rows kept per series, at least ``2 + 2 * len(y)`` (one bucket).

    Returns
    -------
    Downsampled
        The rows kept, unchanged, ordered by ``by`` then ``x``. A series of at most
        ``max_points`` rows is kept whole. A longer one of ``n`` rows is cut into
        ``b = max_points // (2 + 2 * len(y))`` buckets of consecutive rows (row ``i`` of the
        series, from 0, in bucket ``i * b // n``), and of each bucket the first and last rows
        and the rows of the min and of the max of each ``y`` column are kept (M4, Jugel et al.
        2014, section 4; the earliest row on a tie; NULL and NaN are never a min or max):
        at most ``max_points`` rows.

    Raises
    ------
    ValueError
        A missing column (named), or ``max_points`` below one bucket's rows.

    Examples
    --------
    SYNTHETIC: ten rows, y = 0 1 0 5 0 0 -3 0 0 1 and at most 4 rows (one bucket): the first
    (x = 0), the max (x = 3), the min (x = 6) and the last (x = 9) are kept.

    >>> frame = pl.DataFrame({"x": range(10), "y": [0.0, 1, 0, 5, 0, 0, -3, 0, 0, 1]})
    >>> downsample_extremes(frame, "x", "y", max_points=4).data["x"].to_list()
    [0, 3, 6, 9]
    """
    ys = [y] if isinstance(y, str) else list(y)
    if not ys:
        raise ValueError("downsample_extremes needs at least one y column, got none")
    wanted = [x, *ys, *([by] if by is not None else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"downsample_extremes needs columns {missing}, got {frame.columns}")
    per_bucket = _PER_BUCKET + _PER_Y * len(ys)
    if max_points < per_bucket:
        raise ValueError(
            f"max_points must be at least {per_bucket} (first, last, min and max of "
            f"{len(ys)} column(s) in one bucket), got {max_points!r}"
        )
    keys = [by] if by is not None else []
    ordered = frame.sort([*keys, x], maintain_order=True)
    over = keys or None
    lengths = ordered.group_by(keys).len()["len"] if keys else pl.Series([ordered.height])
    n_series = len(lengths) if ordered.height else 0
    longest = int(lengths.max()) if ordered.height else 0
    if longest <= max_points:
        return Downsampled(ordered, frame.height, n_series, longest)
    n_buckets = max_points // per_bucket
    row = pl.int_range(pl.len()).over(over) if over else pl.int_range(pl.len())
    n = pl.len().over(over) if over else pl.len()
    staged = ordered.with_columns(row.alias(_ROW)).with_columns(
        # a short series (n <= max_points) keeps every row: one bucket per row
        pl.when(n <= max_points)
        .then(pl.col(_ROW))
        .otherwise(pl.col(_ROW) * n_buckets // n)
        .alias(_BUCKET)
    )
    group = [*keys, _BUCKET]
    picks = [pl.col(_ROW).first().alias("first"), pl.col(_ROW).last().alias("last")]
    for i, column in enumerate(ys):
        # NaN counts as missing, as Vega does not draw it either
        value = pl.col(column).fill_nan(None)
        picks.append(pl.col(_ROW).filter(value == value.min()).first().alias(f"min{i}"))
        picks.append(pl.col(_ROW).filter(value == value.max()).first().alias(f"max{i}"))
    kept = (
        staged.group_by(group)
        .agg(picks)
        .unpivot(index=group, value_name=_ROW)
        .drop_nulls(_ROW)
        .select([*keys, _ROW])
        .unique()
    )
    data = staged.join(kept, on=[*keys, _ROW], how="semi").sort([*keys, _ROW]).drop(_ROW, _BUCKET)
    most_kept = int(kept.group_by(keys).len()["len"].max()) if keys else kept.height
    return Downsampled(data, frame.height, n_series, most_kept)


def sampled_title(title: str, sampled: Downsampled) -> str | alt.TitleParams:
    """``title``, with :meth:`Downsampled.note` as its subtitle when rows were dropped."""
    note = sampled.note()
    if note is None:
        return title
    return alt.TitleParams(
        title, subtitle=note, subtitleFontSize=11, subtitleColor="#6b6b6b", anchor="start"
    )
