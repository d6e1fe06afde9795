"""Walk-forward training of one model: selection, thresholds, fits, scores, explanations.

:func:`train` is pure: it takes a dataset frame (:mod:`ml.datasets`) and a config and returns
every table a run writes, as Polars frames shaped like :mod:`ml.schema`; :mod:`ml.io` writes
them. Inside each walk-forward fold, and only on that fold's training rows:

1. features are ranked by mutual information with the label (Kraskov et al. 2004, scikit-learn's
   k-NN estimator, seeded sample of ``mi_max_rows``) and the top ``top_n_features`` kept;
2. binary models tune their probability cut on a purged inner validation block
   (:func:`ml.splits.inner_validation_split`, :func:`ml.metrics.best_threshold`);
3. the estimator is fitted on all of the fold's training rows and predicts the test block.

The fold that predicts the live block (rows whose label runs past the data) is the final model:
it is saved, registered, and used by ``python -m ml predict``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
import sklearn
import xgboost as xgb
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from ml import metrics as m
from ml.config import ModelConfig
from ml.datasets import SPECS, validate_dataset
from ml.estimators import FittedModel, fit
from ml.splits import Fold, inner_validation_split, purged_walk_forward

PREDICTION_COLUMNS: tuple[str, ...] = (
    "run_id",
    "model_name",
    "model_version",
    "family",
    "task",
    "underlying_symbol",
    "contract_symbol",
    "as_of_date",
    "horizon_days",
    "prediction_kind",
    "fold_id",
    "train_start_date",
    "train_end_date",
    "train_label_end_date",
    "score",
    "predicted_label",
    "decision_threshold",
    "p_up",
    "yhat",
    "regime",
    "prob_low",
    "prob_normal",
    "prob_high",
)


@dataclass(frozen=True)
class FoldModel:
    """A fitted fold: the model, its features and threshold, and its training window."""

    fold_id: int | None
    fitted: FittedModel
    selected: tuple[str, ...]
    mutual_information: dict[str, float]
    threshold: float | None
    train_start_date: Any
    train_end_date: Any
    train_label_end_date: Any
    n_train_rows: int


@dataclass(frozen=True)
class TrainingRun:
    """Everything one training run writes, shaped like the ``ml`` tables.

    Attributes
    ----------
    cfg, run_id, model_version, data_fingerprint
        Identity of the run (see :func:`identity`).
    final
        The final model (trained on every row labelled before the live block).
    registry
        The ``ml.model_registry`` row, without the model file columns (set when saved).
    predictions, metrics, importance, contributions, drift
        Frames of ``ml.predictions`` (walk-forward rows), ``ml.model_metrics``,
        ``ml.feature_importance``, ``ml.prediction_contributions`` and ``ml.feature_drift``.
    """

    cfg: ModelConfig
    run_id: str
    model_version: str
    data_fingerprint: str
    final: FoldModel
    registry: dict[str, Any]
    predictions: pl.DataFrame
    metrics: pl.DataFrame
    importance: pl.DataFrame
    contributions: pl.DataFrame
    drift: pl.DataFrame


def library_versions() -> dict[str, str]:
    """Versions that change what a fit returns: part of the model version."""
    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgb.__version__,
        "polars": pl.__version__,
    }


def identity(cfg: ModelConfig, frame: pl.DataFrame) -> tuple[str, str, str]:
    """``(model_version, data_fingerprint, run_id)`` of training ``cfg`` on ``frame``.

    ``model_version`` = model name + SHA-256 of the config, the candidate features and the
    library versions (12 hex digits); ``data_fingerprint`` = SHA-256 of the dataset as CSV in
    key order; ``run_id`` = SHA-256 of both (16 hex digits). Same inputs, same ids.
    """
    spec = SPECS[cfg.family]
    code = hashlib.sha256(
        json.dumps(
            {
                "config": asdict(cfg),
                "features": spec.feature_columns,
                "classes": spec.class_labels,
                "libraries": library_versions(),
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    version = f"{cfg.model_name}-{code[:12]}"
    fingerprint = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    run_id = hashlib.sha256(f"{version}:{fingerprint}".encode()).hexdigest()[:16]
    return version, fingerprint, run_id


def encode_labels(frame: pl.DataFrame, cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Label array and usable-label mask, shapes ``(n_rows,)``.

    Classification: class index into the family's ``class_labels`` (-1 where unusable);
    regression: ``label_value`` (NaN where unusable).

    Raises
    ------
    ValueError
        When ``label_class`` holds a value outside the family's classes (named).
    """
    if cfg.task == "regression":
        y = frame["label_value"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return y, ~np.isnan(y)
    classes = SPECS[cfg.family].class_labels
    unknown = sorted(set(frame["label_class"].drop_nulls().unique().to_list()) - set(classes))
    if unknown:
        raise ValueError(f"label_class has value(s) {unknown} outside {list(classes)}")
    index = {c: i for i, c in enumerate(classes)}
    y = frame["label_class"].replace_strict(index, default=-1, return_dtype=pl.Int64)
    y = y.fill_null(-1).to_numpy()
    return y, y >= 0


def rank_features(
    x: np.ndarray, y: np.ndarray, features: tuple[str, ...], cfg: ModelConfig
) -> dict[str, float]:
    """Mutual information of each feature with the label on a seeded sample of training rows.

    NaNs are filled with the column median for the estimate only (columns without any value
    score 0). Returns ``{feature: MI in nats}``.
    """
    rng = np.random.default_rng(cfg.seed)
    if len(y) > cfg.mi_max_rows:
        rows = np.sort(rng.choice(len(y), size=cfg.mi_max_rows, replace=False))
        x, y = x[rows], y[rows]
    has_value = ~np.all(np.isnan(x), axis=0)
    scores = np.zeros(x.shape[1])
    if has_value.any():
        sub = x[:, has_value]
        filled = np.where(np.isnan(sub), np.nanmedian(sub, axis=0), sub)
        estimator: Callable[..., np.ndarray] = (
            mutual_info_regression if cfg.task == "regression" else mutual_info_classif
        )
        scores[has_value] = estimator(filled, y, n_neighbors=3, random_state=cfg.seed)
    return dict(zip(features, scores.tolist(), strict=True))


def _top_features(mi: dict[str, float], n: int) -> tuple[str, ...]:
    ranked = sorted(mi.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(name for name, _ in ranked[:n])


def _fit_fold(
    fold: Fold,
    frame: pl.DataFrame,
    x_all: np.ndarray,
    y: np.ndarray,
    cfg: ModelConfig,
) -> FoldModel:
    spec = SPECS[cfg.family]
    train = fold.train_idx
    x_train, y_train = x_all[train], y[train]
    mi = rank_features(x_train, y_train, spec.feature_columns, cfg)
    selected = _top_features(mi, cfg.top_n_features)
    cols = [spec.feature_columns.index(f) for f in selected]
    threshold = None
    if cfg.task == "binary":
        dates = frame["as_of_date"].to_numpy()[train]
        ends = frame["label_end_date"].to_numpy()[train]
        inner, validation = inner_validation_split(dates, ends, cfg.validation_fraction)
        threshold = 0.5
        if len(inner) and len(validation) and len(np.unique(y_train[inner])) == 2:
            probe = fit(cfg, x_train[inner][:, cols], y_train[inner], selected, spec.class_labels)
            p_val = probe.predict(x_train[validation][:, cols])[:, 1]
            threshold = m.best_threshold(y_train[validation], p_val, cfg.threshold_objective)
    fitted = fit(cfg, x_train[:, cols], y_train, selected, spec.class_labels)
    train_dates = frame["as_of_date"].gather(train)
    return FoldModel(
        fold_id=fold.fold_id,
        fitted=fitted,
        selected=selected,
        mutual_information=mi,
        threshold=threshold,
        train_start_date=train_dates.min(),
        train_end_date=train_dates.max(),
        train_label_end_date=frame["label_end_date"].gather(train).max(),
        n_train_rows=len(train),
    )


def predict_rows(
    fold_model: FoldModel,
    rows: pl.DataFrame,
    cfg: ModelConfig,
    *,
    run_id: str,
    model_version: str,
    kind: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score ``rows`` with a fitted fold model.

    Parameters
    ----------
    rows
        Dataset rows (common layout) to predict, every as_of_date after the model's
        ``train_label_end_date``.

    Returns
    -------
    (predictions, contributions)
        Frames shaped like ``ml.predictions`` and ``ml.prediction_contributions``.

    Raises
    ------
    ValueError
        When a row's as_of_date is not after the model's training labels (would leak).
    """
    spec = SPECS[cfg.family]
    if rows.height and rows["as_of_date"].min() <= fold_model.train_label_end_date:
        raise ValueError(
            f"rows from {rows['as_of_date'].min()} are not after the training labels, which "
            f"end {fold_model.train_label_end_date}: not out of sample"
        )
    x = rows.select(fold_model.selected).to_numpy().astype(np.float64)
    n = rows.height
    empty = np.empty(0) if cfg.task == "regression" else np.empty((0, len(spec.class_labels)))
    output = fold_model.fitted.predict(x) if n else empty
    columns: dict[str, Any] = {
        "p_up": pl.lit(None, dtype=pl.Float64),
        "yhat": pl.lit(None, dtype=pl.Float64),
        "regime": pl.lit(None, dtype=pl.String),
        **{f"prob_{c}": pl.lit(None, dtype=pl.Float64) for c in ("low", "normal", "high")},
        "decision_threshold": pl.lit(fold_model.threshold, dtype=pl.Float64),
    }
    class_index = None
    if cfg.task == "regression":
        yhat = output
        values = {"score": yhat, "yhat": yhat, "predicted_label": np.where(yhat > 0, "UP", "DOWN")}
    elif cfg.task == "binary":
        p_up = output[:, 1] if n else np.empty(0)
        up = p_up >= fold_model.threshold
        values = {"score": p_up, "p_up": p_up, "predicted_label": np.where(up, "UP", "DOWN")}
    else:
        class_index = output.argmax(axis=1) if n else np.empty(0, dtype=int)
        labels = np.array(spec.class_labels)[class_index]
        values = {
            "score": output.max(axis=1) if n else np.empty(0),
            "predicted_label": labels,
            "regime": labels,
            **{f"prob_{c.lower()}": output[:, i] for i, c in enumerate(spec.class_labels)},
        }
    predictions = (
        rows.select("underlying_symbol", "contract_symbol", "as_of_date")
        .with_columns(
            **{k: v for k, v in columns.items() if k not in values},
            **{k: pl.Series(k, v) for k, v in values.items()},
            run_id=pl.lit(run_id),
            model_name=pl.lit(cfg.model_name),
            model_version=pl.lit(model_version),
            family=pl.lit(cfg.family),
            task=pl.lit(cfg.task),
            horizon_days=pl.lit(cfg.horizon_days, dtype=pl.Int32),
            prediction_kind=pl.lit(kind),
            fold_id=pl.lit(fold_model.fold_id, dtype=pl.Int32),
            train_start_date=pl.lit(fold_model.train_start_date, dtype=pl.Date),
            train_end_date=pl.lit(fold_model.train_end_date, dtype=pl.Date),
            train_label_end_date=pl.lit(fold_model.train_label_end_date, dtype=pl.Date),
        )
        .select(PREDICTION_COLUMNS)
    )
    contributions = _contributions(fold_model, rows, x, class_index, cfg, run_id)
    return predictions, contributions


def _contributions(
    fold_model: FoldModel,
    rows: pl.DataFrame,
    x: np.ndarray,
    class_index: np.ndarray | None,
    cfg: ModelConfig,
    run_id: str,
) -> pl.DataFrame:
    names = [*fold_model.selected, "__bias__"]
    values = (
        fold_model.fitted.contributions(x, class_index)
        if rows.height
        else np.empty((0, len(names)))
    )
    class_label = (
        pl.Series("class_label", np.array(SPECS[cfg.family].class_labels)[class_index])
        if class_index is not None
        else pl.lit(None, dtype=pl.String).alias("class_label")
    )
    wide = pl.concat(
        [
            rows.select("underlying_symbol", "contract_symbol", "as_of_date").with_columns(
                class_label
            ),
            pl.DataFrame(values, schema=names, orient="row"),
        ],
        how="horizontal",
    )
    return (
        wide.unpivot(
            names,
            index=["underlying_symbol", "contract_symbol", "as_of_date", "class_label"],
            variable_name="feature",
            value_name="contribution",
        )
        .with_columns(run_id=pl.lit(run_id))
        .select(
            "run_id",
            "underlying_symbol",
            "contract_symbol",
            "as_of_date",
            "class_label",
            "feature",
            "contribution",
        )
    )


def _score(
    cfg: ModelConfig,
    y: np.ndarray,
    output: np.ndarray,
    predicted_label: np.ndarray,
    dates: np.ndarray,
    baselines: dict[str, np.ndarray],
) -> dict[str, m.Metrics]:
    """Metrics of the model and each baseline on the labelled test rows."""
    spec = SPECS[cfg.family]
    if cfg.task == "regression":
        return {
            name: m.regression_metrics(y, pred, dates)
            for name, pred in {"model": output, **baselines}.items()
        }
    index = {c: i for i, c in enumerate(spec.class_labels)}
    actionable = (1,) if cfg.task == "binary" else (0, len(spec.class_labels) - 1)
    predicted = np.array([index[label] for label in predicted_label], dtype=int)
    out = {"model": m.classification_metrics(y, output, predicted, actionable)}
    for name, proba in baselines.items():
        out[name] = m.classification_metrics(y, proba, proba.argmax(axis=1), actionable)
    return out


def _baselines(
    cfg: ModelConfig,
    y_train: np.ndarray,
    state_train: np.ndarray,
    state_test: np.ndarray,
    value_test: np.ndarray,
) -> dict[str, np.ndarray]:
    """Naive forecasts of the test rows from the training rows only.

    Classifiers: ``majority`` (training class frequencies) and, for the underlying families,
    ``persistence`` (:func:`ml.metrics.persistence_proba`). Regression: ``train_mean`` and
    ``persistence`` (the contract's last realized 5-session return, the training mean where
    the contract has none).
    """
    n = len(state_test)
    if cfg.task == "regression":
        mean = float(np.mean(y_train))
        return {
            "train_mean": np.full(n, mean),
            "persistence": np.where(np.isnan(value_test), mean, value_test),
        }
    k = len(SPECS[cfg.family].class_labels)
    out = {"majority": m.majority_proba(y_train, k, n)}
    if cfg.family != "option_return":
        out["persistence"] = m.persistence_proba(state_train, y_train, state_test, k)
    return out


def _metric_rows(run_id: str, fold_id: int, scores: dict[str, m.Metrics]) -> list[dict]:
    rows = []
    for predictor, values in scores.items():
        n_rows = int(values.get("n_rows") or 0)
        for metric, value in values.items():
            if metric != "n_rows":
                rows.append(
                    {
                        "run_id": run_id,
                        "fold_id": fold_id,
                        "predictor": predictor,
                        "metric": metric,
                        "value": value,
                        "n_rows": n_rows,
                    }
                )
    return rows


def _drift(
    frame: pl.DataFrame,
    final: FoldModel,
    train_idx: np.ndarray,
    run_id: str,
    features: tuple[str, ...],
    window_dates: int,
) -> pl.DataFrame:
    dates = frame["as_of_date"].unique().sort()
    current_start = dates[max(0, len(dates) - window_dates)]
    current = frame.filter(pl.col("as_of_date") >= current_start)
    reference = frame[train_idx]
    rows = []
    for feature in features:
        psi = m.population_stability_index(
            reference[feature].fill_null(np.nan).to_numpy(),
            current[feature].fill_null(np.nan).to_numpy(),
        )
        rows.append(
            {
                "run_id": run_id,
                "feature": feature,
                "reference_start_date": final.train_start_date,
                "reference_end_date": final.train_end_date,
                "current_start_date": current_start,
                "current_end_date": dates[-1],
                "n_reference": int(reference[feature].fill_nan(None).count()),
                "n_current": int(current[feature].fill_nan(None).count()),
                "psi": psi,
                "drift_level": m.drift_level(psi),
            }
        )
    return pl.DataFrame(rows, schema_overrides={"psi": pl.Float64, "drift_level": pl.String})


def train(
    frame: pl.DataFrame, cfg: ModelConfig, progress: Callable[[str], None] = lambda _: None
) -> TrainingRun:
    """Train ``cfg`` walk-forward on ``frame`` and build every table the run writes.

    Parameters
    ----------
    frame
        The family's dataset (common layout of :mod:`ml.datasets`), one underlying, any order.
    cfg
        The model.
    progress
        Called with one line per fold (the CLI prints it).

    Returns
    -------
    TrainingRun

    Raises
    ------
    ValueError
        Missing or all-NULL feature columns, a repeated key, a label value outside the classes,
        a label with one class, or too few dates/rows for the folds (each message names it).
    """
    spec = SPECS[cfg.family]
    frame = validate_dataset(frame, spec.feature_columns)
    model_version, fingerprint, run_id = identity(cfg, frame)
    y, labelled = encode_labels(frame, cfg)
    if cfg.task != "regression" and len(np.unique(y[labelled])) < 2:
        present = sorted({spec.class_labels[int(i)] for i in np.unique(y[labelled])})
        raise ValueError(
            f"label of {cfg.model_name} has {len(present)} class(es) {present} over "
            f"{int(labelled.sum()):,} labelled rows: a classifier needs at least two"
        )
    as_of = frame["as_of_date"].to_numpy()
    folds = purged_walk_forward(
        as_of,
        frame["label_end_date"].to_numpy(),
        labelled,
        frame["is_beyond_data"].fill_null(False).to_numpy(),
        n_splits=cfg.n_splits,
        embargo=cfg.horizon_days,
    )
    x_all = frame.select(spec.feature_columns).to_numpy().astype(np.float64)
    state = frame["persistence_state"].to_numpy()
    persisted = frame["persistence_value"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    predictions, contributions, metric_rows, fold_meta = [], [], [], []
    pooled: dict[str, list] = {"y": [], "output": [], "label": [], "dates": [], "baselines": []}
    final: FoldModel | None = None
    for fold in folds:
        fm = _fit_fold(fold, frame, x_all, y, cfg)
        if fold.fold_id is None:
            final = fm
            progress(
                f"  final model: {fm.n_train_rows:,} rows to {fm.train_end_date}, "
                f"features {', '.join(fm.selected[:5])}…"
            )
            break
        test = frame[fold.test_idx]
        preds, contribs = predict_rows(
            fm, test, cfg, run_id=run_id, model_version=model_version, kind="walk_forward"
        )
        predictions.append(preds)
        contributions.append(contribs)
        keep = labelled[fold.test_idx]
        scored = fold.test_idx[keep]
        kept = preds.filter(pl.Series(keep))
        if cfg.task == "regression":
            output = kept["yhat"].to_numpy()
        elif cfg.task == "binary":
            p_up = kept["p_up"].to_numpy()
            output = np.column_stack([1.0 - p_up, p_up])
        else:
            output = kept.select([f"prob_{c.lower()}" for c in spec.class_labels]).to_numpy()
        baselines = _baselines(
            cfg, y[fold.train_idx], state[fold.train_idx], state[scored], persisted[scored]
        )
        label = kept["predicted_label"].to_numpy()
        scores = _score(cfg, y[scored], output, label, as_of[scored], baselines)
        metric_rows += _metric_rows(run_id, fold.fold_id, scores)
        for key, value in (
            ("y", y[scored]),
            ("output", output),
            ("label", label),
            ("dates", as_of[scored]),
            ("baselines", baselines),
        ):
            pooled[key].append(value)
        fold_meta.append(
            {
                "fold_id": fold.fold_id,
                "train_start_date": str(fm.train_start_date),
                "train_end_date": str(fm.train_end_date),
                "train_label_end_date": str(fm.train_label_end_date),
                "test_start_date": str(test["as_of_date"].min()),
                "test_end_date": str(test["as_of_date"].max()),
                "n_train_rows": fm.n_train_rows,
                "n_test_rows": test.height,
                "n_scored_rows": len(scored),
                "decision_threshold": fm.threshold,
                "selected_features": list(fm.selected),
            }
        )
        headline = scores["model"]
        key = "rank_ic" if cfg.task == "regression" else "auc"
        value = headline.get(key)
        progress(
            f"  fold {fold.fold_id}/{cfg.n_splits}: train {fm.train_start_date}.."
            f"{fm.train_end_date} ({fm.n_train_rows:,} rows), test "
            f"{test['as_of_date'].min()}..{test['as_of_date'].max()} ({len(scored):,} "
            f"scored), {key} {'n/a' if value is None else f'{value:.3f}'}"
        )
    assert final is not None  # purged_walk_forward always ends with the live block
    baseline_names = list(pooled["baselines"][0])
    pooled_scores = _score(
        cfg,
        np.concatenate(pooled["y"]),
        np.concatenate(pooled["output"]),
        np.concatenate(pooled["label"]),
        np.concatenate(pooled["dates"]),
        {name: np.concatenate([b[name] for b in pooled["baselines"]]) for name in baseline_names},
    )
    metric_rows += _metric_rows(run_id, 0, pooled_scores)
    importance_type, importance = final.fitted.importance()
    importance_rows = []
    for kind, values in (
        (importance_type, importance),
        ("mutual_information", final.mutual_information),
    ):
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        importance_rows += [
            {
                "run_id": run_id,
                "importance_type": kind,
                "feature": f,
                "importance": v,
                "importance_rank": i,
            }
            for i, (f, v) in enumerate(ranked, start=1)
        ]
    predictions_df = pl.concat(predictions)
    registry = {
        "run_id": run_id,
        "model_name": cfg.model_name,
        "model_version": model_version,
        "family": cfg.family,
        "task": cfg.task,
        "estimator": cfg.estimator,
        "underlying_symbol": cfg.underlying_symbol,
        "horizon_days": cfg.horizon_days,
        "n_splits": cfg.n_splits,
        "embargo_days": cfg.horizon_days,
        "params_json": json.dumps(cfg.estimator_params, sort_keys=True),
        "config_json": json.dumps(asdict(cfg), sort_keys=True),
        "candidate_features_json": json.dumps(list(spec.feature_columns)),
        "selected_features_json": json.dumps(list(final.selected)),
        "class_labels_json": json.dumps(
            [] if cfg.task == "regression" else list(spec.class_labels)
        ),
        "decision_threshold": final.threshold,
        "train_start_date": final.train_start_date,
        "train_end_date": final.train_end_date,
        "train_label_end_date": final.train_label_end_date,
        "n_train_rows": final.n_train_rows,
        "test_start_date": predictions_df["as_of_date"].min(),
        "test_end_date": predictions_df["as_of_date"].max(),
        "data_fingerprint": fingerprint,
        "folds_json": json.dumps(fold_meta, sort_keys=True),
        "library_versions_json": json.dumps(library_versions(), sort_keys=True),
        "is_current": True,
    }
    return TrainingRun(
        cfg=cfg,
        run_id=run_id,
        model_version=model_version,
        data_fingerprint=fingerprint,
        final=final,
        registry=registry,
        predictions=predictions_df,
        metrics=pl.DataFrame(metric_rows, schema_overrides={"value": pl.Float64}),
        importance=pl.DataFrame(importance_rows),
        contributions=pl.concat(contributions),
        drift=_drift(
            frame, final, folds[-1].train_idx, run_id, spec.feature_columns, cfg.drift_window_dates
        ),
    )
