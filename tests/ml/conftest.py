"""Synthetic datasets in the common layout of ml.datasets, small enough to train in a second.

SYNTHETIC: features are seeded normal draws; the label depends on one feature, so a model has
something to find. Real-data training is covered by tests/test_end_to_end.py.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from ml.config import CATALOGUE, ModelConfig
from ml.datasets import SPECS


def synthetic_dataset(
    family: str = "direction",
    *,
    n_dates: int = 240,
    per_date: int = 1,
    horizon: int = 5,
    seed: int = 7,
) -> pl.DataFrame:
    """SYNTHETIC: ``n_dates`` business days x ``per_date`` rows; the last ``horizon`` dates have
    no label (their window runs past the data). label_end_date is ``horizon`` rows ahead."""
    rng = np.random.default_rng(seed)
    spec = SPECS[family]
    dates = pl.date_range(dt.date(2020, 1, 1), dt.date(2030, 1, 1), "1d", eager=True)
    dates = dates.filter(dates.dt.weekday() <= 5).head(n_dates)
    n = n_dates * per_date
    as_of = np.repeat(dates.to_numpy(), per_date)
    day = np.repeat(np.arange(n_dates), per_date)
    signal = rng.normal(size=n)
    features = {c: rng.normal(size=n) for c in spec.feature_columns}
    features[spec.feature_columns[0]] = signal
    noisy = signal + rng.normal(scale=0.8, size=n)
    if family == "iv_regime":
        label = np.where(noisy < -0.5, "LOW", np.where(noisy > 0.5, "HIGH", "NORMAL"))
        state = np.where(signal < 0, "LOW", "HIGH")
    else:
        label = np.where(noisy > 0, "UP", "DOWN")
        state = np.where(rng.normal(size=n) > 0, "UP", "DOWN")
    beyond = day >= n_dates - horizon
    end_day = np.minimum(day + horizon, n_dates - 1)
    frame = pl.DataFrame(
        {
            "underlying_symbol": ["SYN"] * n,
            "contract_symbol": (
                [
                    f"SYN{d}C{k:03d}"
                    for d, k in zip(day, np.tile(np.arange(per_date), n_dates), strict=False)
                ]
                if family == "option_return"
                else [None] * n
            ),
            "as_of_date": as_of,
            "label_class": label,
            "label_value": noisy / 10,
            "label_end_date": dates.to_numpy()[end_day],
            "is_beyond_data": beyond,
            "persistence_state": state if family != "option_return" else [None] * n,
            # SYNTHETIC persistence: the label of the row `horizon` dates back
            "persistence_value": (
                np.roll(noisy / 10, per_date * horizon)
                if family == "option_return"
                else np.full(n, np.nan)
            ),
            **features,
        },
        schema_overrides={"contract_symbol": pl.String, "persistence_state": pl.String},
    )
    unknown = pl.col("is_beyond_data")
    return frame.with_columns(
        pl.col("as_of_date").cast(pl.Date),
        pl.col("persistence_value").fill_nan(None),
        pl.when(unknown).then(None).otherwise(pl.col("label_class")).alias("label_class"),
        pl.when(unknown).then(None).otherwise(pl.col("label_value")).alias("label_value"),
        pl.when(unknown)
        .then(None)
        .otherwise(pl.col("label_end_date").cast(pl.Date))
        .alias("label_end_date"),
    )


def fast(name: str, **changes: object) -> ModelConfig:
    """A catalogue model made small: 20 trees, 6 features, 3 folds."""
    cfg = CATALOGUE[name]
    params = {**cfg.params, "n_estimators": 20} if cfg.estimator == "xgboost" else cfg.params
    return cfg.replace(
        **{
            "n_splits": 3,
            "top_n_features": 6,
            "mi_max_rows": 500,
            "drift_window_dates": 20,
            "params": params,
            "underlying_symbol": "SYN",
            **changes,
        }
    )


@pytest.fixture
def direction_frame() -> pl.DataFrame:
    return synthetic_dataset("direction")
