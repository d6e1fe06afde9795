"""Walk-forward splits: no training row's target window reaches into its test block."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from ml.direction import FEATURE_COLUMNS, HORIZON_DAYS, DirectionModelConfig, train_walk_forward
from ml.splits import leaking_pairs, walk_forward_splits


def _calendar(n: int) -> np.ndarray:
    return np.array(
        pl.date_range(
            dt.date(2000, 1, 3), dt.date(2000, 1, 3) + dt.timedelta(days=n - 1), eager=True
        ).to_numpy()
    )


@pytest.mark.parametrize("horizon", [1, 5, 10])
def test_no_training_target_overlaps_the_test_block(horizon: int) -> None:
    dates = _calendar(600)
    for train_idx, test_idx in walk_forward_splits(600, n_splits=4, test_size=50, horizon=horizon):
        assert train_idx.max() + horizon < test_idx.min()
        assert leaking_pairs(dates[train_idx], dates[test_idx], dates, horizon) == 0
        assert np.all(np.diff(test_idx) == 1)  # contiguous, not shuffled


def test_leak_check_detects_a_split_without_gap() -> None:
    # The check itself must be able to fail: with no purge, the last `horizon` training rows'
    # targets end inside the test block.
    dates = _calendar(100)
    train_idx, test_idx = np.arange(0, 60), np.arange(60, 80)
    assert leaking_pairs(dates[train_idx], dates[test_idx], dates, 5) == 5


def test_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="horizon must be >= 1 trading day, got 0"):
        next(walk_forward_splits(100, n_splits=2, test_size=10, horizon=0))


def test_trained_predictions_respect_the_gap() -> None:
    # Synthetic features (seeded noise): the point is the dates, not the skill.
    rng = np.random.default_rng(0)
    n = 400
    dates = pl.date_range(
        dt.date(2001, 1, 1), dt.date(2001, 1, 1) + dt.timedelta(days=n - 1), eager=True
    )
    labels = pl.Series("is_up_5d", rng.random(n) > 0.5)
    # The last HORIZON_DAYS rows have no observable target, as in fct_underlying_targets.
    labels = labels.scatter(list(range(n - HORIZON_DAYS, n)), None)
    frame = pl.DataFrame({"as_of_date": dates}).with_columns(
        *[pl.Series(c, rng.normal(size=n)) for c in FEATURE_COLUMNS], labels
    )
    cfg = DirectionModelConfig(
        n_splits=3,
        test_size_days=50,
        min_train_days=100,
        xgb_params={"n_estimators": 5, "max_depth": 2, "random_state": 0, "n_jobs": 1},
    )
    result = train_walk_forward(frame.sample(fraction=1.0, shuffle=True, seed=1), cfg)
    oos = result.predictions.filter(pl.col("fold_id").is_not_null())
    assert oos.height == 150
    all_dates = frame["as_of_date"].to_numpy()
    for fold in oos.partition_by("fold_id"):
        train_end = fold["train_end_date"][0]
        position = int(np.searchsorted(all_dates, np.datetime64(train_end)))
        assert all_dates[position + HORIZON_DAYS] < np.datetime64(fold["as_of_date"].min())
    # One live prediction for the last as-of date, from the model trained on every labelled row.
    live = result.predictions.filter(pl.col("fold_id").is_null())
    assert live["as_of_date"].to_list() == [dates[-1]]
    # Same inputs, same version and probabilities (row order of the input does not matter).
    again = train_walk_forward(frame, cfg)
    assert again.model_version == result.model_version
    assert again.predictions["prob_up"].equals(result.predictions["prob_up"])
