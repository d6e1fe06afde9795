"""The Models page: its queries on the real published warehouse, its chart builders on SYNTHETIC
frames, and the page itself headless (AppTest) on the real warehouse.

Tests marked ``slow`` read the real warehouse (``real_published``; set
``OPTIONS_TEST_WAREHOUSE`` to reuse a built one); the chart tests need nothing.
"""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import models as charts
from app.db import read
from app.queries import models as queries
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

slow = pytest.mark.slow


def chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def chart_frames(chart) -> list[pl.DataFrame]:
    """The datasets Streamlit sent with one chart (Arrow IPC streams), as Polars frames."""
    return [
        pl.from_arrow(pa.ipc.open_stream(ds.data.data).read_all()) for ds in chart.proto.datasets
    ]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _pooled(db: Path, run_id: str, metric: str) -> float:
    return read(
        db,
        "select value from ml.model_metrics where run_id = ? and fold_id = 0 "
        "and predictor = 'model' and metric = ?",
        [run_id, metric],
    ).item()


def _current_run(db: Path, model_name: str) -> str:
    return read(
        db,
        "select run_id from ml.model_registry where model_name = ? and is_current",
        [model_name],
    ).item()


# ---- queries, real warehouse ---------------------------------------------------------------------


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0


@slow
def test_list_runs_has_one_current_run_per_model(real_published: Path) -> None:
    runs = queries.list_runs(real_published)
    current = runs.filter(pl.col("is_current"))
    assert current.height == current.get_column("model_name").n_unique() >= 1
    assert runs.schema["decision_threshold"] == pl.Float64


@slow
@pytest.mark.parametrize(
    "model_name", ["xgb_direction_5d", "logit_direction_5d", "xgb_option_sign_5d"]
)
def test_binary_roc_runs_corner_to_corner_and_matches_the_pooled_auc(
    real_published: Path, model_name: str
) -> None:
    run_id = _current_run(real_published, model_name)
    detail = queries.run_detail(real_published, run_id, roc_max_points=None)
    roc = detail.roc
    assert set(roc.get_column("class_label")) == {"UP"}
    assert roc.row(0, named=True)["false_positive_rate"] == 0.0
    assert roc.row(0, named=True)["true_positive_rate"] == 0.0
    assert roc.row(-1, named=True)["false_positive_rate"] == 1.0
    assert roc.row(-1, named=True)["true_positive_rate"] == 1.0
    # monotone curve
    assert roc.get_column("false_positive_rate").diff().drop_nulls().min() >= 0
    assert roc.get_column("true_positive_rate").diff().drop_nulls().min() >= 0
    # the trapezoid under the returned points is the AUC, and it is ml's pooled AUC
    area = np.trapezoid(roc["true_positive_rate"].to_numpy(), roc["false_positive_rate"].to_numpy())
    expected = _pooled(real_published, run_id, "auc")
    assert area == pytest.approx(expected, abs=1e-6)
    assert detail.roc_auc.item(0, "auc") == pytest.approx(expected, abs=1e-6)
    assert (
        detail.roc_auc.item(0, "n_rows")
        == read(
            real_published,
            "select n_rows from ml.model_metrics where run_id = ? and fold_id = 0 "
            "and predictor = 'model' and metric = 'auc'",
            [run_id],
        ).item()
    )


@slow
def test_thinned_roc_keeps_the_ends_and_at_most_the_limit(real_published: Path) -> None:
    run_id = _current_run(real_published, "xgb_option_sign_5d")
    roc = queries.run_detail(real_published, run_id, roc_max_points=50).roc
    assert 2 <= roc.height <= 50
    assert roc.row(0)[1:3] == (0.0, 0.0)
    assert roc.row(-1)[1:3] == (1.0, 1.0)


@slow
def test_multiclass_roc_is_one_vs_rest_per_class(real_published: Path) -> None:
    run_id = _current_run(real_published, "xgb_iv_regime_5d")
    detail = queries.run_detail(real_published, run_id)
    assert set(detail.roc.get_column("class_label")) == {"LOW", "NORMAL", "HIGH"}
    # sklearn's macro one-vs-rest AUC is the mean of the class AUCs
    macro = detail.roc_auc.get_column("auc").mean()
    assert macro == pytest.approx(_pooled(real_published, run_id, "auc"), abs=1e-6)
    assert detail.rank_ic.is_empty()


