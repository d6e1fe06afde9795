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
from streamlit.testing.v1 import AppTest

from app.charts import forecasts as charts
from app.db import read
from app.queries import forecasts as queries
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

slow = pytest.mark.slow


def _runs(db: Path) -> dict[str, dict]:
    return {row["model_name"]: row for row in queries.forecast_runs(db).iter_rows(named=True)}


# ---- queries, real warehouse ---------------------------------------------------------------------


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0
    assert doctest.testmod(charts).failed == 0


@slow
def test_model_skill_is_the_pooled_out_of_sample_auc(real_published: Path) -> None:
    runs = _runs(real_published)
    xgb = runs["xgb_direction_5d"]["run_id"]
    skill = queries.model_skill(real_published, [xgb, "no-such-run"])
    assert skill.height == 1
    row = skill.row(0, named=True)
    expected = read(
        real_published,
        "select value, n_rows from ml.model_metrics where run_id = ? and fold_id = 0 "
        "and predictor = 'model' and metric = 'auc'",
        [xgb],
    ).row(0)
    assert (row["auc"], row["n_scored"]) == pytest.approx(expected)
    # the AUC was scored on exactly the labelled walk-forward rows counted here
    assert row["n_up"] + row["n_down"] == row["n_scored"]
    assert row["horizon_days"] == 5 and row["task"] == "binary"


@slow
def test_pending_is_relative_to_the_last_session_in_the_data(real_published: Path) -> None:
    runs = _runs(real_published)
    direction = runs["xgb_direction_5d"]
    window = queries.forecast_window(
        real_published, "SPX", direction["run_id"], None, dt.date(2022, 1, 1), dt.date(2022, 1, 31)
    )
    last = read(
        real_published,
        "select max(trade_date) from marts.fct_underlying_daily where underlying_symbol = 'SPX'",
    ).item()
    assert window.last_session == last
    # the pending (prediction_kind 'live') dates are the latest ones, at most the horizon of
    # sessions before the data's end, whatever today's date is
    assert window.latest_direction.item(0, "as_of_date") <= last
    n_pending = read(
        real_published,
        "select count(*) from forecasts.int_forecast_predictions_realized where run_id = ? "
        "and contract_symbol is null and prediction_kind = 'live'",
        [direction["run_id"]],
    ).item()
    assert 0 < n_pending <= direction["horizon_days"]


# ---- skill and call helpers, SYNTHETIC numbers -----------------------------------------------


def test_auc_interval_by_hand() -> None:
    # A = 0.5, 100 rows per class: Q1 = Q2 = 1/3, SE^2 = (0.25 + 2 x 99 x (1/3 - 1/4)) / 10,000
    # = 0.001675, SE = 0.040927, 1.96 x SE = 0.080216
    low, high = queries.auc_interval(0.5, 100, 100)
    assert (low, high) == pytest.approx((0.5 - 0.080216, 0.5 + 0.080216), abs=1e-5)
    # overlapping 5-day outcomes: counts thinned by 5 widen the interval
    thinned = queries.auc_interval(0.5, 500, 500, horizon_days=5)
    assert thinned == pytest.approx((low, high))
    assert queries.auc_interval(0.99, 10, 10)[1] == 1.0  # clipped to [0, 1]
    with pytest.raises(ValueError, match=r"got 1\.2"):
        queries.auc_interval(1.2, 10, 10)
    with pytest.raises(ValueError, match="n_negative=0"):
        queries.auc_interval(0.6, 10, 0)
    with pytest.raises(ValueError, match="horizon_days"):
        queries.auc_interval(0.6, 10, 10, horizon_days=0)


