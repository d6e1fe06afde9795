"""``python -m ml train``: walk-forward XGBoost direction model, predictions into the warehouse."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ml.direction import DirectionModelConfig, train_walk_forward
from ml.io import read_training_frame, write_results
from warehouse.paths import WarehousePaths, connect


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    defaults = DirectionModelConfig()
    parser = argparse.ArgumentParser(
        prog="python -m ml",
        description="Train forecasts on features from the warehouse marts and write "
        "out-of-sample predictions back to ml.predictions.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the 5-day direction classifier walk-forward")
    train.add_argument(
        "--underlying",
        default=defaults.underlying_symbol,
        help=f"underlying symbol (default {defaults.underlying_symbol})",
    )
    train.add_argument(
        "--n-splits",
        type=int,
        default=defaults.n_splits,
        help=f"walk-forward test blocks (default {defaults.n_splits})",
    )
    train.add_argument(
        "--test-size-days",
        type=int,
        default=defaults.test_size_days,
        help=f"trading days per test block (default {defaults.test_size_days})",
    )
    train.add_argument(
        "--db", type=Path, default=paths.build_db, help=f"build database (default {paths.build_db})"
    )
    args = parser.parse_args(argv)

    try:
        cfg = DirectionModelConfig(
            underlying_symbol=args.underlying,
            n_splits=args.n_splits,
            test_size_days=args.test_size_days,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    con = connect(args.db)
    try:
        frame = read_training_frame(con, cfg.underlying_symbol)
        print(
            f"training {cfg.model_name} on {frame.height:,} days of {cfg.underlying_symbol} "
            f"({frame['as_of_date'].min()} .. {frame['as_of_date'].max()}), "
            f"{cfg.n_splits} walk-forward folds of {cfg.test_size_days} days",
            flush=True,
        )
        result = train_walk_forward(frame, cfg)
        model_file = write_results(con, result, cfg, paths.models_dir)
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    s = result.scores
    print(
        f"{result.model_version}: {result.predictions.height:,} predictions -> ml.predictions; "
        f"out-of-sample accuracy {s['oos_accuracy']:.3f} "
        f"(base rate up {s['oos_base_rate_up']:.3f}), ROC AUC {s['oos_roc_auc']:.3f}; "
        f"model {model_file} ({time.perf_counter() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
