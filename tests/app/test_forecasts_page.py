"""The Forecasts page: its queries on the real published warehouse, its chart builders on
SYNTHETIC frames, and the page itself headless (AppTest) on the real warehouse.

Tests marked ``slow`` read the real warehouse (``real_published``; set
``OPTIONS_TEST_WAREHOUSE`` to reuse a built one); the chart tests need nothing.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
from pathlib import Path

import altair as alt
import polars as pl
import pytest

from app.charts import forecasts as charts
from app.db import read
from app.queries import forecasts as queries
from tests.app.conftest import open_app_page

slow = pytest.mark.slow


def _runs(db: Path) -> dict[str, dict]:
    return {row["model_name"]: row for row in queries.forecast_runs(db).iter_rows(named=True)}


# ---- queries, real warehouse ---------------------------------------------------------------------


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0


@slow
def test_forecast_runs_are_current_underlying_level_runs(real_published: Path) -> None:
    runs = queries.forecast_runs(real_published)
    assert set(runs.get_column("family")) <= {"direction", "iv_regime"}
    assert {"xgb_direction_5d", "xgb_iv_regime_5d"} <= set(runs.get_column("model_name"))
    direction = runs.filter(pl.col("family") == "direction")
    assert direction.get_column("decision_threshold").is_between(0, 1).all()


@slow
def test_window_of_one_year_is_daily_and_matches_the_signals(real_published: Path) -> None:
    runs = _runs(real_published)
    direction, regime = runs["xgb_direction_5d"], runs["xgb_iv_regime_5d"]
    end = direction["last_date"]
    start = end - dt.timedelta(days=365)
    window = queries.forecast_window(
        real_published, "SPX", direction["run_id"], regime["run_id"], start, end
    )
    assert window.bucket == "day"
    assert window.direction.get_column("n_days").max() == 1
    assert window.direction.get_column("as_of_date").is_between(start, end).all()
    assert set(window.direction.get_column("prediction_kind")) == {"walk_forward", "live"}
    # the three regime probabilities add up to 1 on every date
    sums = window.regime.group_by("as_of_date").agg(pl.col("probability").sum())
    assert sums.get_column("probability").is_between(1 - 1e-5, 1 + 1e-5).all()
    expected = read(
        real_published,
        "select count(*) from forecasts.fct_strategy_signals "
        "where underlying_symbol = ? and as_of_date between ? and ?",
        ["SPX", start, end],
    ).item()
    assert window.signals.height == expected
    assert window.signals.get_column("as_of_date").is_sorted(descending=True)
    # the latest live forecast is the newest as-of date of the run
    assert window.latest_direction.item(0, "as_of_date") == end
    assert window.latest_signal.height == 1


@slow
def test_long_ranges_are_averaged_per_week(real_published: Path) -> None:
    runs = _runs(real_published)
    direction, regime = runs["xgb_direction_5d"], runs["xgb_iv_regime_5d"]
    window = queries.forecast_window(
        real_published,
        "SPX",
        direction["run_id"],
        regime["run_id"],
        direction["first_date"],
        direction["last_date"],
    )
    assert window.bucket == "week"
    assert window.direction.height < 2000
    # weekly rows still average every date: the day counts add up to the run's predictions
    assert (
        window.direction.get_column("n_days").sum()
        == read(
            real_published,
            "select count(*) from forecasts.int_forecast_predictions_realized where run_id = ?",
            [direction["run_id"]],
        ).item()
    )


@slow
def test_unknown_runs_and_empty_ranges_give_empty_frames(real_published: Path) -> None:
    window = queries.forecast_window(
        real_published, "SPX", "no-such-run", None, dt.date(2020, 1, 1), dt.date(2020, 12, 31)
    )
    assert window.direction.is_empty() and window.regime.is_empty()
    assert window.latest_direction.is_empty() and window.latest_regime.is_empty()
    reversed_range = queries.forecast_window(
        real_published, "SPX", None, None, dt.date(2020, 12, 31), dt.date(2020, 1, 1)
    )
    assert reversed_range.signals.is_empty()
    nowhere = queries.forecast_window(
        real_published, "NOPE", None, None, dt.date(2020, 1, 1), dt.date(2020, 12, 31)
    )
    assert nowhere.signals.is_empty() and nowhere.latest_signal.is_empty()


# ---- chart builders, SYNTHETIC frames -------------------------------------------------------------

# SYNTHETIC series: two walk-forward days then one live day.
DIRECTION = pl.DataFrame(
    {
        "as_of_date": [dt.date(2022, 12, 19), dt.date(2022, 12, 20), dt.date(2022, 12, 21)],
        "prediction_kind": ["walk_forward", "walk_forward", "live"],
        "p_up": [0.4, 0.6, 0.7],
        "n_days": [1, 1, 1],
    }
)
# SYNTHETIC regime probabilities, each date summing to 1 (0.5 + 0.3 + 0.2).
REGIME = pl.DataFrame(
    {
        "as_of_date": [dt.date(2022, 12, 20)] * 3 + [dt.date(2022, 12, 21)] * 3,
        "regime_class": ["LOW", "NORMAL", "HIGH"] * 2,
        "probability": [0.5, 0.3, 0.2] * 2,
        "prediction_kind": ["walk_forward"] * 3 + ["live"] * 3,
        "n_days": [1] * 6,
    }
)


def test_p_up_chart_layers_kinds_and_cuts() -> None:
    chart = charts.p_up_chart(DIRECTION, {"decision threshold": 0.74, "selector cut": 0.5})
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    line, points, rules = spec["layer"]
    assert line["encoding"]["x"]["timeUnit"] == "yearmonthdate"
    assert line["encoding"]["y"]["axis"]["format"] == "%"
    assert line["encoding"]["color"]["scale"]["domain"] == ["walk_forward", "live"]
    assert rules["encoding"]["strokeDash"]["field"] == "cut"
    datasets = {name: rows for name, rows in spec["datasets"].items()}
    assert [row["p_up"] for row in datasets[points["data"]["name"]]] == [0.7]  # live only
    assert sorted(row["p_up"] for row in datasets[rules["data"]["name"]]) == [0.5, 0.74]


def test_p_up_chart_skips_missing_thresholds() -> None:
    spec = charts.p_up_chart(DIRECTION, {"decision threshold": None}).to_dict()
    assert len(spec["layer"]) == 2


def test_regime_chart_stacks_and_marks_the_live_start() -> None:
    spec = charts.regime_chart(REGIME).to_dict()
    areas, rule, label = spec["layer"]
    assert areas["encoding"]["y"]["stack"] == "zero"
    assert areas["encoding"]["color"]["scale"]["domain"] == ["LOW", "NORMAL", "HIGH"]
    assert spec["datasets"][rule["data"]["name"]][0]["as_of_date"].startswith("2022-12-21")
    assert label["mark"]["type"] == "text"


def test_regime_chart_without_live_rows_has_no_rule() -> None:
    walk_forward = REGIME.with_columns(pl.lit("walk_forward").alias("prediction_kind"))
    assert len(charts.regime_chart(walk_forward).to_dict()["layer"]) == 1


@pytest.mark.parametrize(
    ("builder", "args"), [(charts.p_up_chart, ({},)), (charts.regime_chart, ())]
)
def test_builders_name_a_missing_column(builder, args) -> None:
    with pytest.raises(ValueError, match="needs columns"):
        builder(pl.DataFrame({"unrelated": [1]}), *args)


# ---- the page, real warehouse ---------------------------------------------------------------------


@slow
def test_page_shows_latest_forecast_charts_and_signals(real_published: Path) -> None:
    at = open_app_page("forecasts.py")
    assert not at.error, [e.value for e in at.error]
    assert [box.value for box in at.selectbox] == ["SPX", "xgb_direction_5d", "xgb_iv_regime_5d"]
    tiles = {m.label: m.value for m in at.metric}
    assert {"P(up)", "Model call", "Regime in 5 days", "Selector"} <= set(tiles)
    assert any(h.value.startswith("Latest live forecast: 20") for h in at.subheader)
    titles = [json.loads(c.proto.spec).get("title") for c in at.get("vega_lite_chart")]
    assert titles == ["P(up) over the next 5 days", "Implied-vol regime probabilities"]
    signals = at.dataframe[0].value
    assert "reason" in signals.columns and len(signals) > 200  # a year of sessions


@slow
def test_date_range_changes_the_signal_rows(real_published: Path) -> None:
    at = open_app_page("forecasts.py")
    before = len(at.dataframe[0].value)
    at.date_input[0].set_value((dt.date(2022, 12, 1), dt.date(2022, 12, 15))).run()
    assert not at.exception and not at.error
    signals = at.dataframe[0].value
    expected = read(
        real_published,
        "select count(*) from forecasts.fct_strategy_signals "
        "where underlying_symbol = 'SPX' and as_of_date between ? and ?",
        [dt.date(2022, 12, 1), dt.date(2022, 12, 15)],
    ).item()
    assert len(signals) == expected < before
    assert signals["as_of_date"].min().date() >= dt.date(2022, 12, 1)


@slow
def test_another_direction_model_changes_the_tiles(real_published: Path) -> None:
    at = open_app_page("forecasts.py")
    p_up = {m.label: m.value for m in at.metric}["P(up)"]
    at.selectbox[1].select("logit_direction_5d").run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["P(up)"] != p_up