def test_lacks_skill_and_the_warning() -> None:
    assert queries.lacks_skill(0.499) and queries.lacks_skill(0.5) and queries.lacks_skill(None)
    assert queries.lacks_skill(0.53, (0.49, 0.57))  # the interval includes no skill
    assert not queries.lacks_skill(0.56, (0.52, 0.60))
    # the real xgb_direction_5d numbers: AUC 0.499 on 2,436 up and 1,752 down labelled dates
    row = {"model_name": "m", "task": "binary", "auc": 0.499, "n_up": 2436, "n_down": 1752,
           "horizon_days": 5}  # fmt: skip
    text = queries.skill_warning(row, "The strategy selector trades on")
    assert text is not None and "AUC is 0.499" in text and "coin flip" in text
    assert "4,188 labelled" in text and "837 independent" in text  # 4,188 // 5
    assert queries.skill_warning({**row, "auc": 0.62}, "x") is None
    # a multiclass AUC has no interval here: only the 0.5 bar
    multiclass = {**row, "task": "multiclass", "auc": 0.45}
    assert "AUC is 0.450" in queries.skill_warning(multiclass, "x")
    assert "no out-of-sample AUC" in queries.skill_warning({**row, "auc": None}, "x")


def test_direction_call_is_the_selector_s_inclusive_cut() -> None:
    assert queries.SELECTOR_CUT == 0.5
    assert [queries.direction_call(p) for p in (0.674, 0.5, 0.4999, None)] == [
        "UP",
        "UP",
        "DOWN",
        "n/a",
    ]


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
    # "live" is shown as pending: its outcome lies after the data's last session
    label_expr = line["encoding"]["color"]["legend"]["labelExpr"]
    assert "pending (outcome after the last session in the data)" in label_expr
    assert "'live' ? 'live" not in label_expr
    datasets_rows = spec["datasets"][line["data"]["name"]]
    assert [row["kind_label"] for row in datasets_rows][-1].startswith("pending")
    # a short range: daily ticks labelled as dates, never "12 PM"
    assert line["encoding"]["x"]["axis"]["tickCount"] == {"interval": "day", "step": 1}
    assert line["encoding"]["x"]["axis"]["format"] == "%Y-%m-%d"
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
    assert spec["datasets"][label["data"]["name"]][0]["label"] == "pending"


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
    assert {"P(up)", "Direction call", "Regime in 5 days", "Selector"} <= set(tiles)
    # no "live": the latest forecast is named by the data's last session, not by today
    last = read(
        real_published,
        "select max(trade_date) from marts.fct_underlying_daily where underlying_symbol = 'SPX'",
    ).item()
    assert any(
        h.value == f"Latest forecast: {last:%Y-%m-%d}, the last session in the data"
        for h in at.subheader
    )
    assert not any("live" in h.value.lower() for h in at.subheader)
    assert any("not forecasts for today" in c.value for c in at.caption)
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
    # the selector still trades on its own model, and the page says so
    assert any("The selector trades on `xgb_direction_5d`" in info.value for info in at.info)


@slow
def test_the_direction_call_agrees_with_the_selector(real_published: Path) -> None:
    """The page called the model DOWN (its tuned threshold) beside a selector trading UP at the
    same P(up): the tile now shows the call the selector trades, and a warning names the
    threshold when the model's own label differs."""
    at = open_app_page("forecasts.py")
    tiles = {m.label: m.value for m in at.metric}
    signal = read(
        real_published,
        "select p_up, direction_forecast from forecasts.fct_strategy_signals "
        "where underlying_symbol = 'SPX' and direction_prediction_kind = 'live' "
        "order by as_of_date desc limit 1",
    ).row(0, named=True)
    assert tiles["Direction call"] == signal["direction_forecast"]
    assert tiles["P(up)"] == f"{signal['p_up']:.1%}"
    run = _runs(real_published)["xgb_direction_5d"]
    own = read(
        real_published,
        "select predicted_label from forecasts.int_forecast_predictions_realized "
        "where run_id = ? and contract_symbol is null order by as_of_date desc limit 1",
        [run["run_id"]],
    ).item()
    threshold_warnings = [w.value for w in at.warning if "tuned decision threshold" in w.value]
    if own != signal["direction_forecast"]:
        assert threshold_warnings and f"labels this date {own}" in threshold_warnings[0]
    else:
        assert not threshold_warnings


