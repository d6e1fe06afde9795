"""The only module of ``ml`` that touches the warehouse and the model files."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import duckdb
import polars as pl

from ml.direction import FEATURE_COLUMNS, LABEL_COLUMN, DirectionModelConfig, TrainingResult

PREDICTIONS_DDL = """
create schema if not exists ml;
create table if not exists ml.predictions (
    model_name varchar not null,
    model_version varchar not null,
    underlying_symbol varchar not null,
    as_of_date date not null,
    horizon_days integer not null,
    prob_up double not null,
    predicted_up boolean not null,
    realized_up boolean,
    fold_id integer,
    train_start_date date not null,
    train_end_date date not null,
    primary key (model_name, underlying_symbol, as_of_date)
);
create table if not exists ml.model_runs (
    model_name varchar not null,
    model_version varchar not null,
    underlying_symbol varchar not null,
    features_json varchar not null,
    config_json varchar not null,
    scores_json varchar not null,
    model_file varchar not null,
    primary key (model_name, underlying_symbol)
);
"""


def read_training_frame(con: duckdb.DuckDBPyConnection, underlying_symbol: str) -> pl.DataFrame:
    """Features and label of one underlying, one row per trade_date, from the marts.

    Rows start where the 21-day realized vol and the VIX exist (the rest of the features may be
    NULL: the VIX3M starts in 2009, the 3-month rate in 2005).

    Raises
    ------
    LookupError
        If the marts are missing (run ``dbt build``) or hold no row for ``underlying_symbol``.
    """
    features = ", ".join(f"fct_underlying_daily.{c}" for c in FEATURE_COLUMNS)
    try:
        frame = con.sql(
            f"""
            select
                fct_underlying_daily.trade_date as as_of_date,
                {features},
                fct_underlying_targets.{LABEL_COLUMN}
            from marts.fct_underlying_daily
            inner join marts.fct_underlying_targets
                on fct_underlying_daily.underlying_symbol = fct_underlying_targets.underlying_symbol
                and fct_underlying_daily.trade_date = fct_underlying_targets.trade_date
            where fct_underlying_daily.underlying_symbol = $1
                and fct_underlying_daily.realized_vol_21d is not null
                and fct_underlying_daily.vix is not null
            order by fct_underlying_daily.trade_date
            """,
            params=[underlying_symbol],
        ).pl()
    except duckdb.CatalogException as exc:
        raise LookupError(f"marts not found ({exc}): run `dbt build` first") from exc
    if frame.is_empty():
        raise LookupError(f"no feature rows for underlying {underlying_symbol!r} in the marts")
    return frame


def write_results(
    con: duckdb.DuckDBPyConnection,
    result: TrainingResult,
    cfg: DirectionModelConfig,
    models_dir: Path,
) -> Path:
    """Save the final model as XGBoost ``.ubj`` (no pickle: loading cannot run code) and replace
    this model's rows of ``ml.predictions`` and ``ml.model_runs`` in one transaction.

    Returns
    -------
    Path
        The model file.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    model_file = models_dir / f"{result.model_version}.ubj"
    result.model.save_model(model_file)
    predictions = result.predictions  # noqa: F841 (read by DuckDB's replacement scan below)
    run = pl.DataFrame(  # noqa: F841 (read by DuckDB's replacement scan below)
        {
            "model_name": [cfg.model_name],
            "model_version": [result.model_version],
            "underlying_symbol": [cfg.underlying_symbol],
            "features_json": [json.dumps(list(FEATURE_COLUMNS))],
            "config_json": [json.dumps(asdict(cfg), sort_keys=True)],
            "scores_json": [json.dumps(result.scores, sort_keys=True)],
            "model_file": [model_file.name],
        }
    )
    con.execute(PREDICTIONS_DDL)
    con.execute("begin transaction")
    try:
        for table in ("ml.predictions", "ml.model_runs"):
            con.execute(
                f"delete from {table} where model_name = ? and underlying_symbol = ?",
                [cfg.model_name, cfg.underlying_symbol],
            )
        con.execute("insert into ml.predictions by name select * from predictions")
        con.execute("insert into ml.model_runs by name select * from run")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return model_file
