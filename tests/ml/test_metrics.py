"""Scores, baselines, thresholds and PSI on hand-computable arrays."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from ml import metrics as m


def test_classification_metrics_by_hand() -> None:
    # y = [0, 1, 1, 0], p_up = [0.2, 0.8, 0.4, 0.6], cut 0.5 -> predicted [0, 1, 0, 1]
    y = np.array([0, 1, 1, 0])
    p = np.array([0.2, 0.8, 0.4, 0.6])
    out = m.classification_metrics(y, np.column_stack([1 - p, p]), (p >= 0.5).astype(int), (1,))
    assert out["accuracy"] == 0.5
    assert out["auc"] == 0.75  # 3 of 4 (pos, neg) pairs ordered right
    assert out["brier"] == pytest.approx((0.04 + 0.04 + 0.36 + 0.36) / 4)
    assert out["log_loss"] == pytest.approx(-(2 * math.log(0.8) + 2 * math.log(0.4)) / 4)
    assert out["hit_rate"] == 0.5  # 2 UP calls, 1 right
    assert out["f1"] == 0.5


def test_auc_is_undefined_on_one_class() -> None:
    out = m.classification_metrics(
        np.ones(3, dtype=int), np.full((3, 2), 0.5), np.ones(3, dtype=int), (1,)
    )
    assert out["auc"] is None and out["accuracy"] == 1.0


def test_rank_ic_is_cross_sectional() -> None:
    # day 1: forecasts rank realized returns perfectly (+1); day 2: exactly reversed (-1)
    d1, d2 = dt.date(2019, 5, 1), dt.date(2019, 5, 2)
    dates = np.array([d1] * 3 + [d2] * 3)
    y = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3])
    yhat = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0])
    out = m.regression_metrics(y, yhat, dates)
    assert out["rank_ic"] == pytest.approx(0.0)
    assert out["rank_ic_dates"] == 2
    assert out["mae"] == pytest.approx(np.mean(np.abs(yhat - y)))
    assert out["hit_rate"] == 1.0


def test_persistence_baseline_is_the_smoothed_transition_frequency() -> None:
    # state UP was followed by UP 3 times of 3, DOWN by UP 0 of 1: (3+1)/(3+2), (0+1)/(1+2)
    state = np.array(["UP", "UP", "UP", "DOWN"], dtype=object)
    y = np.array([1, 1, 1, 0])
    proba = m.persistence_proba(state, y, np.array(["UP", "DOWN", None], dtype=object), 2)
    np.testing.assert_allclose(proba[:, 1], [0.8, 1 / 3, 0.75])  # None -> class frequency


def test_majority_baseline() -> None:
    np.testing.assert_allclose(
        m.majority_proba(np.array([0, 1, 1, 1]), 2, 2), [[0.25, 0.75], [0.25, 0.75]]
    )


def test_best_threshold_separates_a_separable_sample() -> None:
    y = np.array([0, 0, 0, 1, 1, 1] * 10)
    p = np.array([0.60, 0.62, 0.64, 0.70, 0.72, 0.74] * 10)
    cut = m.best_threshold(y, p, "balanced_accuracy")
    assert 0.64 < cut <= 0.70
    assert m.best_threshold(np.ones(4, dtype=int), np.full(4, 0.3), "f1") == 0.5


def test_psi_by_hand() -> None:
    reference = np.arange(1000.0)
    assert m.population_stability_index(reference, reference.copy()) == pytest.approx(0.0)
    # current all in the top decile: 0.9 ln(0.9/0.1)... is 9 bins at 1e-4 vs 0.1 and one at 1
    current = np.full(50, 999.0)
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert m.population_stability_index(reference, current) == pytest.approx(expected)
    assert m.population_stability_index(reference, np.array([np.nan])) is None
    assert [m.drift_level(v) for v in (0.05, 0.1, 0.3, None)] == [
        "none",
        "moderate",
        "significant",
        None,
    ]


def test_regression_scores_are_bit_identical_whatever_the_row_order() -> None:
    # Two clean builds gave rank ICs 1.1e-16 apart (issue 15): the per-date ICs were averaged in
    # group_by's arbitrary order. Scores must not depend on the order rows arrive in at all.
    rng = np.random.default_rng(15)
    n = 20_000
    days = rng.integers(0, 40, n)
    dates = np.array([dt.date(2019, 5, 1) + dt.timedelta(days=int(d)) for d in days], dtype=object)
    y = rng.normal(0.0, 0.1, n)
    yhat = 0.2 * y + rng.normal(0.0, 0.1, n)
    yhat[:500] = 0.01  # ties: equal forecasts with different outcomes
    reference = m.regression_metrics(y, yhat, dates)
    daily = m.daily_rank_ic(pl.DataFrame({"as_of_date": days, "f": yhat, "r": y}), "f", "r")
    assert daily["as_of_date"].is_sorted() and daily.height == 40
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(n)
        assert m.regression_metrics(y[order], yhat[order], dates[order]) == reference
        shuffled = pl.DataFrame({"as_of_date": days[order], "f": yhat[order], "r": y[order]})
        assert m.daily_rank_ic(shuffled, "f", "r").equals(daily)