@slow
def test_regression_run_has_rank_ic_and_no_roc(real_published: Path) -> None:
    run_id = _current_run(real_published, "xgb_option_return_5d")
    detail = queries.run_detail(real_published, run_id)
    assert detail.task == "regression"
    assert detail.roc.is_empty() and detail.calibration.is_empty()
    ic = detail.rank_ic
    assert ic.height == _pooled(real_published, run_id, "rank_ic_dates")
    assert ic.get_column("rank_ic").mean() == pytest.approx(
        _pooled(real_published, run_id, "rank_ic"), abs=1e-6
    )
    assert ic.get_column("as_of_date").is_sorted()


@slow
def test_unknown_run_gives_empty_frames(real_published: Path) -> None:
    detail = queries.run_detail(real_published, "no-such-run' or '1'='1")
    assert detail.task is None
    for frame in (
        detail.run,
        detail.metrics,
        detail.roc,
        detail.roc_auc,
        detail.rank_ic,
        detail.calibration,
        detail.importance,
        detail.drift,
    ):
        assert frame.is_empty()


@slow
def test_drift_marks_the_selected_features(real_published: Path) -> None:
    run_id = _current_run(real_published, "xgb_direction_5d")
    detail = queries.run_detail(real_published, run_id)
    selected = json.loads(detail.run.item(0, "selected_features_json"))
    assert set(detail.drift.filter(pl.col("is_selected")).get_column("feature")) == set(selected)
    assert detail.drift.schema["psi"] == pl.Float64


# ---- chart builders, SYNTHETIC frames -------------------------------------------------------------

# SYNTHETIC metrics: fold 0 is pooled and must not be drawn; two folds x two predictors.
METRICS = pl.DataFrame(
    {
        "fold_id": [0, 0, 1, 1, 2, 2, 1],
        "predictor": ["model", "majority", "model", "majority", "model", "majority", "model"],
        "metric": ["auc", "auc", "auc", "auc", "auc", "auc", "brier"],
        "value": [0.6, 0.5, 0.55, 0.5, 0.65, 0.5, 0.2],
        "n_rows": [10] * 7,
    }
)


def _data(chart) -> list[dict]:
    spec = chart.to_dict()
    return next(iter(spec["datasets"].values()))


def test_fold_metric_chart_draws_folds_not_the_pool() -> None:
    chart = charts.fold_metric_chart(METRICS, "auc")
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["field"] == "fold_id"
    assert spec["encoding"]["xOffset"]["field"] == "predictor"
    assert spec["encoding"]["y"]["type"] == "quantitative"
    rows = _data(chart)
    assert len(rows) == 4  # folds 1 and 2, two predictors; no fold 0, no brier
    assert {row["fold_id"] for row in rows} == {1, 2}


def test_fold_metric_chart_percent_axis_for_rates() -> None:
    rates = METRICS.with_columns(pl.lit("hit_rate").alias("metric"))
    assert charts.fold_metric_chart(rates, "hit_rate").to_dict()["encoding"]["y"]["axis"] == {
        "format": "%"
    }


def test_roc_chart_has_the_diagonal() -> None:
    # SYNTHETIC curve through (0, 0), (0.5, 0.8), (1, 1).
    roc = pl.DataFrame(
        {
            "class_label": ["UP"] * 3,
            "false_positive_rate": [0.0, 0.5, 1.0],
            "true_positive_rate": [0.0, 0.8, 1.0],
            "threshold": [None, 0.6, 0.1],
        }
    )
    chart = charts.roc_chart(roc, title="ROC, AUC 0.650")
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    curve, diagonal = spec["layer"]
    assert curve["encoding"]["x"]["field"] == "false_positive_rate"
    assert curve["encoding"]["y"]["axis"]["format"] == "%"
    assert diagonal["mark"]["strokeDash"] == [4, 4]
    assert spec["title"] == "ROC, AUC 0.650"


