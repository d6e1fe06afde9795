"""Validation 2 of the modeled option chain: the default strategies backtested on modeled and on
real quotes over the same real days, trade by trade.

Runs the ten configs of ``engine/configs/validation/`` (long straddle, iron condor, short put,
bull put spread, long call calendar; each on ``chain_source: real`` and ``modeled``; SPX weeklies,
universe ``wide``, 2019-04-25 → 2019-07-22, ungated weekly entries, 5-session holds, mid fills)
with ``python -m engine run`` on the build database of ``--warehouse-dir``, and by default the
same configs once more under a variant (``--variants``): ``touch`` (buy at the ask, sell at the
bid: the spread-crossing fill, which also tests the modeled bid/ask) or ``daily`` (entries every
session: about five times the trades, overlapping). A variant's configs are temporary YAML files
(the validation file with one key changed), so its runs are told apart by their config hash.
Then ``dbt build --select rpt_modeled_chain_backtest_agreement`` (its unit tests, the model, its
data tests) and prints the mart: per strategy and pooled, trades matched by entry session,
unmatched counts, Pearson correlation of per-trade P&L (USD), mean bias modeled − real.

Needs a warehouse whose build database holds the real 2019 SPX chain and the modeled SPX chain
(``marts.fct_option_chain``, ``marts.fct_option_universe_wide``). It writes ``backtest.*`` and
the mart into that build database (never the published one), holding the warehouse's pipeline
lock throughout. ``--no-dbt`` skips the dbt build and prints the model's SQL evaluated read-only
instead (the same query, nothing written besides the runs).

Run: ``WAREHOUSE_DIR=/tmp/wh_x .venv/bin/python bench/bench_modeled_backtests.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jinja2
import polars as pl
import yaml

from engine.config import load_config, read_mapping
from warehouse.paths import REPO_ROOT, WarehousePaths, connect
from warehouse.pipeline import guarded, spawn

CONFIG_DIR = REPO_ROOT / "engine" / "configs" / "validation"
MODEL = "rpt_modeled_chain_backtest_agreement"
MODEL_SQL = REPO_ROOT / "models_sql" / "models" / "forecasts" / f"{MODEL}.sql"
#: Variant name -> (section, key, value) changed in every validation config.
VARIANTS: dict[str, tuple[str, str, str]] = {
    "touch": ("execution", "fill", "touch"),
    "daily": ("entry", "schedule", "daily"),
}
COLUMNS = (
    "strategy",
    "n_matched_trades",
    "n_real_only_trades",
    "n_modeled_only_trades",
    "n_open_trades",
    "n_matched_same_legs",
    "n_matched_same_exit_date",
    "pnl_correlation",
    "pnl_correlation_same_exit_date",
    "pnl_correlation_like_for_like",
    "mean_bias_usd",
    "mean_bias_share",
    "mean_abs_pnl_difference_usd",
    "sum_real_pnl_usd",
    "sum_modeled_pnl_usd",
)


def render_model_sql(sql: str | None = None) -> str:
    """The mart's SQL with its Jinja resolved for a plain DuckDB connection: ``source(s, t)`` is
    ``s.t`` and ``var(name, default)`` its default. Used by ``--no-dbt`` and by the tests."""
    text = MODEL_SQL.read_text() if sql is None else sql
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(text)
        .render(
            source=lambda schema, table: f"{schema}.{table}",
            var=lambda name, default=None: default,
        )
    )


def variant_config_files(names: list[str], out_dir: Path) -> dict[str, list[Path]]:
    """The validation configs of each variant: ``mid`` the files themselves, any other the
    files with that variant's key changed, written under ``out_dir``.

    Raises
    ------
    ValueError
        An unknown variant (named, with the known ones) or no validation config.
    """
    files = sorted(CONFIG_DIR.glob("*.yaml"))
    if not files:
        raise ValueError(f"no validation configs in {CONFIG_DIR}")
    out: dict[str, list[Path]] = {}
    for name in names:
        if name == "mid":
            out[name] = files
            continue
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: ['mid', *{sorted(VARIANTS)}]")
        section, key, value = VARIANTS[name]
        out[name] = []
        for path in files:
            raw = read_mapping(path)
            raw.setdefault(section, {})[key] = value
            target = out_dir / f"{path.stem}_{name}.yaml"
            target.write_text(yaml.safe_dump(raw, sort_keys=False))
            load_config(target)  # validate before any run
            out[name].append(target)
    return out


def run_backtests(configs: dict[str, list[Path]], db: Path) -> None:
    """``python -m engine run`` on each config (a child of this pipeline: it inherits the lock).

    Raises
    ------
    RuntimeError
        A run that fails, naming its config and exit status.
    """
    for variant, files in configs.items():
        for path in files:
            started = time.perf_counter()
            status = spawn(
                [sys.executable, "-m", "engine", "run", "--config", str(path), "--db", str(db)]
            )
            if status != 0:
                raise RuntimeError(f"engine run of {path} ({variant}) exited {status}")
            print(f"  [{variant}] {path.name}: {time.perf_counter() - started:.1f} s", flush=True)


def build_mart(paths: WarehousePaths) -> None:
    """``dbt build --select rpt_modeled_chain_backtest_agreement`` into the warehouse's build
    database (its target and logs under the warehouse directory unless DBT_* say otherwise).

    Raises
    ------
    RuntimeError
        When dbt exits non-zero.
    """
    env = dict(os.environ)
    env.setdefault("DBT_TARGET_PATH", str(paths.root / "target"))
    env.setdefault("DBT_LOG_PATH", str(paths.root / "logs"))
    env.setdefault("DBT_PROFILES_DIR", str(REPO_ROOT))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    dbt = Path(sys.executable).with_name("dbt")
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        status = spawn(
            [str(dbt), "build", "--quiet", "--no-use-colors", "--select", MODEL], env=env
        )
    finally:
        os.chdir(cwd)
    if status != 0:
        raise RuntimeError(f"dbt build --select {MODEL} exited {status}")


def read_table(db: Path, *, from_mart: bool) -> pl.DataFrame:
    """The comparison rows: the built mart, or the model's SQL evaluated read-only."""
    con = connect(db, read_only=True)
    try:
        sql = f"select * from forecasts.{MODEL}" if from_mart else render_model_sql()
        return con.sql(sql).pl()
    finally:
        con.close()


