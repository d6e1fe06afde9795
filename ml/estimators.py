"""Fit, predict, explain, save and load the two estimator kinds; files are never pickles.

XGBoost models are saved in XGBoost's own UBJSON format (``.ubj``). A fitted logistic
regression (median imputation, standardisation, L2 logistic regression from scikit-learn) is
reduced to its arrays and saved as JSON. Neither format can carry code, and loading checks the
file's SHA-256 against the registry first (:func:`load_model`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.config import ModelConfig

LOGIT_FORMAT = "ml.logistic_regression/1"


class ModelIntegrityError(RuntimeError):
    """A model file is missing or its SHA-256 differs from the registry's: it is not loaded."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LogisticModel:
    """A fitted median-imputed, standardised logistic regression as plain arrays.

    Attributes
    ----------
    medians, means, scales
        Shape ``(n_features,)``: imputation values and standardisation ``z = (x - mean) / scale``.
    coef, intercept
        Shapes ``(1, n_features)`` and ``(1,)`` for binary (positive class second), or
        ``(n_classes, n_features)`` and ``(n_classes,)`` for multinomial.
    """

    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def standardise(self, x: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(x), self.medians, x)
        return (filled - self.means) / self.scales

    def margins(self, x: np.ndarray) -> np.ndarray:
        """Log-odds, shape ``(n_rows, n_coef_rows)``."""
        return self.standardise(x) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        margins = self.margins(x)
        if self.coef.shape[0] == 1:
            p = 1.0 / (1.0 + np.exp(-margins[:, 0]))
            return np.column_stack([1.0 - p, p])
        shifted = np.exp(margins - margins.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class FittedModel:
    """A fitted estimator with the features and classes it was trained on.

    Attributes
    ----------
    cfg
        The model's config (estimator and task).
    features
        Feature columns, in the order of the matrix columns.
    classes
        Class labels in probability order (``()`` for regression).
    model
        ``xgboost.XGBClassifier``/``XGBRegressor`` or :class:`LogisticModel`.
    """

    cfg: ModelConfig
    features: tuple[str, ...]
    classes: tuple[str, ...]
    model: Any

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)``, or predictions ``(n_rows,)`` (regression).

        ``x`` has shape ``(n_rows, len(features))``; NaN marks a missing value.
        """
        if self.cfg.task == "regression":
            return self.model.predict(x).astype(np.float64)
        return np.asarray(self.model.predict_proba(x), dtype=np.float64)

    def contributions(self, x: np.ndarray, class_index: np.ndarray | None) -> np.ndarray:
        """Per-row additive contributions to the margin, shape ``(n_rows, n_features + 1)``.

        The last column is the bias. XGBoost: ``Booster.predict(pred_contribs=True)`` (TreeSHAP,
        Lundberg et al. 2020). Logistic: coefficient × standardised value, intercept as bias.
        Multiclass rows explain the class at ``class_index`` (shape ``(n_rows,)``).
        """
        if isinstance(self.model, LogisticModel):
            z = self.model.standardise(x)
            row = 0 if class_index is None else class_index
            coef, bias = self.model.coef[row], self.model.intercept[row]
            return np.column_stack([z * coef, np.broadcast_to(bias, (len(x),))])
        contribs = self.model.get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
        if contribs.ndim == 3:
            contribs = contribs[np.arange(len(x)), class_index]
        return contribs.astype(np.float64)

    def importance(self) -> tuple[str, dict[str, float]]:
        """``('gain', {feature: total gain})`` for XGBoost, ``('abs_coefficient', …)`` for
        logistic regression (mean |coefficient| over classes, on standardised features)."""
        if isinstance(self.model, LogisticModel):
            values = np.abs(self.model.coef).mean(axis=0)
            return "abs_coefficient", dict(zip(self.features, values.tolist(), strict=True))
        scores = self.model.get_booster().get_score(importance_type="total_gain")
        return "gain", {f: float(scores.get(f"f{i}", 0.0)) for i, f in enumerate(self.features)}

    def save(self, stem: Path) -> Path:
        """Write the model to ``stem`` + ``.ubj`` (XGBoost) or ``.json`` (logistic); return it."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(self.model, LogisticModel):
            path = stem.with_suffix(".json")
            payload = {
                "format": LOGIT_FORMAT,
                "features": list(self.features),
                "classes": list(self.classes),
                **{
                    k: getattr(self.model, k).tolist()
                    for k in ("medians", "means", "scales", "coef", "intercept")
                },
            }
            path.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
            return path
        path = stem.with_suffix(".ubj")
        self.model.save_model(path)
        return path


def fit(
    cfg: ModelConfig,
    x: np.ndarray,
    y: np.ndarray,
    features: tuple[str, ...],
    classes: tuple[str, ...],
) -> FittedModel:
    """Fit the configured estimator.

    Parameters
    ----------
    x
        Shape ``(n_rows, len(features))``, NaN for missing values.
    y
        Shape ``(n_rows,)``: class indices into ``classes`` (int), or the regression target.

    Raises
    ------
    ValueError
        When a classification label has fewer than two classes, or misses a class of
        ``classes`` (XGBoost needs every class in every training fold).
    """
    if cfg.task != "regression":
        present = np.unique(y)
        if len(present) < 2:
            raise ValueError(
                f"label has one class ({[classes[int(i)] for i in present]}) in "
                f"{len(y):,} training rows: a classifier needs at least two"
            )
        if cfg.estimator == "xgboost" and len(present) < len(classes):
            absent = sorted(set(classes) - {classes[int(i)] for i in present})
            raise ValueError(f"training rows lack class(es) {absent} of {list(classes)}")
    params = cfg.estimator_params
    if cfg.estimator == "logistic_regression":
        pipe = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(**params),
        ).fit(x, y)
        imputer, scaler, logit = pipe.steps[0][1], pipe.steps[1][1], pipe.steps[2][1]
        scales = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        model: Any = LogisticModel(
            medians=np.nan_to_num(imputer.statistics_),
            means=scaler.mean_,
            scales=scales,
            coef=logit.coef_,
            intercept=logit.intercept_,
        )
    elif cfg.task == "regression":
        model = xgb.XGBRegressor(**params).fit(x, y)
    else:
        model = xgb.XGBClassifier(**params).fit(x, y)
    return FittedModel(cfg, features, classes, model)


def load_model(
    cfg: ModelConfig,
    path: Path,
    expected_sha256: str,
    features: tuple[str, ...],
    classes: tuple[str, ...],
) -> FittedModel:
    """Load a saved model after checking its SHA-256 against the registry.

    Raises
    ------
    ModelIntegrityError
        When the file is missing or its SHA-256 is not ``expected_sha256`` (named in the
        message with the file): a changed or substituted file is refused, never loaded.
    """
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} is missing")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"model file {path} has SHA-256 {actual}, the registry expects {expected_sha256}: "
            "refusing to load it"
        )
    if path.suffix == ".json":
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != LOGIT_FORMAT:
            raise ModelIntegrityError(f"{path} is not a {LOGIT_FORMAT} file")
        model: Any = LogisticModel(
            **{
                k: np.asarray(payload[k], dtype=np.float64)
                for k in ("medians", "means", "scales", "coef", "intercept")
            }
        )
    elif path.suffix == ".ubj":
        model = xgb.XGBRegressor() if cfg.task == "regression" else xgb.XGBClassifier()
        model.load_model(path)
    else:
        raise ModelIntegrityError(f"unsupported model file {path} (expected .ubj or .json)")
    return FittedModel(cfg, features, classes, model)
