"""Models page: the registry's training runs and, for one run, how its out-of-sample forecasts did.

For the chosen run: pooled walk-forward metrics against the naive baselines (tiles), the metric
per fold, the ROC curve (classifiers) or the rank IC by date (regression), the calibration
curve, feature importance and feature drift. Reads through :mod:`app.queries.models` only.

Deep link (:mod:`app.links`): the chosen run lives in the URL's ``model`` query parameter, read
when the page opens and written back when it changes: ``models?model=logit_direction_5d`` opens
that model's current run (the name is written while the run is its model's only current one,
so the link survives a retrain), ``models?model=6f2122d6360ff767`` one run by its id (written
for a run that is not current). A value naming no run is ignored with a note on the page.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import links
from app.charts import models as charts
from app.formatting import fmt_int, fmt_pct, fmt_ratio
from app.page import BUILD_HINT, Published, run_page
from app.queries import models as queries

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = dict(queries.REQUIRED)

DEFAULT_MODEL = "xgb_direction_5d"
RUN_KEY = "models_run"  # the run selector's widget key
DEFAULT_METRIC = {"binary": "auc", "multiclass": "auc", "regression": "rank_ic"}
OUT_OF_SAMPLE = (
    "All scores are out-of-sample: walk-forward test folds, each predicted by a model trained "
    "only on earlier dates (with a purge gap), scored against the realized outcome."
)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_model_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_model_run_detail(db: str, db_version: str, run_id: str) -> queries.RunDetail:
    return queries.run_detail(db, run_id)


def _fmt_metric(metric: str, value: float | None) -> str:
    if metric in charts.PERCENT_METRICS:
        return fmt_pct(value, digits=1)
    if metric == "rank_ic_dates":
        return fmt_int(value)
    return fmt_ratio(value, digits=3)


def _current_run_of(runs: pl.DataFrame, model_name: str) -> str | None:
    """The run id of ``model_name``'s only current run, else ``None``."""
    current = runs.filter((pl.col("model_name") == model_name) & pl.col("is_current"))
    return current.item(0, "run_id") if current.height == 1 else None


def resolve_model(text: str, runs: pl.DataFrame) -> str:
    """The run a link's ``model`` value names: a run id, or a model name (its current run).

    Parameters
    ----------
    text
        Run id (``"6f2122d6360ff767"``) or ``model_name`` (``"logit_direction_5d"``).
    runs
        The registry, :func:`app.queries.models.list_runs`: ``run_id``, ``model_name``,
        ``is_current``.

    Raises
    ------
    ValueError
        When ``text`` is neither a run id nor the name of a model with one current run.
    """
    if text in set(runs.get_column("run_id")):
        return text
    run_id = _current_run_of(runs, text)
    if run_id is None:
        raise ValueError(f"no run or current model {text!r}")
    return run_id


def link_value(runs: pl.DataFrame, run_id: str) -> str:
    """The ``model`` parameter for ``run_id``: its model's name when it is that model's only
    current run (a link that follows retraining), else the run id."""
    row = runs.row(runs.get_column("run_id").to_list().index(run_id), named=True)
    return row["model_name"] if _current_run_of(runs, row["model_name"]) == run_id else run_id


def _show_runs(runs: pl.DataFrame) -> str:
    """Draw the registry table and the run selector; return the chosen run id."""
    st.subheader("Runs")
    st.dataframe(
        runs,
        hide_index=True,
        column_config={
            "decision_threshold": st.column_config.NumberColumn(format="%.3f"),
            "n_train_rows": st.column_config.NumberColumn(format="localized"),
        },
    )
    labels = {
        row["run_id"]: (
            f"{row['model_name']} · {row['underlying_symbol']} · {row['run_id']}"
            + ("" if row["is_current"] else " (not current)")
        )
        for row in runs.iter_rows(named=True)
    }
    run_ids = list(labels)
    defaults = runs.filter((pl.col("model_name") == DEFAULT_MODEL) & pl.col("is_current"))
    default = defaults.item(0, "run_id") if defaults.height else run_ids[0]
    if st.session_state.get(RUN_KEY, default) not in run_ids:  # gone after a publish
        st.session_state[RUN_KEY] = default
    links.seed_value(
        RUN_KEY,
        "model",
        default,
        parse=lambda text: resolve_model(text, runs),
        what="run id or current model name",
    )
    run_id = st.selectbox(
        "Run",
        options=run_ids,
        format_func=labels.__getitem__,
        key=RUN_KEY,
        help="The address bar keeps this choice (`?model=`): copy it to share the view.",
    )
    links.write({"model": link_value(runs, run_id)})
    return run_id