def print_table(table: pl.DataFrame, configs: dict[str, list[Path]]) -> None:
    """One block per execution fill × entry schedule × window: the comparisons of ``configs``'
    runs, then their pooled row (other comparisons in the mart are left out)."""
    run_ids = [load_config(path).run_id for files in configs.values() for path in files]
    groups = ["execution_fill", "entry_schedule", "window_start_date", "window_end_date"]
    pairs = table.filter(pl.col("real_run_id").is_in(run_ids))
    ours = table.join(pairs.select(groups).unique(), on=groups, how="semi").filter(
        pl.col("real_run_id").is_in(run_ids) | pl.col("is_pooled")
    )
    fmt = {
        "pnl_correlation": "{:>6.3f}",
        "pnl_correlation_same_exit_date": "{:>7.3f}",
        "pnl_correlation_like_for_like": "{:>7.3f}",
        "mean_bias_usd": "{:>8.1f}",
        "mean_bias_share": "{:>6.1%}",
        "mean_abs_pnl_difference_usd": "{:>7.1f}",
        "sum_real_pnl_usd": "{:>9.0f}",
        "sum_modeled_pnl_usd": "{:>9.0f}",
    }
    header = (
        f"{'strategy':<19}{'match':>6}{'r.only':>7}{'m.only':>7}{'open':>5}{'sameleg':>8}"
        f"{'sameexit':>9}{'corr':>7}{'c.exit':>8}{'c.LfL':>8}{'bias$':>9}{'bias%':>7}{'|d|$':>8}"
        f"{'sum real':>10}{'sum mod':>10}"
    )
    for (fill, schedule, start, end), block in ours.sort(
        "execution_fill", "entry_schedule", "is_pooled", "strategy"
    ).group_by(
        "execution_fill",
        "entry_schedule",
        "window_start_date",
        "window_end_date",
        maintain_order=True,
    ):
        print(f"\nfill {fill}, {schedule} entries, real window {start} -> {end}")
        print(header)
        for row in block.iter_rows(named=True):
            cells = [f"{row['strategy']:<19}"]
            for col, width in zip(COLUMNS[1:7], (6, 7, 7, 5, 8, 9), strict=True):
                cells.append(f"{row[col]:>{width}d}")
            for col in COLUMNS[7:]:
                value = row[col]
                cells.append(
                    fmt[col].format(value)
                    if value is not None
                    else " " * (len(fmt[col].format(0.0)) - 1) + "-"
                )
            print(" " + "".join(cells[:1]) + " ".join(cells[1:]))
        target = block["target_pnl_correlation"][0]
        misses = block.filter(~pl.col("meets_target").fill_null(True))["strategy"].to_list()
        print(
            f"  target pnl correlation >= {target}: "
            + ("met by every row" if not misses else f"MISSED by {', '.join(misses)}")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "--warehouse-dir",
        type=Path,
        default=None,
        help="warehouse directory whose build/build.duckdb is used (default: $WAREHOUSE_DIR, "
        "else the repo's warehouse/)",
    )
    parser.add_argument(
        "--variants",
        default="mid,touch",
        help="comma-separated: mid (the files as they are), touch (spread-crossing fills), "
        "daily (entries every session); default mid,touch",
    )
    parser.add_argument(
        "--no-runs", action="store_true", help="skip the backtests: report the runs already there"
    )
    parser.add_argument(
        "--no-dbt",
        action="store_true",
        help="skip the dbt build: evaluate the model's SQL read-only instead",
    )
    args = parser.parse_args(argv)
    if args.warehouse_dir is not None:
        os.environ["WAREHOUSE_DIR"] = str(args.warehouse_dir.resolve())
    paths = WarehousePaths.from_env()
    if not paths.build_db.is_file():
        print(f"error: no build database at {paths.build_db}", file=sys.stderr)
        return 1
    names = [v.strip() for v in args.variants.split(",") if v.strip()]

    def body() -> int:
        with tempfile.TemporaryDirectory(prefix="modeled_backtests_") as tmp:
            configs = variant_config_files(names, Path(tmp))
            started = time.perf_counter()
            if not args.no_runs:
                print(f"backtesting {sum(map(len, configs.values()))} configs on {paths.build_db}")
                run_backtests(configs, paths.build_db)
            runs_s = time.perf_counter() - started
            started = time.perf_counter()
            if not args.no_dbt:
                build_mart(paths)
            dbt_s = time.perf_counter() - started
            table = read_table(paths.build_db, from_mart=not args.no_dbt)
            print(
                f"\nbacktests {runs_s:.1f} s, dbt build {dbt_s:.1f} s; "
                f"{'forecasts.' + MODEL if not args.no_dbt else 'model SQL, read-only'}:"
            )
            print_table(table, configs)
        return 0

    try:
        return guarded(paths.root, body)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
