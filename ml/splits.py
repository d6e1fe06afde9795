"""Purged walk-forward splits over dated rows, and the check that they do not leak.

Rows may share a date (one row per contract per quote_date): splits are made over the distinct
as-of dates and mapped back to rows, so a date is never split between training and test.
Purging follows López de Prado, *Advances in Financial Machine Learning* (2018), §7.4: a
training row is dropped when its label window ends on or after the first test date, and an
embargo of ``horizon`` sessions separates the last training date from the first test date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import TimeSeriesSplit


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: row indices to train on and to predict.

    Attributes
    ----------
    fold_id
        1..n_splits for walk-forward test blocks; ``None`` for the live block (rows whose label
        window runs past the data), whose training set is also the final model's.
    train_idx, test_idx
        Integer row indices, shapes ``(n_train,)`` and ``(n_test,)``; training rows are
        labelled and their label ends before the first test date.
    """

    fold_id: int | None
    train_idx: np.ndarray
    test_idx: np.ndarray


def purged_walk_forward(
    as_of_dates: np.ndarray,
    label_end_dates: np.ndarray,
    is_labelled: np.ndarray,
    is_beyond_data: np.ndarray,
    *,
    n_splits: int,
    embargo: int,
) -> list[Fold]:
    """Expanding-window walk-forward folds plus the live block, purged and embargoed.

    Parameters
    ----------
    as_of_dates
        ``datetime64[D]``, shape ``(n_rows,)``, sorted ascending.
    label_end_dates
        ``datetime64[D]`` (NaT allowed for unlabelled rows), shape ``(n_rows,)``.
    is_labelled
        bool, shape ``(n_rows,)``: the row has a usable label (only these are trained on).
    is_beyond_data
        bool, shape ``(n_rows,)``: the label window runs past the data. The first such date
        starts the live block; walk-forward folds cover the dates from the first labelled row
        to the day before it (earlier rows are neither trained on nor predicted).
    n_splits
        Walk-forward test blocks (scikit-learn ``TimeSeriesSplit``, equal blocks ending at the
        last date before the live block; the first training window is one block long).
    embargo
        Sessions (distinct as-of dates) left out between a training window and its test block,
        >= 1; set it to the label horizon.

    Returns
    -------
    list[Fold]
        ``n_splits`` folds in time order, then the live block (``fold_id`` None; its
        ``test_idx`` is empty when every row is labelled).

    Raises
    ------
    ValueError
        When the dates are not sorted, ``embargo < 1``, or there are too few dates or labelled
        training rows for the folds (the message gives the counts).
    """
    if embargo < 1:
        raise ValueError(f"embargo must be >= 1 session, got {embargo!r}")
    if len(as_of_dates) and np.any(as_of_dates[1:] < as_of_dates[:-1]):
        raise ValueError("as_of_dates must be sorted ascending")
    beyond = as_of_dates[is_beyond_data]
    cutoff = beyond.min() if len(beyond) else as_of_dates.max() + np.timedelta64(1, "D")
    # dates before the first label cannot be trained on or scored against: the folds start there
    labelled_dates = as_of_dates[is_labelled & (as_of_dates < cutoff)]
    first = labelled_dates.min() if len(labelled_dates) else cutoff
    walk_dates = np.unique(as_of_dates[(as_of_dates >= first) & (as_of_dates < cutoff)])
    needed = (n_splits + 1) * (embargo + 1)
    if len(walk_dates) < needed:
        raise ValueError(
            f"{len(walk_dates)} dates before the live block are too few for {n_splits} "
            f"walk-forward folds with a {embargo}-session embargo (need at least {needed})"
        )
    folds: list[Fold] = []
    splitter = TimeSeriesSplit(n_splits=n_splits, gap=embargo)
    for fold_id, (train_dates_idx, test_dates_idx) in enumerate(
        splitter.split(walk_dates), start=1
    ):
        test_start, test_end = walk_dates[test_dates_idx[0]], walk_dates[test_dates_idx[-1]]
        last_train = walk_dates[train_dates_idx[-1]]
        train = _purged_training_rows(
            as_of_dates, label_end_dates, is_labelled, last_train, test_start
        )
        test = np.flatnonzero((as_of_dates >= test_start) & (as_of_dates <= test_end))
        _require_training_rows(train, fold_id, test_start)
        folds.append(Fold(fold_id, train, test))
    live_train = _purged_training_rows(
        as_of_dates, label_end_dates, is_labelled, walk_dates[-1], cutoff
    )
    _require_training_rows(live_train, None, cutoff)
    folds.append(Fold(None, live_train, np.flatnonzero(as_of_dates >= cutoff)))
    return folds


def _purged_training_rows(
    as_of_dates: np.ndarray,
    label_end_dates: np.ndarray,
    is_labelled: np.ndarray,
    last_train_date: np.datetime64,
    test_start: np.datetime64,
) -> np.ndarray:
    # NaT compares False, so a labelled row without a label end date is never trained on
    return np.flatnonzero(
        is_labelled & (as_of_dates <= last_train_date) & (label_end_dates < test_start)
    )


def _require_training_rows(train: np.ndarray, fold_id: int | None, test_start) -> None:
    if len(train) < 2:
        which = "the live block" if fold_id is None else f"fold {fold_id}"
        raise ValueError(
            f"{which} (test from {test_start}) has {len(train)} labelled training rows after "
            "purging: too few rows for the folds"
        )


def inner_validation_split(
    as_of_dates: np.ndarray, label_end_dates: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split one fold's training rows into an inner training and a validation block, purged.

    Used to tune a decision threshold inside the training fold only: the validation block is
    the last ``fraction`` of the training dates; inner training rows have labels ending before
    it.

    Parameters
    ----------
    as_of_dates, label_end_dates
        ``datetime64[D]`` of the fold's training rows, shape ``(n_train,)``, sorted by as-of date.
    fraction
        Share of distinct dates in the validation block, in (0, 1).

    Returns
    -------
    (inner_train_idx, validation_idx)
        Positions into the fold's training rows; either may be empty on tiny folds.
    """
    dates = np.unique(as_of_dates)
    n_validation = max(1, int(np.ceil(len(dates) * fraction)))
    validation_start = dates[-n_validation]
    validation = np.flatnonzero(as_of_dates >= validation_start)
    inner = np.flatnonzero(label_end_dates < validation_start)
    return inner, validation


def leaking_rows(train_label_end_dates: np.ndarray, test_as_of_dates: np.ndarray) -> int:
    """Count training rows whose label window reaches the test block.

    Parameters
    ----------
    train_label_end_dates
        ``datetime64[D]``, shape ``(n_train,)``: last date each training label looks at.
    test_as_of_dates
        ``datetime64[D]``, shape ``(n_test,)``.

    Returns
    -------
    int
        Rows with ``label_end_date >= min(test_as_of_dates)``; 0 means no training label
        overlaps the test period.
    """
    if len(test_as_of_dates) == 0:
        return 0
    return int(np.sum(train_label_end_dates >= np.min(test_as_of_dates)))
