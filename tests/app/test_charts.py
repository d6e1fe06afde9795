"""Chart builders return typed Altair charts; no Streamlit involved.

Downsampling (app/charts/sampling.py) is checked on SYNTHETIC hand-computable series, on a
SYNTHETIC seeded 4,015-session random walk through every builder that draws a run's daily
series, and on the longest run of the real published warehouse (``real_published``).
"""

from __future__ import annotations

import datetime as dt
import doctest
from pathlib import Path

import altair as alt
import duckdb
import numpy as np
import polars as pl
import pytest

from app import queries
from app.charts import drawdown_chart, equity_chart, greek_chart, rolling_sharpe_chart, sampling

# SYNTHETIC equity: 100 -> 110 -> 99; drawdown 0, 0, 99/110 - 1 = -0.1.
EQUITY = pl.DataFrame(
    {
        "quote_date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
        "equity_usd": [100.0, 110.0, 99.0],
        "drawdown": [0.0, 0.0, -0.1],
        "daily_return": [float("nan"), 0.1, -0.1],
    }
)


def test_equity_chart_encodings() -> None:
    chart = equity_chart(EQUITY)

    assert isinstance(chart, alt.Chart)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "quote_date"
    assert spec["encoding"]["x"]["type"] == "temporal"
    # Daily data: no hour ticks between days.
    assert spec["encoding"]["x"]["timeUnit"] == "yearmonthdate"
    assert spec["encoding"]["y"]["field"] == "equity_usd"
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["encoding"]["y"]["scale"] == {"zero": False}


def test_drawdown_chart_is_a_percent_area() -> None:
    chart = drawdown_chart(EQUITY)

    assert isinstance(chart, alt.Chart)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "area"
    assert spec["encoding"]["x"]["type"] == "temporal"
    assert spec["encoding"]["y"]["field"] == "drawdown"
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["encoding"]["y"]["axis"]["format"] == "%"


@pytest.mark.parametrize(
    ("builder", "columns"),
    [(equity_chart, ["quote_date", "equity_usd"]), (drawdown_chart, ["quote_date", "drawdown"])],
)
def test_charts_embed_only_the_plotted_columns(builder, columns) -> None:
    # daily_return's NaN would otherwise reach the Vega-Lite JSON.
    spec = builder(EQUITY).to_dict()
    (rows,) = spec["datasets"].values()
    assert [list(row) for row in rows] == [columns] * EQUITY.height
    assert [row[columns[1]] for row in rows] == EQUITY[columns[1]].to_list()


@pytest.mark.parametrize(
    ("builder", "missing"), [(equity_chart, "equity_usd"), (drawdown_chart, "drawdown")]
)
def test_missing_column_is_named(builder, missing) -> None:
    with pytest.raises(ValueError, match=missing):
        builder(EQUITY.drop(missing))


def test_empty_frame_still_builds() -> None:
    empty = EQUITY.clear()
    assert isinstance(equity_chart(empty).to_dict(), dict)
    assert isinstance(drawdown_chart(empty).to_dict(), dict)


# ---- downsampling of long series (app/charts/sampling.py) ----------------------------------


def _rows(chart) -> list[dict]:
    """The rows a chart embeds (its one dataset)."""
    (rows,) = chart.to_dict()["datasets"].values()
    return rows


def test_doctests_of_the_sampling_module() -> None:
    assert doctest.testmod(sampling).failed == 0


def test_downsample_keeps_first_last_min_and_max_of_each_bucket_synthetic() -> None:
    # SYNTHETIC: 12 rows, one y, at most 8 points: 8 // (2 + 2) = 2 buckets, row i in bucket
    # i * 2 // 12, so rows 0-5 and 6-11.
    #   bucket 0, y = 5 1 9 2 2 3: first row 0, min 1 at row 1, max 9 at row 2, last row 5
    #   bucket 1, y = 4 4 -7 0 8 1: first row 6, min -7 at row 8, max 8 at row 10, last row 11
    y = [5.0, 1, 9, 2, 2, 3, 4, 4, -7, 0, 8, 1]
    frame = pl.DataFrame({"x": list(range(12)), "y": y})
    sampled = sampling.downsample_extremes(frame, "x", "y", max_points=8)
    assert sampled.data["x"].to_list() == [0, 1, 2, 5, 6, 8, 10, 11]
    assert sampled.data["y"].to_list() == [y[i] for i in (0, 1, 2, 5, 6, 8, 10, 11)]  # exact
    assert (sampled.n_rows, sampled.n_series, sampled.is_downsampled) == (12, 1, True)
    assert sampled.note() == "Downsampled to 8 of 12 points: each stretch's first, last, min, max"


def test_downsample_ties_nans_several_columns_and_row_order_synthetic() -> None:
    # SYNTHETIC: 8 rows in reverse order, one bucket of two columns (max_points 6 = 2 + 2 x 2):
    #   a = 1 NaN 3 3 0 0 2 1 (x = 0..7): min 0 first at x = 4 (the tie at x = 5 is dropped),
    #       max 3 first at x = 2; NaN at x = 1 is never an extreme
    #   b = 0 0 0 0 0 0 0 -1: min -1 at x = 7 (also the last), max 0 first at x = 0 (the first)
    frame = pl.DataFrame(
        {
            "x": list(range(8)),
            "a": [1.0, float("nan"), 3, 3, 0, 0, 2, 1],
            "b": [0.0] * 7 + [-1.0],
        }
    ).reverse()
    sampled = sampling.downsample_extremes(frame, "x", ["a", "b"], max_points=6)
    assert sampled.data["x"].to_list() == [0, 2, 4, 7]


