"""The forecast reports are bit-identical whatever order their input rows come in (issue 15: two
clean builds differed in the last bits of 31 calibration rows and a decile row, because a
parallel aggregate sums floats in no fixed order). The models' SQL runs on DuckDB, four threads,
over the same synthetic predictions inserted in shuffled orders."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import polars as pl
import pytest

from warehouse.paths import REPO_ROOT

MODELS = REPO_ROOT / "models_sql" / "models" / "forecasts"
REF = re.compile(r"\{\{\s*ref\('(\w+)'\)\s*\}\}")
#: Key of each report's rows.
KEYS = {
    "rpt_forecast_calibration": ["run_id", "class_label", "probability_bin"],
    "rpt_forecast_deciles": ["run_id", "decile"],
}


def _model_sql(model: str) -> str:
    sql = REF.sub(r"\1", (MODELS / f"{model}.sql").read_text())
    assert "{{" not in sql and "{%" not in sql, f"{model} has Jinja besides ref()"
    return sql


def _predictions(n_days: int = 250, n_contracts: int = 40) -> pl.DataFrame:
    """Walk-forward predictions of a direction run (binary), a regime run (multiclass), both one
    row per day, and an option-return run (regression), ``n_contracts`` rows per day."""
    rng = np.random.default_rng(15)
    days = [dt.date(2019, 1, 1) + dt.timedelta(days=i) for i in range(n_days)]
    common = {"model_version": "v", "underlying_symbol": "SPX", "prediction_kind": "walk_forward"}
    p_up = rng.uniform(0, 1, n_days)
    direction = pl.DataFrame(
        {
            "run_id": "rd",
            "model_name": "xgb_direction_5d",
            "family": "direction",
            "task": "binary",
            "contract_symbol": None,
            "as_of_date": days,
            "p_up": p_up,
            "score": p_up,
            "realized_label": rng.choice(["UP", "DOWN"], n_days).tolist(),
            "realized_return": rng.normal(0, 0.02, n_days),
        }
    )
    probs = rng.dirichlet([2, 3, 2], n_days)
    regime = pl.DataFrame(
        {
            "run_id": "rr",
            "model_name": "xgb_iv_regime_5d",
            "family": "iv_regime",
            "task": "multiclass",
            "contract_symbol": None,
            "as_of_date": days,
            "score": probs.max(axis=1),
            "prob_low": probs[:, 0],
            "prob_normal": probs[:, 1],
            "prob_high": probs[:, 2],
            "realized_label": rng.choice(["LOW", "NORMAL", "HIGH"], n_days).tolist(),
        }
    )
    n = n_days * n_contracts
    yhat = rng.normal(0, 0.1, n)
    options = pl.DataFrame(
        {
            "run_id": "ro",
            "model_name": "xgb_option_return_5d",
            "family": "option_return",
            "task": "regression",
            "contract_symbol": [f"SPXW{i % n_contracts:05d}" for i in range(n)],
            "as_of_date": [days[i // n_contracts] for i in range(n)],
            "yhat": yhat,
            "score": yhat,
            "realized_return": yhat + rng.normal(0, 0.3, n),
        }
    ).with_columns(
        realized_label=pl.when(pl.col("realized_return") > 0)
        .then(pl.lit("UP"))
        .otherwise(pl.lit("DOWN"))
    )
    return pl.concat([direction, regime, options], how="diagonal_relaxed").with_columns(
        has_realized_outcome=pl.lit(True), **{k: pl.lit(v) for k, v in common.items()}
    )


@pytest.mark.parametrize("model", sorted(KEYS))
def test_forecast_reports_do_not_depend_on_row_order(model: str) -> None:
    sql = _model_sql(model)
    predictions = _predictions()
    results = []
    for seed in range(3):
        shuffled = predictions.sample(fraction=1.0, shuffle=True, seed=seed)  # noqa: F841
        with duckdb.connect() as con:
            con.execute("set threads = 4")
            con.execute("create table int_forecast_predictions_realized as select * from shuffled")
            results.append(con.sql(sql).pl().sort(KEYS[model]))
    assert results[0].height > 10
    for other in results[1:]:
        assert other.equals(results[0]), model
