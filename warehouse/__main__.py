"""``python -m warehouse``: publish the build database, or show what the published one holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warehouse.paths import WarehousePaths, connect
from warehouse.pipeline import run_locked
from warehouse.publish import BuildNotGreenError, default_run_results, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse",
        description="Publish the private build database to readers, list the published one, or "
        "run a command under the pipeline lock.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="copy build/build.duckdb atomically to options.duckdb")
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
        description="Run SQL statements (end each with ';') on the published warehouse, opened "
        "read-only with file access, extension loading and configuration changes disabled. "
        "Interactive on a terminal; otherwise reads statements from stdin.",
    )
    sql.add_argument("--max-rows", type=int, default=100, help="rows printed per result")
    sql.add_argument("--db", type=Path, default=None, help="database (default: the published one)")
    locked = sub.add_parser(
        "locked",
        help="run a command holding the pipeline lock (one pipeline at a time)",
        description="Run COMMAND while holding <WAREHOUSE_DIR>/.pipeline.lock; fail at once "
        "with 'pipeline already running (pid N)' if another pipeline holds it.",
    )
    locked.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    args = parser.parse_args(argv)
    paths = WarehousePaths.from_env()

    if args.command == "locked":
        command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not command:
            parser.error("locked: give a command after --")
        return run_locked(paths.root, command)

    if args.command == "sql":
        from warehouse.sql import main as sql_main

        return sql_main(args.db or paths.published_db, args.max_rows)

    if args.command == "publish":
        try:
            run_results = Path(args.run_results) if args.run_results else None
            target = publish(paths, run_results)
        except (BuildNotGreenError, FileNotFoundError) as exc:
            print(f"publish refused: {exc}", file=sys.stderr)
            return 2
        print(f"published warehouse: {target}")
        return 0

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
