"""Walk-forward splits with a purge gap, and the check that they do not leak."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.model_selection import TimeSeriesSplit


def walk_forward_splits(
    n_samples: int, *, n_splits: int, test_size: int, horizon: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window walk-forward splits over rows sorted by time, one row per day.

    A training row's target spans the ``horizon`` rows after it, so the last ``horizon`` rows
    before each test block are purged (scikit-learn's ``TimeSeriesSplit(gap=horizon)``; purging
    as in López de Prado, *Advances in Financial Machine Learning*, 2018, ch. 7). No shuffling.

    Parameters
    ----------
    n_samples
        Number of rows, sorted by as-of date ascending.
    n_splits, test_size
        Number of consecutive test blocks and rows per block; the blocks end at the last row.
    horizon
        Target horizon in rows (trading days), >= 1.

    Yields
    ------
    (train_idx, test_idx)
        Integer index arrays, shapes ``(n_train,)`` and ``(test_size,)``, with
        ``train_idx.max() + horizon < test_idx.min()``.

    Raises
    ------
    ValueError
        If ``horizon < 1`` or the data are too short for the requested blocks (scikit-learn's
        message names the sizes).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 trading day, got {horizon!r}")
    splitter = TimeSeriesSplit(n_splits=n_splits, test_size=test_size, gap=horizon)
    yield from splitter.split(np.arange(n_samples))


def leaking_pairs(
    train_dates: np.ndarray, test_dates: np.ndarray, all_dates: np.ndarray, horizon: int
) -> int:
    """Count training rows whose target window reaches a test row's as-of date.

    Parameters
    ----------
    train_dates, test_dates
        As-of dates of the training and test rows, shapes ``(n_train,)`` and ``(n_test,)``.
    all_dates
        The sorted trading calendar the horizon is counted on, shape ``(n_days,)``.
    horizon
        Target horizon, trading days.

    Returns
    -------
    int
        Number of training rows with ``date(position + horizon) >= min(test_dates)``; 0 means
        no training target overlaps the test period.
    """
    position = np.searchsorted(all_dates, train_dates)
    target_end = all_dates[np.minimum(position + horizon, len(all_dates) - 1)]
    return int(np.sum(target_end >= np.min(test_dates)))