@slow
def test_page_warns_when_the_selector_s_model_has_no_skill(real_published: Path) -> None:
    at = open_app_page("forecasts.py")
    xgb = _runs(real_published)["xgb_direction_5d"]["run_id"]
    skill = queries.model_skill(real_published, [xgb]).row(0, named=True)
    interval = queries.auc_interval(skill["auc"], skill["n_up"], skill["n_down"], 5)
    warnings = [w.value for w in at.warning]
    if queries.lacks_skill(skill["auc"], interval):  # AUC 0.499 in the published warehouse
        assert any(
            text.startswith("The strategy selector trades on `xgb_direction_5d`")
            and f"AUC is {skill['auc']:.3f}" in text
            for text in warnings
        )
        assert any("without demonstrated out-of-sample skill" in text for text in warnings)
    else:
        assert not any("trades on `xgb_direction_5d`" in text for text in warnings)


# ---- deep links (app.links): models and as-of window in the URL, real warehouse ------------------


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Forecasts page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/forecasts.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


@slow
def test_the_url_follows_the_selection(real_published: Path) -> None:
    at = open_app_page("forecasts.py")
    start, end = at.date_input[0].value
    assert at.query_params == {
        "underlying": "SPX",
        "direction_model": "xgb_direction_5d",
        "regime_model": "xgb_iv_regime_5d",
        "start": start.isoformat(),
        "end": end.isoformat(),
    }

    at.selectbox[1].select("logit_direction_5d").run()
    at.selectbox[2].select("logit_iv_regime_5d").run()
    at.date_input[0].set_value((dt.date(2022, 12, 1), dt.date(2022, 12, 15))).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {
        "underlying": "SPX",
        "direction_model": "logit_direction_5d",
        "regime_model": "logit_iv_regime_5d",
        "start": "2022-12-01",
        "end": "2022-12-15",
    }


@slow
def test_a_link_reopens_its_models_and_window(real_published: Path) -> None:
    link = {
        "underlying": "SPX",
        "direction_model": "logit_direction_5d",
        "regime_model": "logit_iv_regime_5d",
        "start": "2020-03-02",
        "end": "2020-03-31",
    }
    at = _linked_page(**link)

    assert not _notes(at) and not at.error
    assert [box.value for box in at.selectbox] == [
        "SPX",
        "logit_direction_5d",
        "logit_iv_regime_5d",
    ]
    assert at.date_input[0].value == (dt.date(2020, 3, 2), dt.date(2020, 3, 31))
    signals = at.dataframe[0].value
    as_of = signals["as_of_date"].dt.date
    assert as_of.min() >= dt.date(2020, 3, 2) and as_of.max() <= dt.date(2020, 3, 31)
    assert any("`logit_direction_5d`'s probability" in c.value for c in at.caption)
    assert at.query_params == link


@slow
def test_bad_link_values_are_noted_and_replaced_by_defaults(real_published: Path) -> None:
    at = _linked_page(
        underlying="NDX",
        direction_model="xgb_iv_regime_5d",  # a regime model is no direction model
        regime_model="",  # empty: the default, without a note
        start="1900-01-01",
        end="not-a-date",
    )

    assert not at.error
    notes = _notes(at)
    assert len(notes) == 4, notes
    for name, value in (
        ("underlying", "'NDX'"),
        ("direction_model", "'xgb_iv_regime_5d'"),
        ("start", "'1900-01-01'"),
        ("end", "'not-a-date'"),
    ):
        assert any(f"`{name}`" in note and value in note for note in notes), name
    assert [box.value for box in at.selectbox] == ["SPX", "xgb_direction_5d", "xgb_iv_regime_5d"]
    assert at.query_params["direction_model"] == "xgb_direction_5d"
    assert at.query_params["start"] != "1900-01-01"
