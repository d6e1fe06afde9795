"""Purged walk-forward splits: no training label reaches into its test block."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ml.splits import inner_validation_split, leaking_rows, purged_walk_forward

from .conftest import synthetic_dataset


def _arrays(frame):
    return (
        frame["as_of_date"].to_numpy(),
        frame["label_end_date"].to_numpy(),
        frame["label_class"].is_not_null().to_numpy(),
        frame["is_beyond_data"].to_numpy(),
    )


@pytest.mark.parametrize(("horizon", "per_date"), [(1, 1), (5, 1), (10, 1), (5, 4)])
def test_no_training_label_overlaps_its_test_block(horizon: int, per_date: int) -> None:
    frame = synthetic_dataset(n_dates=200, per_date=per_date, horizon=horizon)
    as_of, ends, labelled, beyond = _arrays(frame)
    folds = purged_walk_forward(as_of, ends, labelled, beyond, n_splits=4, embargo=horizon)
    assert [f.fold_id for f in folds] == [1, 2, 3, 4, None]
    for fold in folds:
        test_dates = as_of[fold.test_idx]
        assert leaking_rows(ends[fold.train_idx], test_dates) == 0
        assert labelled[fold.train_idx].all()
        # a date is never split between training and test; test blocks are contiguous
        assert not set(as_of[fold.train_idx]) & set(test_dates)
        assert np.all(np.diff(fold.test_idx) == 1)
    walk_dates = np.unique(np.concatenate([as_of[f.test_idx] for f in folds[:-1]]))
    embargoed = np.unique(as_of[as_of < walk_dates.min()])
    assert len(embargoed) >= 1
    # the live block is exactly the rows whose label runs past the data
    assert np.array_equal(folds[-1].test_idx, np.flatnonzero(beyond))


def test_leak_check_detects_a_split_without_purge() -> None:
    # The check itself must be able to fail: training rows up to the day before the test block,
    # each label 5 rows ahead, so the last 5 labels end inside it.
    frame = synthetic_dataset(n_dates=100, horizon=5)
    as_of, ends, _, _ = _arrays(frame)
    assert leaking_rows(ends[:60], as_of[60:80]) == 5


def test_inner_validation_split_is_purged() -> None:
    frame = synthetic_dataset(n_dates=50, horizon=5)
    as_of, ends, _, _ = _arrays(frame)
    inner, validation = inner_validation_split(as_of[:40], ends[:40], 0.25)
    assert len(validation) == 10
    assert leaking_rows(ends[inner], as_of[validation]) == 0
    assert len(inner) == 25  # 40 rows - 10 validation - 5 whose labels reach it


def test_too_few_dates_is_a_clear_error() -> None:
    frame = synthetic_dataset(n_dates=30, horizon=5)
    as_of, ends, labelled, beyond = _arrays(frame)
    with pytest.raises(ValueError, match=r"25 dates before the live block are too few for 5"):
        purged_walk_forward(as_of, ends, labelled, beyond, n_splits=5, embargo=5)


def test_unsorted_dates_and_bad_embargo_are_refused() -> None:
    dates = np.array([dt.date(2020, 1, 2), dt.date(2020, 1, 1)], dtype="datetime64[D]")
    flags = np.array([True, True])
    with pytest.raises(ValueError, match="sorted"):
        purged_walk_forward(dates, dates, flags, ~flags, n_splits=2, embargo=1)
    with pytest.raises(ValueError, match="embargo must be >= 1 session, got 0"):
        purged_walk_forward(dates, dates, flags, ~flags, n_splits=2, embargo=0)