def test_calibration_chart_is_a_reliability_diagram() -> None:
    # SYNTHETIC bins: predicted 0.15 -> observed 0.2, predicted 0.85 -> observed 0.7.
    calibration = pl.DataFrame(
        {
            "class_label": ["UP", "UP"],
            "probability_bin": [2, 9],
            "mean_predicted_probability": [0.15, 0.85],
            "observed_frequency": [0.2, 0.7],
            "n_predictions": [40, 60],
        }
    )
    spec = charts.calibration_chart(calibration).to_dict()
    assert spec["layer"][0]["encoding"]["x"]["field"] == "mean_predicted_probability"
    assert spec["layer"][0]["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert len(spec["layer"]) == 3  # line, sized points, diagonal


def test_importance_chart_keeps_the_top_n_of_one_type() -> None:
    # SYNTHETIC importances: gain ranks a > b > c; mutual information is another type.
    importance = pl.DataFrame(
        {
            "importance_type": ["gain", "gain", "gain", "mutual_information"],
            "feature": ["a", "b", "c", "a"],
            "importance": [3.0, 2.0, 1.0, 0.5],
            "importance_rank": [1, 2, 3, 1],
        }
    )
    chart = charts.importance_chart(importance, "gain", 2)
    assert [row["feature"] for row in _data(chart)] == ["a", "b"]
    with pytest.raises(ValueError, match="top_n"):
        charts.importance_chart(importance, "gain", 0)


def test_drift_chart_colours_levels_and_skips_null_psi() -> None:
    # SYNTHETIC PSIs: one per level, and one feature without a PSI.
    drift = pl.DataFrame(
        {
            "feature": ["a", "b", "c", "d"],
            "psi": [0.05, 0.2, 3.0, None],
            "drift_level": ["none", "moderate", "significant", None],
        }
    )
    chart = charts.drift_chart(drift)
    bars = chart.to_dict()["layer"][0]
    assert bars["encoding"]["color"]["scale"]["domain"] == ["none", "moderate", "significant"]
    assert bars["encoding"]["x"]["scale"]["type"] == "symlog"
    assert {row["feature"] for row in _data(chart)} == {"a", "b", "c"}


def test_rank_ic_chart_uses_daily_time_unit() -> None:
    import datetime as dt

    # SYNTHETIC daily ICs.
    ic = pl.DataFrame(
        {
            "as_of_date": [dt.date(2019, 5, 13), dt.date(2019, 5, 14)],
            "rank_ic": [0.3, -0.1],
            "n_contracts": [100, 120],
        }
    )
    bars = charts.rank_ic_chart(ic).to_dict()["layer"][0]
    assert bars["encoding"]["x"]["timeUnit"] == "yearmonthdate"


@pytest.mark.parametrize(
    ("builder", "args"),
    [
        (charts.fold_metric_chart, ("auc",)),
        (charts.roc_chart, ()),
        (charts.calibration_chart, ()),
        (charts.importance_chart, ("gain", 5)),
        (charts.drift_chart, ()),
        (charts.rank_ic_chart, ()),
    ],
)
def test_builders_name_a_missing_column(builder, args) -> None:
    with pytest.raises(ValueError, match="needs columns"):
        builder(pl.DataFrame({"unrelated": [1]}), *args)


# ---- the page, real warehouse ---------------------------------------------------------------------


@slow
def test_page_defaults_to_xgb_direction_and_changes_with_the_run(real_published: Path) -> None:
    at = open_app_page("models.py")
    assert not at.error, [e.value for e in at.error]
    run_box = at.selectbox[0]
    xgb = _current_run(real_published, "xgb_direction_5d")
    logit = _current_run(real_published, "logit_direction_5d")
    assert run_box.value == xgb
    tiles = _metrics(at)
    assert tiles["auc"] == f"{_pooled(real_published, xgb, 'auc'):.3f}"
    titles = [spec.get("title") for spec in chart_specs(at)]
    assert any(str(t).startswith("ROC curve, AUC") for t in titles)
    assert any(str(t).startswith("Calibration") for t in titles)
    assert len(at.dataframe) == 1  # the registry

    run_box.select(logit).run()
    assert not at.exception and not at.error
    assert _metrics(at)["auc"] == f"{_pooled(real_published, logit, 'auc'):.3f}"
    assert _metrics(at)["auc"] != tiles["auc"]


@slow
def test_metric_choice_changes_the_fold_chart(real_published: Path) -> None:
    at = open_app_page("models.py")
    metric_box = at.selectbox[1]
    assert metric_box.value == "auc"
    fold_chart = at.get("vega_lite_chart")[0]
    assert json.loads(fold_chart.proto.spec)["encoding"]["y"]["title"] == "auc"
    before = chart_frames(fold_chart)[0]

    metric_box.select("brier").run()
    assert not at.exception
    fold_chart = at.get("vega_lite_chart")[0]
    assert json.loads(fold_chart.proto.spec)["encoding"]["y"]["title"] == "brier"
    after = chart_frames(fold_chart)[0]
    assert set(after.get_column("predictor")) >= {"model", "majority", "persistence"}
    assert before.get_column("value").to_list() != after.get_column("value").to_list()


@slow
def test_regression_run_shows_rank_ic_not_roc(real_published: Path) -> None:
    at = open_app_page("models.py")
    at.selectbox[0].select(_current_run(real_published, "xgb_option_return_5d")).run()
    assert not at.exception and not at.error
    titles = [str(spec.get("title")) for spec in chart_specs(at)]
    assert any(t.startswith("Rank IC by date") for t in titles)
    assert not any(t.startswith("ROC") for t in titles)
    assert any("no calibration curve" in info.value for info in at.info)
    assert "rank_ic" in _metrics(at)


# ---- deep link (app.links): the chosen run in the URL ----------------------------------------------

# SYNTHETIC registry: model a has a current and an old run, model b two current runs (two
# underlyings), so only a's name names one run.
REGISTRY = pl.DataFrame(
    {
        "run_id": ["a-new", "a-old", "b-spx", "b-spy"],
        "model_name": ["a", "a", "b", "b"],
        "is_current": [True, False, True, True],
    }
)


def test_model_link_values_name_a_current_model_or_a_run(warehouse_dir: Path) -> None:
    """SYNTHETIC registry; the page module imported with an empty warehouse directory (its
    ``run_page`` only notes that nothing is published)."""
    page = importlib.import_module("app.app_pages.models")

    assert page.resolve_model("a", REGISTRY) == "a-new"  # a name: its current run
    assert page.resolve_model("a-old", REGISTRY) == "a-old"  # a run id: that run
    assert page.resolve_model("b-spy", REGISTRY) == "b-spy"
    for bad in ("b", "c", "", "A"):  # b: two current runs; names are case-sensitive
        with pytest.raises(ValueError, match="no run or current model"):
            page.resolve_model(bad, REGISTRY)
    assert page.link_value(REGISTRY, "a-new") == "a"  # follows a retrain
    assert page.link_value(REGISTRY, "a-old") == "a-old"
    assert page.link_value(REGISTRY, "b-spx") == "b-spx"


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Models page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


@slow
def test_the_url_follows_the_chosen_run(real_published: Path) -> None:
    at = open_app_page("models.py")
    assert at.query_params == {"model": "xgb_direction_5d"}

    at.selectbox(key="models_run").select(_current_run(real_published, "xgb_option_sign_5d")).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {"model": "xgb_option_sign_5d"}


@slow
@pytest.mark.parametrize("by", ["model_name", "run_id"])
def test_a_link_opens_its_run(real_published: Path, by: str) -> None:
    logit = _current_run(real_published, "logit_direction_5d")
    at = _linked_page(model="logit_direction_5d" if by == "model_name" else logit)

    assert not _notes(at) and not at.error
    assert at.selectbox(key="models_run").value == logit
    assert _metrics(at)["auc"] == f"{_pooled(real_published, logit, 'auc'):.3f}"
    assert at.query_params == {"model": "logit_direction_5d"}  # a current run: by its name


@slow
def test_a_bad_link_value_is_noted_and_the_default_opens(real_published: Path) -> None:
    at = _linked_page(model="no_such_model")

    (note,) = _notes(at)
    assert "`model`" in note and "'no_such_model'" in note and "run id or current model" in note
    assert at.selectbox(key="models_run").value == _current_run(real_published, "xgb_direction_5d")
    assert at.query_params == {"model": "xgb_direction_5d"}