def test_downsample_cuts_each_series_on_its_own_and_keeps_short_ones_whole_synthetic() -> None:
    # SYNTHETIC: series "long" of 12 rows (as in the first test) and "short" of 3 rows; at most
    # 8 points per series: "long" keeps rows 0, 1, 2, 5, 6, 8, 10, 11, "short" all 3.
    long = pl.DataFrame(
        {"series": "long", "x": list(range(12)), "y": [5.0, 1, 9, 2, 2, 3, 4, 4, -7, 0, 8, 1]}
    )
    short = pl.DataFrame({"series": "short", "x": [0, 1, 2], "y": [1.0, 2.0, 3.0]})
    frame = pl.concat([short, long]).sample(fraction=1.0, shuffle=True, seed=7)
    sampled = sampling.downsample_extremes(frame, "x", "y", by="series", max_points=8)
    kept = sampled.data.group_by("series", maintain_order=True).agg("x")
    assert kept.rows() == [("long", [0, 1, 2, 5, 6, 8, 10, 11]), ("short", [0, 1, 2])]
    assert (sampled.n_rows, sampled.n_series, sampled.max_series_kept) == (15, 2, 8)
    assert "to 11 of 15 points (at most 8 a series)" in sampled.note()
    # the same rows whatever the input order
    again = sampling.downsample_extremes(frame.reverse(), "x", "y", by="series", max_points=8)
    assert again.data.equals(sampled.data)


def test_a_series_no_longer_than_max_points_is_kept_whole_synthetic() -> None:
    sampled = sampling.downsample_extremes(EQUITY.reverse(), "quote_date", "equity_usd")
    assert sampled.data.equals(EQUITY)  # sorted by date, every row, every column
    assert not sampled.is_downsampled and sampled.note() is None
    assert sampling.sampled_title("Equity", sampled) == "Equity"


def test_downsample_refusals_name_the_problem() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        sampling.downsample_extremes(EQUITY, "quote_date", "nope")
    with pytest.raises(ValueError, match=r"at least 4 .* got 3"):
        sampling.downsample_extremes(EQUITY, "quote_date", "equity_usd", max_points=3)


def _long_equity(n: int = 4_015) -> pl.DataFrame:
    """SYNTHETIC daily equity of ``n`` sessions: a seeded random walk, and its drawdown."""
    rng = np.random.default_rng(19)
    equity = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    start = dt.date(2007, 1, 19)
    return pl.DataFrame(
        {
            "quote_date": [start + dt.timedelta(days=i) for i in range(n)],
            "equity_usd": equity,
            "drawdown": equity / np.maximum.accumulate(equity) - 1,
            "rolling_sharpe": rng.normal(0, 1, n),
            "delta_usd": rng.normal(0, 1e5, n),
        }
    )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (equity_chart, "equity_usd"),
        (drawdown_chart, "drawdown"),
        (lambda f: rolling_sharpe_chart(f, 252), "rolling_sharpe"),
        (lambda f: greek_chart(f, "delta_usd"), "delta_usd"),
    ],
)
def test_long_run_charts_send_at_most_max_points_with_every_extreme(build, field) -> None:
    frame = _long_equity()
    chart = build(frame)
    rows = _rows(chart) if field != "rolling_sharpe" else chart.to_dict()["datasets"]
    if field == "rolling_sharpe":  # a layer: the line's dataset is the long one
        rows = max(rows.values(), key=len)
    values = [row[field] for row in rows]
    assert len(rows) <= sampling.MAX_POINTS
    assert max(values) == frame[field].max() and min(values) == frame[field].min()
    assert rows[0]["quote_date"].startswith("2007-01-19")  # first and last sessions drawn
    assert rows[-1]["quote_date"].startswith(str(frame["quote_date"][-1]))
    title = chart.to_dict()["title"]
    assert f"of {frame.height:,} points:" in title["subtitle"]


def test_a_long_greek_chart_drops_its_point_marks() -> None:
    assert greek_chart(EQUITY.with_columns(delta_usd=pl.lit(1.0)), "delta_usd").to_dict()[
        "mark"
    ] == {"type": "line", "point": True}
    assert greek_chart(_long_equity(), "delta_usd").to_dict()["mark"] == {
        "type": "line",
        "point": False,
    }


def test_real_modeled_equity_curve_is_downsampled_with_its_extremes(
    real_published: Path,
) -> None:
    """The longest run of the real published warehouse (a 2007-2022 modeled run: ~4,000
    sessions), drawn by the Backtest page's equity and drawdown builders."""
    con = duckdb.connect(str(real_published), read_only=True)
    try:
        (run_id, n_sessions) = con.execute(
            "select run_id, count(*) from backtest.equity_daily group by run_id "
            "order by count(*) desc, run_id limit 1"
        ).fetchone()
    finally:
        con.close()
    if n_sessions <= sampling.MAX_POINTS:
        pytest.skip(f"the longest run here, {run_id}, has only {n_sessions} sessions")
    equity = queries.run_detail(real_published, run_id).equity
    for build, field in ((equity_chart, "equity_usd"), (drawdown_chart, "drawdown")):
        chart = build(equity)
        values = [row[field] for row in _rows(chart)]
        assert len(values) <= sampling.MAX_POINTS < equity.height
        assert max(values) == equity[field].max() and min(values) == equity[field].min()
        assert f"of {equity.height:,} points:" in chart.to_dict()["title"]["subtitle"]
