"""XGBoost classifier of the 5-trading-day direction of an underlying, trained walk-forward.

Features come from ``marts.fct_underlying_daily`` and the label from
``marts.fct_underlying_targets`` (``is_up_5d``): nothing is derived here (STYLE.md, 11).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from ml.splits import walk_forward_splits

FEATURE_COLUMNS: tuple[str, ...] = (
    "return_1d",
    "return_5d",
    "return_21d",
    "realized_vol_5d",
    "realized_vol_21d",
    "vix",
    "vix_term_slope",
    "vol_risk_premium_21d",
    "rate_3m",
)
LABEL_COLUMN = "is_up_5d"
HORIZON_DAYS = 5


@dataclass(frozen=True)
class DirectionModelConfig:
    """Settings of the direction model; fixed seeds make a run reproducible.

    Attributes
    ----------
    model_name
        Name predictions are stored under in ``ml.predictions``.
    underlying_symbol
        Underlying whose direction is forecast.
    n_splits, test_size_days
        Walk-forward test blocks: ``n_splits`` consecutive blocks of ``test_size_days`` trading
        days ending at the last labelled day (15 × 252 ≈ 2008–2022 on the embedded data).
    min_train_days
        Smallest acceptable first training window, trading days.
    xgb_params
        Keyword arguments of ``xgboost.XGBClassifier``.
    """

    model_name: str = "xgb_direction_5d"
    underlying_symbol: str = "SPX"
    n_splits: int = 15
    test_size_days: int = 252
    min_train_days: int = 1000
    xgb_params: dict[str, Any] = field(
        default_factory=lambda: {
            "n_estimators": 200,
            "max_depth": 3,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 5,
            "tree_method": "hist",
            "random_state": 0,
            "n_jobs": 2,
            "eval_metric": "logloss",
        }
    )

    def __post_init__(self) -> None:
        for name in ("n_splits", "test_size_days", "min_train_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TrainingResult:
    """Out-of-sample predictions (one row per as-of date), the final model and its scores."""

    predictions: pl.DataFrame
    model: xgb.XGBClassifier
    model_version: str
    scores: dict[str, float]


def model_version(cfg: DirectionModelConfig, frame: pl.DataFrame) -> str:
    """Deterministic version id: hash of the config, the features, xgboost's version and the
    training data, so the same inputs always give the same version and any change a new one."""
    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    digest.update(json.dumps(FEATURE_COLUMNS).encode())
    digest.update(xgb.__version__.encode())
    digest.update(frame.sort("as_of_date").write_csv().encode())
    return f"{cfg.model_name}-{digest.hexdigest()[:12]}"


def _classifier(cfg: DirectionModelConfig) -> xgb.XGBClassifier:
    return xgb.XGBClassifier(**cfg.xgb_params)


def train_walk_forward(frame: pl.DataFrame, cfg: DirectionModelConfig) -> TrainingResult:
    """Train one classifier per walk-forward fold and predict each fold's test block.

    Parameters
    ----------
    frame
        One row per as-of date of one underlying: ``as_of_date`` (DATE), every column of
        :data:`FEATURE_COLUMNS` (decimal fractions, NULL allowed: XGBoost routes missing values)
        and ``is_up_5d`` (BOOLEAN, NULL where the horizon runs past the data).

    Returns
    -------
    TrainingResult
        ``predictions``: one row per test as-of date (``fold_id`` 1..n_splits) plus the last
        as-of date predicted by the final model trained on every labelled row (``fold_id`` NULL),
        with ``prob_up`` (probability the underlying closes higher in 5 trading days),
        ``train_start_date``/``train_end_date`` and ``realized_up``. ``scores``: out-of-sample
        accuracy, ROC AUC, log loss and the base rate of up moves over the test blocks.

    Raises
    ------
    ValueError
        If columns are missing (named), dates repeat, or the data are too short for the folds.
    """
    missing = [c for c in ("as_of_date", *FEATURE_COLUMNS, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks column(s) {missing}")
    frame = frame.sort("as_of_date")
    if frame["as_of_date"].is_duplicated().any():
        raise ValueError("training frame must have one row per as_of_date (one underlying)")
    labelled = frame.filter(pl.col(LABEL_COLUMN).is_not_null())
    needed = cfg.n_splits * cfg.test_size_days + HORIZON_DAYS + cfg.min_train_days
    if labelled.height < needed:
        raise ValueError(
            f"{labelled.height} labelled rows are too few for {cfg.n_splits} folds of "
            f"{cfg.test_size_days} days after {cfg.min_train_days} training days (need {needed})"
        )
    x = labelled.select(FEATURE_COLUMNS).to_numpy()
    y = labelled[LABEL_COLUMN].cast(pl.Int8).to_numpy()
    dates = labelled["as_of_date"]

    blocks = []
    for fold_id, (train_idx, test_idx) in enumerate(
        walk_forward_splits(
            labelled.height,
            n_splits=cfg.n_splits,
            test_size=cfg.test_size_days,
            horizon=HORIZON_DAYS,
        ),
        start=1,
    ):
        model = _classifier(cfg).fit(x[train_idx], y[train_idx])
        blocks.append(
            pl.DataFrame(
                {
                    "as_of_date": dates.gather(test_idx),
                    "fold_id": np.full(len(test_idx), fold_id, dtype=np.int32),
                    "train_start_date": dates[int(train_idx[0])],
                    "train_end_date": dates[int(train_idx[-1])],
                    "prob_up": model.predict_proba(x[test_idx])[:, 1].astype(np.float64),
                    "realized_up": y[test_idx].astype(bool),
                }
            )
        )
    oos = pl.concat(blocks)

    # The final model sees every labelled row; every such row's target ends on or before the
    # last as-of date, so its prediction for that date uses nothing from the future.
    final_model = _classifier(cfg).fit(x, y)
    last = frame.tail(1)
    live = pl.DataFrame(
        {
            "as_of_date": last["as_of_date"],
            "fold_id": pl.Series([None], dtype=pl.Int32),
            "train_start_date": dates[0],
            "train_end_date": dates[-1],
            "prob_up": final_model.predict_proba(last.select(FEATURE_COLUMNS).to_numpy())[
                :, 1
            ].astype(np.float64),
            "realized_up": last[LABEL_COLUMN],
        }
    )
    version = model_version(cfg, frame)
    predictions = pl.concat([oos, live], how="vertical_relaxed").select(
        pl.lit(cfg.model_name).alias("model_name"),
        pl.lit(version).alias("model_version"),
        pl.lit(cfg.underlying_symbol).alias("underlying_symbol"),
        "as_of_date",
        pl.lit(HORIZON_DAYS, dtype=pl.Int32).alias("horizon_days"),
        "prob_up",
        (pl.col("prob_up") >= 0.5).alias("predicted_up"),
        "realized_up",
        "fold_id",
        "train_start_date",
        "train_end_date",
    )
    realized = oos["realized_up"].to_numpy().astype(int)
    prob = oos["prob_up"].to_numpy()
    scores = {
        "oos_rows": float(oos.height),
        "oos_accuracy": float(accuracy_score(realized, prob >= 0.5)),
        "oos_roc_auc": float(roc_auc_score(realized, prob)),
        "oos_log_loss": float(log_loss(realized, prob)),
        "oos_base_rate_up": float(realized.mean()),
    }
    return TrainingResult(predictions, final_model, version, scores)