def _show_pooled(detail: queries.RunDetail) -> None:
    pooled = queries.pooled_metric_table(detail.metrics)
    if pooled.is_empty():
        st.info("This run has no pooled (fold 0) rows in `ml.model_metrics`.")
        return
    st.subheader("Pooled walk-forward metrics")
    rows = pooled.to_dicts()
    for column, row in zip(st.columns(len(rows)), rows, strict=True):
        delta = None
        if row["model"] is not None and row["best_baseline"] is not None:
            difference = row["model"] - row["best_baseline"]
            delta = (
                f"{difference * 100:+.1f} pp"  # percentage points, as the tile shows percent
                if row["metric"] in charts.PERCENT_METRICS
                else f"{difference:+.3f}"
            )
        column.metric(
            row["metric"],
            _fmt_metric(row["metric"], row["model"]),
            delta=delta,
            delta_color="inverse" if row["lower_is_better"] else "normal",
            border=True,
        )
    n_rows = detail.metrics.filter(
        (pl.col("fold_id") == 0) & (pl.col("predictor") == "model")
    ).get_column("n_rows")
    st.caption(
        f"Model on {fmt_int(n_rows.max() if n_rows.len() else None)} labelled walk-forward "
        "rows; the delta is against the best naive baseline (majority class, persistence of the "
        "last outcome, or the training mean). Green is better than the baseline, for every "
        f"metric (lower is better for {', '.join(sorted(queries.LOWER_IS_BETTER))}). "
        + OUT_OF_SAMPLE
    )


def _show_folds(detail: queries.RunDetail, run_id: str, task: str) -> None:
    st.subheader("Metric by fold")
    present = sorted(
        set(detail.metrics.filter(pl.col("fold_id") > 0).get_column("metric")) - queries.NOT_A_SCORE
    )
    if not present:
        st.info("This run has no per-fold rows in `ml.model_metrics`.")
        return
    default = DEFAULT_METRIC.get(task, present[0])
    metric = st.selectbox(
        "Metric",
        options=present,
        index=present.index(default) if default in present else 0,
        key=f"models-metric-{run_id}",
    )
    st.altair_chart(charts.fold_metric_chart(detail.metrics, metric), width="stretch")
    direction = "lower" if metric in queries.LOWER_IS_BETTER else "higher"
    st.caption(
        f"Each group is one walk-forward test block (oldest first); {direction} is better. "
        "A model worth using beats every baseline in most folds, not just pooled."
    )


def _show_roc_or_ic(detail: queries.RunDetail, task: str) -> None:
    if task == "regression":
        st.subheader("Rank IC by date")
        if detail.rank_ic.is_empty():
            st.info("No labelled walk-forward predictions to rank (contracts without a 5-day mid).")
            return
        st.altair_chart(charts.rank_ic_chart(detail.rank_ic), width="stretch")
        st.caption(
            "Per as-of date, the Spearman correlation between the forecast and the realized 5-day "
            "return across that date's contracts (dates with fewer than 3 skipped). Above 0: the "
            f"model ranked the contracts right that day; mean "
            f"{detail.rank_ic['rank_ic'].mean():.3f} over {detail.rank_ic.height} dates. "
            + OUT_OF_SAMPLE
        )
        return
    st.subheader("ROC curve")
    if detail.roc.is_empty():
        st.info("No labelled walk-forward predictions with both outcomes to draw a ROC curve.")
        return
    areas = {row["class_label"]: row["auc"] for row in detail.roc_auc.iter_rows(named=True)}
    if task == "binary":
        title = f"ROC curve, AUC {areas.get('UP', float('nan')):.3f}"
        how = "P(up) ranks the weeks that went up above the ones that went down"
    else:
        parts = ", ".join(f"{label} {value:.3f}" for label, value in areas.items())
        title = f"ROC one-vs-rest, AUC {parts}"
        how = "each class's probability ranks that class above the other two"
    st.altair_chart(charts.roc_chart(detail.roc, title=title), width="stretch")
    n_rows = detail.roc_auc.get_column("n_rows").max()
    st.caption(
        f"How well {how}, at every score cut: up and to the left is better, the dashed diagonal "
        f"is a coin flip (AUC 0.5). {fmt_int(n_rows)} labelled rows. " + OUT_OF_SAMPLE
    )


