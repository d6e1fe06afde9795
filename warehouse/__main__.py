"""``python -m warehouse``: publish the build database, or show what the published one holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from warehouse.manifest import (
    STAGES,
    dbt_invocation_id,
    manifest_path,
    problems,
    read_manifest,
    run_stage,
    start_run,
)
from warehouse.paths import WarehousePaths, connect
from warehouse.pipeline import die_with_parent, guarded, lock_fds, run_locked
from warehouse.publish import PUBLISH_STAGES, PublishRefusedError, default_run_results, publish

PUBLISH_DESCRIPTION = (
    "Copy build/build.duckdb atomically over options.duckdb, under the pipeline lock. Refused "
    "(exit 2, naming what is missing) unless the last dbt invocation was a green `dbt build` and "
    "the run manifest (build/run_manifest.json) shows every stage of the current pipeline run "
    "completed (load, build, train, predict, backtest, attribute), its last dbt stage being that "
    "very invocation. `make all` records every stage; so do `make load|build|forecast|backtest|"
    "attribution` on their own (`make build DBT_ARGS='--select ...'`), and `python -m warehouse "
    "stage NAME -- COMMAND` for a command run by hand. After a `dbt build` run by hand, "
    "`--stages build` (make publish STAGES=build) publishes that build alone: it checks only the "
    "green build, so the ml, backtest and attribution tables are whatever the build database holds."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse",
        description="Publish the private build database to readers, list the published one, "
        "compare two warehouses, or run a command under the pipeline lock.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser(
        "publish",
        help="copy build/build.duckdb atomically to options.duckdb (complete pipeline run only)",
        description=PUBLISH_DESCRIPTION,
    )
    pub.add_argument(
        "--stages",
        choices=PUBLISH_STAGES,
        default="all",
        help="all: every stage of the current pipeline run must have completed (default); "
        "build: a build-only publish of the last `dbt build`, e.g. one run by hand",
    )
    pub.add_argument(
        "--run-results",
        type=str,
        default=None,
        help=f"dbt run_results.json proving a green build (default {default_run_results()})",
    )
    sub.add_parser("tables", help="list the published tables and their row counts")
    sql = sub.add_parser(
        "sql",
        help="read-only SQL console on the published warehouse (stdin or interactive)",
        description="Run SQL queries (end each with ';') on the published warehouse, opened "
        "read-only with file access, extension loading and configuration changes disabled; "
        "each statement is bounded in time, memory, threads and size (warehouse/sql.py). "
        "Interactive on a terminal; otherwise reads statements from stdin.",
    )
    from warehouse.sql import add_arguments as add_sql_arguments

    add_sql_arguments(sql)
    compare = sub.add_parser(
        "compare",
        help="list the tables whose content differs between two warehouse databases",
        description="Fingerprint every table of A and B independently of row order (row "
        "count and exact sums of row hashes, warehouse/compare.py) and list the tables that "
        "differ, with the columns whose values differ. Columns that time the run itself "
        "(loaded_at, invocation_id, ...) are left out unless --strict. Exit status 0 when every "
        "table is identical, 1 otherwise.",
    )
    compare.add_argument("a", type=Path, metavar="A.duckdb")
    compare.add_argument("b", type=Path, metavar="B.duckdb")
    compare.add_argument(
        "--strict",
        action="store_true",
        help="compare the run's own timestamps too (loaded_at, invocation_id, ...)",
    )
    locked = sub.add_parser(
        "locked",
        help="run a command holding the pipeline lock (one pipeline at a time)",
        description="Run COMMAND while holding <WAREHOUSE_DIR>/.pipeline.lock; fail at once "
        "with 'pipeline already running (pid N)' if another pipeline holds it. COMMAND and what "
        "it starts inherit the lock's descriptor, so the lock lasts while any of them runs, and "
        "COMMAND gets SIGTERM if this process dies (Linux).",
    )
    locked.add_argument(
        "--new-run",
        action="store_true",
        help="start a new pipeline run in the run manifest first (make all)",
    )
    locked.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    stage = sub.add_parser(
        "stage",
        help="run one pipeline stage under the pipeline lock and record it in the run manifest",
        description="Run COMMAND as stage NAME of the current pipeline run: under the pipeline "
        "lock (the pipeline's own inside `make all`, else taken here), marked running in "
        "build/run_manifest.json before it starts and completed or failed after; the dbt stages "
        "(build, attribute) record the invocation id of the run_results.json their dbt wrote. "
        "`python -m warehouse publish` needs every stage completed.",
    )
    stage.add_argument("--new-run", action="store_true", help="start a new pipeline run first")
    stage.add_argument("name", choices=STAGES, metavar="NAME", help=", ".join(STAGES))
    stage.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    sub.add_parser(
        "manifest",
        help="print the run manifest and whether a publish would be accepted",
    )
    args = parser.parse_args(argv)
    paths = WarehousePaths.from_env()

    if args.command == "locked":
        command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not command:
            parser.error("locked: give a command after --")

        def new_run() -> None:
            print(f"pipeline run {start_run(paths)}", flush=True)

        return run_locked(paths.root, command, new_run if args.new_run else None)

    if args.command == "stage":
        command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not command:
            parser.error("stage: give a command after --")
        if lock_fds():  # inside a pipeline: a killed make or wrapper above stops it (Linux)
            die_with_parent()
        return run_stage(paths, args.name, command, default_run_results(), new_run=args.new_run)

    if args.command == "manifest":
        try:
            manifest = read_manifest(paths)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            json.dumps(manifest, indent=2)
            if manifest
            else f"no run manifest at {manifest_path(paths)}"
        )
        run_results = default_run_results()
        found = problems(manifest, dbt_invocation_id(run_results), str(run_results))
        print("publish: " + ("accepted" if not found else f"refused: {found[0]}"))
        return 0 if not found else 1

    if args.command == "compare":
        from warehouse.compare import compare_warehouses

        try:
            comparison = compare_warehouses(args.a, args.b, strict=args.strict)
        except FileNotFoundError as exc:
            print(f"compare: {exc}", file=sys.stderr)
            return 2
        print("\n".join(comparison.lines()))
        return 0 if comparison.identical else 1

    if args.command == "sql":
        from warehouse.sql import main as sql_main

        return sql_main(args, paths.published_db)

    if args.command == "publish":
        run_results = Path(args.run_results) if args.run_results else None

        def publish_locked() -> int:
            try:
                target = publish(paths, run_results, args.stages)
            except (PublishRefusedError, FileNotFoundError) as exc:
                print(f"publish refused: {exc}", file=sys.stderr)
                return 2
            if args.stages == "build":
                print(
                    "note: build-only publish: checked only that the last dbt invocation "
                    f"({dbt_invocation_id(run_results or default_run_results())}) was a green "
                    "`dbt build`; the load, train, predict, backtest and attribute stages were "
                    "not checked",
                    file=sys.stderr,
                )
            print(f"published warehouse: {target}")
            return 0

        return guarded(paths.root, publish_locked)

    con = connect(paths.published_db, read_only=True)
    try:
        tables = con.sql(
            "select schema_name, table_name from duckdb_tables() order by schema_name, table_name"
        ).fetchall()
        for schema, table in tables:
            n = con.sql(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            print(f"{schema}.{table:<40} {n:>10,} rows")
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
