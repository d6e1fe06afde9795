"""Out-of-sample scores, naive baselines, decision thresholds and population stability.

Pure functions over arrays. Probabilities are decimal fractions; returns are decimal
fractions; a metric that is undefined on the given rows (one class only, no positive call, a
single row) is returned as ``None`` and stored as NULL.

Scores are bit-identical whatever the order of the rows: a float sum depends on the order of
its terms in the last bits, so the cross-sectional ones sort their rows first (two clean builds
must give the same ``ml.model_metrics``; ``python -m warehouse compare`` checks it).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    roc_auc_score,
)

Metrics = dict[str, float | None]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def classification_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    predicted: np.ndarray,
    actionable: tuple[int, ...],
) -> Metrics:
    """AUC, accuracy, F1, Brier score, log loss and hit rate of class probabilities.

    Parameters
    ----------
    y
        True class indices, shape ``(n_rows,)``.
    proba
        Probabilities, shape ``(n_rows, n_classes)``, rows summing to 1.
    predicted
        Predicted class indices, shape ``(n_rows,)`` (thresholded or argmax).
    actionable
        Classes a trade would act on: the hit rate is the share of predictions of these
        classes that came true (the precision of UP calls; of LOW and HIGH regime calls).

    Returns
    -------
    dict
        ``auc`` (ROC AUC; one-vs-rest macro average for more than two classes), ``accuracy``,
        ``f1`` (macro for more than two classes), ``brier`` (mean squared error of the
        probability vector, Brier 1950: for two classes twice the usual binary score is *not*
        used, the binary score of the positive class is), ``log_loss``, ``hit_rate``,
        ``n_rows``.
    """
    n_classes = proba.shape[1]
    out: Metrics = {"n_rows": float(len(y))}
    if len(y) == 0:
        return out | dict.fromkeys(("auc", "accuracy", "f1", "brier", "log_loss", "hit_rate"))
    labels = list(range(n_classes))
    onehot = np.eye(n_classes)[y]
    if n_classes == 2:
        out["auc"] = _finite(roc_auc_score(y, proba[:, 1])) if len(np.unique(y)) == 2 else None
        out["f1"] = _finite(f1_score(y, predicted, zero_division=0))
        out["brier"] = _finite(np.mean((proba[:, 1] - y) ** 2))
    else:
        present = len(np.unique(y)) == n_classes
        out["auc"] = (
            _finite(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels))
            if present
            else None
        )
        out["f1"] = _finite(f1_score(y, predicted, average="macro", labels=labels, zero_division=0))
        out["brier"] = _finite(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    out["accuracy"] = _finite(accuracy_score(y, predicted))
    clipped = np.clip(proba, 1e-15, 1.0)
    out["log_loss"] = _finite(
        log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)
    )
    calls = np.isin(predicted, actionable)
    out["hit_rate"] = _finite(np.mean(predicted[calls] == y[calls])) if calls.any() else None
    return out


def daily_rank_ic(frame: pl.DataFrame, forecast: str, realized: str) -> pl.DataFrame:
    """Cross-sectional rank information coefficient per ``as_of_date``.

    Parameters
    ----------
    frame
        One row per contract per ``as_of_date`` with the ``forecast`` and ``realized`` columns.

    Returns
    -------
    polars.DataFrame
        One row per ``as_of_date``, in date order, with ``n_contracts`` and ``rank_ic``:
        Spearman's correlation of forecast and realized value across that date's contracts
        (average ranks for ties; Grinold and Kahn, *Active Portfolio Management*, ch. 6). Dates
        with fewer than 3 contracts or a constant side (undefined correlation) are left out.
        Bit-identical for any order of ``frame``'s rows: each date's rows are correlated in
        (forecast, realized) order, an order that rows tied on both share.
    """
    return (
        frame.sort("as_of_date", forecast, realized, nulls_last=True)
        .group_by("as_of_date", maintain_order=True)
        .agg(
            pl.len().alias("n_contracts"),
            pl.corr(forecast, realized, method="spearman").alias("rank_ic"),
        )
        .filter(
            (pl.col("n_contracts") >= 3)
            & pl.col("rank_ic").is_not_null()
            & pl.col("rank_ic").is_not_nan()
        )
    )


def regression_metrics(y: np.ndarray, yhat: np.ndarray, dates: np.ndarray) -> Metrics:
    """MSE, MAE, rank IC and sign hit rate of forecast returns.

    Parameters
    ----------
    y, yhat
        Realized and forecast returns, decimal, shape ``(n_rows,)``.
    dates
        As-of date of each row, shape ``(n_rows,)``: the rank IC is cross-sectional.

    Returns
    -------
    dict
        ``mse``, ``mae``; ``rank_ic``: mean over dates of the Spearman correlation between
        forecast and realized return across that date's contracts (Grinold & Kahn, *Active
        Portfolio Management*, 2000, ch. 6), dates with fewer than 3 rows or a constant
        forecast skipped; ``rank_ic_pooled``: Spearman over all rows; ``rank_ic_dates``;
        ``hit_rate``: share of rows where the forecast and realized return have the same sign;
        ``n_rows``. Bit-identical for any order of the rows (they are sorted by date, forecast
        and realized return first).
    """
    out: Metrics = {"n_rows": float(len(y))}
    if len(y) == 0:
        return out | dict.fromkeys(
            ("mse", "mae", "rank_ic", "rank_ic_pooled", "rank_ic_dates", "hit_rate")
        )
    # dates may come as datetime.date objects, a dtype Polars cannot sort: give it a list
    as_of = pl.Series("as_of_date", dates.tolist() if dates.dtype == object else dates)
    frame = pl.DataFrame([as_of, pl.Series("y", y), pl.Series("yhat", yhat)]).sort(
        "as_of_date", "yhat", "y", nulls_last=True
    )
    y, yhat = frame["y"].to_numpy(), frame["yhat"].to_numpy()
    out["mse"] = _finite(np.mean((yhat - y) ** 2))
    out["mae"] = _finite(np.mean(np.abs(yhat - y)))
    daily = daily_rank_ic(frame, "yhat", "y")
    # fsum: exactly rounded, so the mean cannot depend on how the column is chunked
    ics = daily["rank_ic"].to_list()
    out["rank_ic"] = _finite(math.fsum(ics) / len(ics)) if ics else None
    out["rank_ic_dates"] = float(daily.height)
    pooled = frame.select(pl.corr("yhat", "y", method="spearman")).item()
    out["rank_ic_pooled"] = _finite(pooled) if pooled is not None else None
    out["hit_rate"] = _finite(np.mean(np.sign(yhat) == np.sign(y)))
    return out


def majority_proba(y_train: np.ndarray, n_classes: int, n_rows: int) -> np.ndarray:
    """Naive baseline: the training class frequencies for every row, ``(n_rows, n_classes)``."""
    freq = np.bincount(y_train, minlength=n_classes) / len(y_train)
    return np.tile(freq, (n_rows, 1))


def persistence_proba(
    state_train: np.ndarray, y_train: np.ndarray, state_test: np.ndarray, n_classes: int
) -> np.ndarray:
    """Naive baseline: today's state carried forward, as calibrated probabilities.

    ``P(class | state)`` is the training frequency of each label given the state (the sign of
    the trailing 5-day return; the current IV regime), Laplace-smoothed (+1 per class); rows
    whose state is missing or unseen get the training class frequencies.

    Parameters
    ----------
    state_train, state_test
        State labels (str or None), shapes ``(n_train,)`` and ``(n_test,)``.
    y_train
        Training class indices, shape ``(n_train,)``.

    Returns
    -------
    np.ndarray
        Shape ``(n_test, n_classes)``.
    """
    prior = np.bincount(y_train, minlength=n_classes) / len(y_train)
    table = {}
    for state in {s for s in state_train if s is not None}:
        mask = state_train == state
        counts = np.bincount(y_train[mask], minlength=n_classes) + 1.0
        table[state] = counts / counts.sum()
    return np.array([table.get(s, prior) for s in state_test], dtype=np.float64).reshape(
        len(state_test), n_classes
    )


def best_threshold(y: np.ndarray, p: np.ndarray, objective: str) -> float:
    """Probability cut on ``p`` that maximises ``objective`` on validation rows.

    Candidates are 0.5 and the 2nd..98th percentiles of ``p``; ties go to the candidate nearest
    0.5, so the choice is deterministic. With one class in ``y`` the cut is 0.5.

    Parameters
    ----------
    y
        Binary labels (0/1), shape ``(n_rows,)``.
    p
        Probabilities of class 1, shape ``(n_rows,)``.
    objective
        ``balanced_accuracy`` (mean of the two recalls; Youden's J + 1 over 2) or ``f1``.

    Returns
    -------
    float
        The cut: predict class 1 when ``p >= cut``.
    """
    if len(y) == 0 or len(np.unique(y)) < 2:
        return 0.5
    candidates = np.unique(np.concatenate([[0.5], np.quantile(p, np.linspace(0.02, 0.98, 49))]))
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="stable")]
    score = (
        balanced_accuracy_score
        if objective == "balanced_accuracy"
        else (lambda a, b: f1_score(a, b, zero_division=0))
    )
    values = np.array([score(y, (p >= c).astype(int)) for c in candidates])
    return float(candidates[int(np.argmax(values))])


def population_stability_index(
    reference: np.ndarray, current: np.ndarray, n_bins: int = 10
) -> float | None:
    """Population stability index of one feature between two windows.

    ``PSI = sum_b (c_b - r_b) ln(c_b / r_b)`` over the deciles of the reference window, with
    each share floored at 1e-4 so an empty bin stays finite (Siddiqi, *Credit Risk
    Scorecards*, 2006, ch. 8; Yurdakul, "Statistical properties of population stability
    index", 2018). Rules of thumb: < 0.10 stable, 0.10-0.25 moderate shift, > 0.25 significant.

    Parameters
    ----------
    reference, current
        Feature values, shapes ``(n_reference,)`` and ``(n_current,)``; NaN ignored.
    n_bins
        Quantile bins of the reference window (fewer when values repeat).

    Returns
    -------
    float or None
        None when either window has no value.
    """
    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    if len(reference) == 0 or len(current) == 0:
        return None
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1))[1:-1])
    ref_share = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    ) / len(reference)
    cur_share = np.bincount(
        np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1
    ) / len(current)
    ref_share = np.maximum(ref_share, 1e-4)
    cur_share = np.maximum(cur_share, 1e-4)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def drift_level(psi: float | None) -> str | None:
    """``none`` (< 0.10), ``moderate`` (< 0.25) or ``significant``; None when PSI is None."""
    if psi is None:
        return None
    return "none" if psi < 0.10 else "moderate" if psi < 0.25 else "significant"
