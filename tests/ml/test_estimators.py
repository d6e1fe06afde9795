"""Model files: exact round trips, no pickle, and a SHA-256 mismatch is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ml.estimators import ModelIntegrityError, fit, load_model, sha256_file

from .conftest import fast

FEATURES = ("a", "b", "c")


def _xy(n: int = 300, classes: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # SYNTHETIC: three features, the label a noisy function of the first
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[rng.random((n, 3)) < 0.05] = np.nan
    y = np.digitize(
        np.nan_to_num(x[:, 0]) + rng.normal(scale=0.5, size=n), [-0.4, 0.4][: classes - 1]
    )
    return x, y


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("xgb_direction_5d", ("DOWN", "UP")),
        ("logit_direction_5d", ("DOWN", "UP")),
        ("xgb_iv_regime_5d", ("LOW", "NORMAL", "HIGH")),
        ("logit_iv_regime_5d", ("LOW", "NORMAL", "HIGH")),
    ],
)
def test_saved_model_predicts_exactly_like_the_fitted_one(
    name: str, classes: tuple[str, ...], tmp_path: Path
) -> None:
    x, y = _xy(classes=len(classes))
    cfg = fast(name)
    fitted = fit(cfg, x, y, FEATURES, classes)
    path = fitted.save(tmp_path / "run")
    assert path.suffix in (".ubj", ".json")
    assert b"pickle" not in path.read_bytes()
    loaded = load_model(cfg, path, sha256_file(path), FEATURES, classes)
    np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))


def test_logistic_arrays_reproduce_scikit_learn() -> None:
    # The JSON model is the scikit-learn fit reduced to arrays: same probabilities.
    x, y = _xy(classes=3)
    fitted = fit(fast("logit_iv_regime_5d"), x, y, FEATURES, ("LOW", "NORMAL", "HIGH"))
    filled = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    z = StandardScaler().fit_transform(filled)
    reference = LogisticRegression(C=0.1, max_iter=1000).fit(z, y)
    np.testing.assert_allclose(fitted.predict(x), reference.predict_proba(z), atol=1e-6)


@pytest.mark.parametrize(
    "name", ["xgb_direction_5d", "logit_direction_5d", "xgb_iv_regime_5d", "logit_iv_regime_5d"]
)
def test_contributions_add_up_to_the_margin(name: str) -> None:
    x, y = _xy(classes=3 if "regime" in name else 2)
    classes = ("LOW", "NORMAL", "HIGH") if "regime" in name else ("DOWN", "UP")
    fitted = fit(fast(name), x, y, FEATURES, classes)
    proba = fitted.predict(x)
    index = proba.argmax(axis=1) if len(classes) == 3 else None
    total = fitted.contributions(x, index).sum(axis=1)
    if len(classes) == 2:  # log-odds of UP
        np.testing.assert_allclose(1 / (1 + np.exp(-total)), proba[:, 1], atol=1e-5)
    else:  # softmax margins: differences between classes are what the probabilities keep
        margins = np.stack(
            [fitted.contributions(x, np.full(len(x), k)).sum(axis=1) for k in range(3)], axis=1
        )
        soft = np.exp(margins - margins.max(axis=1, keepdims=True))
        np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), proba, atol=1e-5)
        np.testing.assert_allclose(total, margins[np.arange(len(x)), index])


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    x, y = _xy()
    cfg = fast("xgb_direction_5d")
    path = fit(cfg, x, y, FEATURES, ("DOWN", "UP")).save(tmp_path / "run")
    expected = sha256_file(path)
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(
        ModelIntegrityError,
        match=rf"SHA-256 [0-9a-f]{{64}}, the registry "
        rf"expects {expected}: refusing to load it",
    ):
        load_model(cfg, path, expected, FEATURES, ("DOWN", "UP"))


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="is missing"):
        load_model(
            fast("xgb_direction_5d"), tmp_path / "gone.ubj", "0" * 64, FEATURES, ("DOWN", "UP")
        )


def test_a_one_class_label_is_refused() -> None:
    x, _ = _xy()
    with pytest.raises(ValueError, match=r"label has one class \(\['UP'\]\) in 300 training rows"):
        fit(fast("xgb_direction_5d"), x, np.ones(300, dtype=int), FEATURES, ("DOWN", "UP"))
