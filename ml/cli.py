"""``python -m ml train | predict | report``: the forecasting layer from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from ml.config import CATALOGUE, ModelConfig, resolve_models
from ml.datasets import SPECS, validate_dataset
from ml.estimators import ModelIntegrityError
from ml.io import (
    current_runs,
    ensure_tables,
    load_registered,
    read_dataset,
    write_live_predictions,
    write_run,
)
from ml.training import FoldModel, predict_rows, train
from warehouse.paths import WarehousePaths, connect
from warehouse.pipeline import guarded

HEADLINE = {"binary": "auc", "multiclass": "auc", "regression": "rank_ic"}


def _say(message: str) -> None:
    print(message, flush=True)


def _models_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="model name or family, repeatable (default: all). Models: "
        + ", ".join(CATALOGUE)
        + "; families: direction, iv_regime, option_return",
    )


def cmd_train(args: argparse.Namespace, paths: WarehousePaths) -> int:
    configs = resolve_models(args.model)
    overrides = {
        k: v
        for k, v in (("n_splits", args.n_splits), ("underlying_symbol", args.underlying))
        if v is not None
    }
    configs = [cfg.replace(**overrides) for cfg in configs]
    # The database is open only to read a dataset and to write a run: DuckDB keeps the blocks a
    # read touched cached up to its memory limit, which a connection held through training
    # would add to the models' own memory (the real chain tiled 30x: 7.6 GB peak).
    con = connect(args.db)
    try:
        for table in ensure_tables(con):
            _say(f"replaced {table}: written by an earlier layout of ml (derived data)")
    finally:
        con.close()
    datasets: dict[tuple[str, str], pl.DataFrame] = {}
    for i, cfg in enumerate(configs, start=1):
        started = time.perf_counter()
        key = (cfg.family, cfg.underlying_symbol)
        if key not in datasets:
            con = connect(args.db, read_only=True)
            try:
                datasets[key] = read_dataset(con, cfg)
            finally:
                con.close()
        frame = datasets[key]
        _say(
            f"[{i}/{len(configs)}] {cfg.model_name}: {cfg.task} {cfg.estimator} on "
            f"{frame.height:,} {cfg.family} rows of {cfg.underlying_symbol} "
            f"({frame['as_of_date'].min()}..{frame['as_of_date'].max()}), "
            f"{cfg.n_splits} walk-forward folds, {cfg.horizon_days}-session purge"
        )
        run = train(frame, cfg, progress=_say)
        con = connect(args.db)
        try:
            registry = write_run(con, run, paths.models_dir)
        finally:
            con.close()
        pooled = run.metrics.filter(pl.col("fold_id") == 0)
        metric = HEADLINE[cfg.task]
        values = {
            r["predictor"]: r["value"] for r in pooled.filter(pl.col("metric") == metric).to_dicts()
        }
        baselines = ", ".join(f"{k} {_fmt(v)}" for k, v in values.items() if k != "model")
        _say(
            f"  -> run {run.run_id} ({run.model_version}): {run.predictions.height:,} "
            f"out-of-sample predictions, {metric} {_fmt(values.get('model'))} "
            f"(baselines: {baselines}); model {registry['model_file']} "
            f"sha256 {registry['model_sha256'][:12]}… ({time.perf_counter() - started:.1f} s)"
        )
    return 0


def cmd_predict(args: argparse.Namespace, paths: WarehousePaths) -> int:
    names = [cfg.model_name for cfg in resolve_models(args.model)]
    con = connect(args.db)
    try:
        for registry in current_runs(con, names):
            started = time.perf_counter()
            fitted = load_registered(registry, paths.models_dir)
            cfg = fitted.cfg
            frame = validate_dataset(read_dataset(con, cfg), SPECS[cfg.family].feature_columns)
            live = frame.filter(pl.col("as_of_date") > registry["test_end_date"])
            final = FoldModel(
                fold_id=None,
                fitted=fitted,
                selected=fitted.features,
                mutual_information={},
                threshold=registry["decision_threshold"],
                train_start_date=registry["train_start_date"],
                train_end_date=registry["train_end_date"],
                train_label_end_date=registry["train_label_end_date"],
                n_train_rows=registry["n_train_rows"],
            )
            predictions, contributions = predict_rows(
                final,
                live,
                cfg,
                run_id=registry["run_id"],
                model_version=registry["model_version"],
                kind="live",
            )
            write_live_predictions(con, registry["run_id"], predictions, contributions)
            span = (
                f"{live['as_of_date'].min()}..{live['as_of_date'].max()}"
                if live.height
                else "none after the walk-forward test blocks"
            )
            _say(
                f"{cfg.model_name} run {registry['run_id']}: model file verified "
                f"(sha256 {registry['model_sha256'][:12]}…), {predictions.height:,} live "
                f"predictions ({span}) ({time.perf_counter() - started:.1f} s)"
            )
    finally:
        con.close()
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def cmd_report(args: argparse.Namespace, paths: WarehousePaths) -> int:
    names = [cfg.model_name for cfg in resolve_models(args.model)]
    con = connect(args.db, read_only=True)
    try:
        runs = current_runs(con, names)
        metrics = con.sql(
            "select run_id, predictor, metric, value, n_rows from ml.model_metrics "
            "where fold_id = 0 and list_contains(?, run_id)",
            params=[[r["run_id"] for r in runs]],
        ).pl()
        drift = con.sql(
            "select run_id, feature, psi, drift_level from ml.feature_drift "
            "where list_contains(?, run_id) and psi is not null order by run_id, psi desc",
            params=[[r["run_id"] for r in runs]],
        ).pl()
    finally:
        con.close()
    _say("Out-of-sample scores over all walk-forward test blocks (model vs naive baselines)")
    for run in runs:
        cfg = ModelConfig(**json.loads(run["config_json"]))
        mine = metrics.filter(pl.col("run_id") == run["run_id"])
        table = mine.pivot(on="predictor", index="metric", values="value").sort("metric")
        n = mine["n_rows"].max()
        _say(
            f"\n{cfg.model_name} (run {run['run_id']}, {cfg.task}, trained to "
            f"{run['train_end_date']}, {n:,} scored test rows, threshold "
            f"{_fmt(run['decision_threshold'])})"
        )
        predictors = [c for c in table.columns if c != "metric"]
        _say("  " + f"{'metric':<16}" + "".join(f"{p:>13}" for p in predictors))
        for row in table.iter_rows(named=True):
            _say("  " + f"{row['metric']:<16}" + "".join(f"{_fmt(row[p]):>13}" for p in predictors))
        selected = json.loads(run["selected_features_json"])
        top = drift.filter(
            (pl.col("run_id") == run["run_id"]) & pl.col("feature").is_in(selected)
        ).head(3)
        if top.height:
            _say(
                "  drift of its features (PSI, training vs latest window): "
                + ", ".join(
                    f"{r['feature']} {r['psi']:.2f} ({r['drift_level']})" for r in top.to_dicts()
                )
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m ml",
        description="Forecasting layer: walk-forward models on features from the warehouse "
        "marts; registry, out-of-sample predictions, metrics and drift in schema ml.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train_p = sub.add_parser(
        "train",
        help="train models walk-forward; write registry, predictions and metrics",
        description="Train walk-forward (expanding window, purged by the label horizon), save "
        "each final model (.ubj / .json) and write its run to ml.model_registry, "
        "ml.predictions (out-of-sample), ml.model_metrics, ml.feature_importance, "
        "ml.prediction_contributions and ml.feature_drift in one transaction.",
    )
    _models_arg(train_p)
    train_p.add_argument("--n-splits", type=int, help="walk-forward folds (default 5)")
    train_p.add_argument("--underlying", help="underlying symbol (default SPX)")
    predict_p = sub.add_parser(
        "predict",
        help="score the latest rows with the registered final models",
        description="Load each current model after checking its SHA-256 against the registry "
        "and predict the rows after its walk-forward test blocks (whose labels are not yet "
        "known) into ml.predictions (prediction_kind 'live').",
    )
    _models_arg(predict_p)
    report_p = sub.add_parser(
        "report",
        help="print out-of-sample scores against baselines, and drift",
        description="Print the current runs' pooled out-of-sample metrics next to the naive "
        "baselines (majority class, persistence, training mean) and the most drifted features.",
    )
    _models_arg(report_p)
    for p in (train_p, predict_p, report_p):
        p.add_argument(
            "--db",
            type=Path,
            default=paths.build_db,
            help=f"warehouse database (default {paths.build_db})",
        )
    args = parser.parse_args(argv)
    handler = {"train": cmd_train, "predict": cmd_predict, "report": cmd_report}[args.command]
    try:
        if Path(args.db).resolve() == paths.build_db.resolve():
            # the pipeline's build database: fail at once while another pipeline runs
            return guarded(paths.root, lambda: handler(args, paths))
        return handler(args, paths)
    except (LookupError, ValueError, TypeError, ModelIntegrityError, duckdb.IOException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