def _show_calibration(detail: queries.RunDetail, task: str) -> None:
    st.subheader("Calibration")
    if task == "regression":
        st.info("Regression runs forecast returns, not probabilities: no calibration curve.")
        return
    if detail.calibration.is_empty():
        st.info("This run has no rows in `forecasts.rpt_forecast_calibration` (not current?).")
        return
    st.altair_chart(charts.calibration_chart(detail.calibration), width="stretch")
    st.caption(
        "Predictions grouped in probability bins of 10 points: a calibrated model's points sit "
        "on the dashed diagonal. Below it the class happened less often than predicted, above "
        "it more often; points flatter than the diagonal mean an over-confident model. Dot size "
        "is the number of predictions. " + OUT_OF_SAMPLE
    )


def _show_importance(detail: queries.RunDetail, run_id: str) -> None:
    st.subheader("Feature importance")
    types = sorted(set(detail.importance.get_column("importance_type")))
    if not types:
        st.info("This run has no rows in `ml.feature_importance`.")
        return
    left, right = st.columns(2)
    importance_type = left.selectbox("Importance", options=types, key=f"models-imp-{run_id}")
    top_n = right.slider("Top features", min_value=5, max_value=30, value=15, step=1)
    st.altair_chart(
        charts.importance_chart(detail.importance, importance_type, top_n), width="stretch"
    )
    st.caption(
        "Of the final model (trained on all dates). `gain`: XGBoost's mean loss reduction per "
        "split; `abs_coefficient`: |coefficient| of the standardised feature (logistic "
        "regression); `mutual_information`: the ranking that chose the features, over all "
        "candidates. Importance is not causation, and correlated features share it."
    )


def _show_drift(detail: queries.RunDetail) -> None:
    st.subheader("Feature drift")
    if detail.drift.is_empty():
        st.info("This run has no rows in `ml.feature_drift`.")
        return
    only_selected = st.checkbox("Only the model's selected features", value=True)
    drift = detail.drift.filter(pl.col("is_selected")) if only_selected else detail.drift
    drawn = drift.filter(pl.col("psi").is_not_null())
    if drawn.is_empty():
        st.info("No feature of this selection has a PSI (a window without values).")
    else:
        st.altair_chart(charts.drift_chart(drawn), width="stretch")
    window = detail.drift.row(0, named=True)
    missing = drift.height - drawn.height
    st.caption(
        "Population stability index of each feature between the final model's training window "
        f"({window['reference_start_date']} to {window['reference_end_date']}) and the latest "
        f"window ({window['current_start_date']} to {window['current_end_date']}): below 0.10 "
        "stable, 0.10-0.25 moderate, above 0.25 significant (dashed rules). A short latest "
        "window of a slow feature sits in one or two training deciles, so PSI saturates near 8."
        + (f" {missing} feature(s) without a PSI are not drawn." if missing else "")
    )


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    db, db_version = published.key
    runs = _cached_model_runs(db, db_version)
    if runs.is_empty():
        st.info(f"The model registry has no runs. {BUILD_HINT}")
        return
    run_id = _show_runs(runs)
    detail = _cached_model_run_detail(db, db_version, run_id)
    task = detail.task
    if task is None:
        st.info("This run is no longer in the registry; reload the page.")
        return
    _show_pooled(detail)
    _show_folds(detail, run_id, task)
    left, right = st.columns(2)
    with left:
        _show_roc_or_ic(detail, task)
    with right:
        _show_calibration(detail, task)
    _show_importance(detail, run_id)
    _show_drift(detail)


run_page("Models", REQUIRED, body)
