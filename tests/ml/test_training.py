"""Walk-forward training on SYNTHETIC datasets: out-of-sample only, deterministic, and every
bad input refused with a message that names it before anything is written."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ml.training import predict_rows, train

from .conftest import fast, synthetic_dataset


def cfg_task(name: str) -> str:
    return fast(name).task


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("xgb_direction_5d", "direction"),
        ("logit_direction_5d", "direction"),
        ("xgb_iv_regime_5d", "iv_regime"),
        ("logit_iv_regime_5d", "iv_regime"),
        ("xgb_option_return_5d", "option_return"),
        ("xgb_option_sign_5d", "option_return"),
    ],
)
def test_every_model_predicts_only_out_of_sample(name: str, family: str) -> None:
    frame = synthetic_dataset(family, n_dates=160, per_date=3 if family == "option_return" else 1)
    run = train(frame, fast(name))
    p = run.predictions
    # each prediction comes from a model whose training labels end before its as_of_date
    assert (p["train_label_end_date"] < p["as_of_date"]).all()
    assert (p["train_end_date"] < p["as_of_date"]).all()
    assert p.select("run_id", "contract_symbol", "as_of_date").is_duplicated().sum() == 0
    assert set(p["fold_id"].unique()) == {1, 2, 3}
    assert (p["prediction_kind"] == "walk_forward").all()
    # live rows (label beyond the data) are left to `ml predict`; the final model is fitted
    assert p["as_of_date"].max() < frame.filter("is_beyond_data")["as_of_date"].min()
    assert run.final.train_label_end_date < frame.filter("is_beyond_data")["as_of_date"].min()
    pooled = run.metrics.filter(pl.col("fold_id") == 0)
    expected = {"model", "majority", "persistence"}
    if cfg_task(name) == "regression":
        expected = {"model", "train_mean", "persistence"}
    elif family == "option_return":
        expected = {"model", "majority"}  # no state to persist for a contract's sign
    assert set(pooled["predictor"]) == expected
    assert len(run.final.selected) == 6
    # contributions: one per prediction per selected feature, plus the bias
    assert run.contributions.height == p.height * 7


def test_the_signal_is_found_and_beats_the_baselines() -> None:
    # SYNTHETIC: the label is sign(feature_0 + noise); the model must rank it far above chance.
    run = train(synthetic_dataset("direction", n_dates=300), fast("xgb_direction_5d"))
    auc = {
        r["predictor"]: r["value"]
        for r in run.metrics.filter(
            (pl.col("fold_id") == 0) & (pl.col("metric") == "auc")
        ).to_dicts()
    }
    assert auc["model"] > 0.75 > auc["majority"]
    assert auc["model"] > auc["persistence"]
    assert run.final.selected[0] == "return_1d"  # the signal column ranks first by MI


def test_two_runs_give_identical_tables() -> None:
    frame = synthetic_dataset("iv_regime", n_dates=160)
    first, second = (train(frame, fast("xgb_iv_regime_5d")) for _ in range(2))
    assert first.run_id == second.run_id
    for table in ("predictions", "metrics", "importance", "contributions", "drift"):
        assert_frame_equal(getattr(first, table), getattr(second, table))


def test_row_order_does_not_change_the_run() -> None:
    frame = synthetic_dataset("option_return", n_dates=120, per_date=3)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    a, b = train(frame, fast("xgb_option_sign_5d")), train(shuffled, fast("xgb_option_sign_5d"))
    assert a.run_id == b.run_id
    assert_frame_equal(a.predictions, b.predictions)


def test_missing_feature_column_is_named() -> None:
    frame = synthetic_dataset("direction", n_dates=120).drop("vix", "rate_3m")
    with pytest.raises(ValueError, match=r"dataset lacks column\(s\) \['vix', 'rate_3m'\]"):
        train(frame, fast("xgb_direction_5d"))


def test_all_null_feature_is_named() -> None:
    frame = synthetic_dataset("direction", n_dates=120).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("vvix")
    )
    with pytest.raises(ValueError, match=r"feature column\(s\) \['vvix'\] are NULL on all 120"):
        train(frame, fast("xgb_direction_5d"))


def test_too_few_rows_for_the_folds() -> None:
    frame = synthetic_dataset("direction", n_dates=20)
    with pytest.raises(ValueError, match="too few for 3 walk-forward folds"):
        train(frame, fast("xgb_direction_5d"))


def test_label_with_one_class() -> None:
    frame = synthetic_dataset("direction", n_dates=120).with_columns(
        pl.when(pl.col("label_class").is_not_null()).then(pl.lit("UP")).alias("label_class")
    )
    with pytest.raises(ValueError, match=r"has 1 class\(es\) \['UP'\] over 115 labelled rows"):
        train(frame, fast("logit_direction_5d"))


def test_unknown_label_value_is_named() -> None:
    frame = synthetic_dataset("iv_regime", n_dates=120).with_columns(
        pl.col("label_class").replace("HIGH", "EXTREME")
    )
    with pytest.raises(ValueError, match=r"\['EXTREME'\] outside \['LOW', 'NORMAL', 'HIGH'\]"):
        train(frame, fast("xgb_iv_regime_5d"))


def test_repeated_key_is_refused() -> None:
    frame = synthetic_dataset("direction", n_dates=120)
    with pytest.raises(ValueError, match="dataset key repeats"):
        train(pl.concat([frame, frame.head(1)]), fast("xgb_direction_5d"))


def test_probabilities_are_probabilities() -> None:
    run = train(synthetic_dataset("iv_regime", n_dates=160), fast("logit_iv_regime_5d"))
    probs = run.predictions.select("prob_low", "prob_normal", "prob_high").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (run.predictions["regime"] == run.predictions["predicted_label"]).all()
    np.testing.assert_allclose(run.predictions["score"].to_numpy(), probs.max(axis=1))


@pytest.mark.parametrize("name", ["xgb_option_return_5d", "xgb_iv_regime_5d", "logit_direction_5d"])
def test_scoring_no_rows_gives_empty_frames(name: str) -> None:
    # `ml predict` when every row is already labelled: nothing to score, nothing to write
    family = fast(name).family
    frame = synthetic_dataset(family, n_dates=120, per_date=2 if family == "option_return" else 1)
    run = train(frame, fast(name))
    predictions, contributions = predict_rows(
        run.final,
        frame.clear(),
        run.cfg,
        run_id=run.run_id,
        model_version=run.model_version,
        kind="live",
    )
    assert predictions.is_empty() and contributions.is_empty()
    assert predictions.columns == run.predictions.columns
