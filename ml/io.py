"""The only module of ``ml`` that touches the warehouse and the model files.

Reads datasets from the marts (:mod:`ml.datasets`), writes training runs and live predictions
into the ``ml`` schema (:mod:`ml.schema`), one transaction per run, and loads registered models
after checking their SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ml.config import ModelConfig
from ml.datasets import SPECS
from ml.estimators import FittedModel, load_model, sha256_file
from ml.schema import DDL
from ml.training import TrainingRun

REGISTRY_COLUMNS_FROM_FILE = ("model_file", "model_format", "model_sha256")


def read_dataset(con: duckdb.DuckDBPyConnection, cfg: ModelConfig) -> pl.DataFrame:
    """The family's dataset for ``cfg.underlying_symbol``, from the marts.

    Returns
    -------
    pl.DataFrame
        Common layout of :mod:`ml.datasets`, one row per underlying × contract × as_of_date.

    Raises
    ------
    LookupError
        When the marts are missing (run ``dbt build``) or hold no row for the underlying.
    """
    try:
        frame = con.sql(
            SPECS[cfg.family].sql, params={"underlying_symbol": cfg.underlying_symbol}
        ).pl()
    except duckdb.CatalogException as exc:
        raise LookupError(f"marts not found ({exc}): run `dbt build` first") from exc
    if frame.is_empty():
        raise LookupError(
            f"no {cfg.family} rows for underlying {cfg.underlying_symbol!r} in the marts"
        )
    return frame


LEGACY_TABLES: tuple[str, ...] = ("model_runs",)
"""Tables of earlier layouts of schema ``ml`` that :func:`ensure_tables` drops."""


def _layout(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.sql(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'ml' order by table_name, ordinal_position"
    ).fetchall()
    layout: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        layout.setdefault(table, []).append((column, dtype))
    return layout


def ensure_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create schema ``ml`` and its tables when missing (idempotent).

    A table written by an earlier layout of this package (other columns or types, or a table
    this layout no longer has) holds derived data only: it is dropped and recreated, and named
    in the returned list so the caller can say so.
    """
    expected_db = duckdb.connect()
    expected_db.execute(DDL)
    expected = _layout(expected_db)
    expected_db.close()
    replaced = []
    for table, columns in _layout(con).items():
        if table in LEGACY_TABLES or (table in expected and columns != expected[table]):
            con.execute(f"drop table ml.{table}")
            replaced.append(f"ml.{table}")
    con.execute(DDL)
    return replaced


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height:
        con.register("_ml_rows", frame)
        try:
            con.execute(f"insert into ml.{table} by name select * from _ml_rows")
        finally:
            con.unregister("_ml_rows")


def write_run(con: duckdb.DuckDBPyConnection, run: TrainingRun, models_dir: Path) -> dict[str, Any]:
    """Save the final model and write the run to the ``ml`` tables in one transaction.

    Rows of the same ``run_id`` are replaced (re-running a run replaces it); the run becomes
    the current one of its (model_name, underlying_symbol) and earlier runs stay in the
    registry with ``is_current = false``. Live predictions of the run are removed too:
    ``python -m ml predict`` writes them again.

    Returns
    -------
    dict
        The registry row as written (with ``model_file``, ``model_format``,
        ``model_sha256``).
    """
    path = run.final.fitted.save(models_dir / run.run_id)
    registry = {
        **run.registry,
        "model_file": path.name,
        "model_format": path.suffix.lstrip("."),
        "model_sha256": sha256_file(path),
    }
    con.execute("begin transaction")
    try:
        for table in (
            "predictions",
            "model_metrics",
            "feature_importance",
            "prediction_contributions",
            "feature_drift",
            "model_registry",
        ):
            con.execute(f"delete from ml.{table} where run_id = ?", [run.run_id])
        con.execute(
            "update ml.model_registry set is_current = false "
            "where model_name = ? and underlying_symbol = ?",
            [run.cfg.model_name, run.cfg.underlying_symbol],
        )
        _insert(con, "model_registry", pl.DataFrame([registry]))
        _insert(con, "predictions", run.predictions)
        _insert(con, "model_metrics", run.metrics)
        _insert(con, "feature_importance", run.importance)
        _insert(con, "prediction_contributions", run.contributions)
        _insert(con, "feature_drift", run.drift)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return registry


def current_runs(con: duckdb.DuckDBPyConnection, model_names: list[str]) -> list[dict[str, Any]]:
    """Registry rows of the current runs of ``model_names``, by model name.

    Raises
    ------
    LookupError
        When ``ml.model_registry`` is missing or a model has no current run (train it first).
    """
    try:
        rows = (
            con.sql(
                "select * from ml.model_registry where is_current and list_contains(?, model_name) "
                "order by model_name, underlying_symbol",
                params=[model_names],
            )
            .pl()
            .to_dicts()
        )
    except duckdb.CatalogException as exc:
        raise LookupError("ml.model_registry not found: run `python -m ml train` first") from exc
    missing = sorted(set(model_names) - {r["model_name"] for r in rows})
    if missing:
        raise LookupError(f"no trained run of {missing}: run `python -m ml train` first")
    return rows


def load_registered(registry: dict[str, Any], models_dir: Path) -> FittedModel:
    """Load a registered run's model file, refusing it when its SHA-256 differs.

    Raises
    ------
    ml.estimators.ModelIntegrityError
        See :func:`ml.estimators.load_model`.
    """
    cfg = ModelConfig(**json.loads(registry["config_json"]))
    return load_model(
        cfg,
        models_dir / registry["model_file"],
        registry["model_sha256"],
        tuple(json.loads(registry["selected_features_json"])),
        tuple(json.loads(registry["class_labels_json"])),
    )


def write_live_predictions(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    predictions: pl.DataFrame,
    contributions: pl.DataFrame,
) -> None:
    """Replace a run's live predictions and their contributions, in one transaction."""
    con.execute("begin transaction")
    try:
        con.execute(
            "delete from ml.prediction_contributions where run_id = ? and as_of_date in "
            "(select as_of_date from ml.predictions where run_id = ? "
            "and prediction_kind = 'live')",
            [run_id, run_id],
        )
        con.execute(
            "delete from ml.predictions where run_id = ? and prediction_kind = 'live'", [run_id]
        )
        _insert(con, "predictions", predictions)
        _insert(con, "prediction_contributions", contributions)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
