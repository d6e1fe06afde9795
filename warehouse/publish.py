"""Publish the build database to readers, atomically, after a green dbt build.

Why a copy and not a shared file: DuckDB lets one process open a file read-write *or* many
read-only, never both, so a reader (the app, a notebook) holding the published file would make a
running ``dbt build`` fail on its lock. Writers therefore build into ``build/build.duckdb``; this
step copies it with ``COPY FROM DATABASE`` (which never misses rows pending in a ``.wal``, unlike a
file copy) into a temporary file and ``os.replace``s the published file, so a reader sees either
the old warehouse or the new one, never half of one (../shared/FIELD_NOTES.md, DuckDB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from warehouse.paths import REPO_ROOT, WarehousePaths, connect

# dbt statuses of a green build: models succeed, tests pass. "warn" is a test whose severity the
# project set to warn on purpose, with the reason in its yml; it does not block publishing.
# Exposures (the app, the ML models) run nothing: dbt reports them as "no-op".
GREEN_STATUSES = frozenset({"success", "pass", "warn"})
NO_OP_PREFIXES = ("exposure.",)


class BuildNotGreenError(RuntimeError):
    """The last dbt invocation failed, errored, skipped a node or was not a build."""


def default_run_results() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH", REPO_ROOT / "target")) / "run_results.json"


def check_green_build(run_results: Path) -> int:
    """Check dbt's ``run_results.json`` of the last invocation.

    Returns
    -------
    int
        Number of nodes (models, seeds, tests) the build ran, all green.

    Raises
    ------
    BuildNotGreenError
        If the file is missing, the last command was not ``dbt build``, or any node is not green;
        the message names the first offending nodes and their status.
    """
    if not run_results.exists():
        raise BuildNotGreenError(f"no dbt run results at {run_results}: run `dbt build` first")
    results = json.loads(run_results.read_text())
    command = results.get("args", {}).get("which")
    if command != "build":
        raise BuildNotGreenError(
            f"the last dbt invocation was `dbt {command}`, not `dbt build`: "
            "publish needs a green build"
        )
    bad = [
        f"{r['unique_id']} ({r['status']})"
        for r in results["results"]
        if r["status"] not in GREEN_STATUSES
        and not (r["status"] == "no-op" and r["unique_id"].startswith(NO_OP_PREFIXES))
    ]
    if bad:
        raise BuildNotGreenError(
            f"dbt build is not green, {len(bad)} node(s) failed or were skipped: "
            f"{', '.join(bad[:5])}"
        )
    return len(results["results"])


def publish(paths: WarehousePaths, run_results: Path | None = None) -> Path:
    """Copy the build database over the published one atomically.

    Returns
    -------
    Path
        The published database file.

    Raises
    ------
    BuildNotGreenError
        See :func:`check_green_build`; nothing is published.
    FileNotFoundError
        If the build database does not exist.
    """
    check_green_build(run_results or default_run_results())
    if not paths.build_db.exists():
        raise FileNotFoundError(f"build database not found: {paths.build_db}")
    target = paths.published_db
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = connect(":memory:")
    try:
        con.execute(f"ATTACH '{paths.build_db}' AS build_db (READ_ONLY)")
        con.execute(f"ATTACH '{tmp}' AS published_db")
        con.execute("COPY FROM DATABASE build_db TO published_db")
        con.execute("CHECKPOINT published_db")
        con.execute("DETACH published_db")
        con.execute("DETACH build_db")
    finally:
        con.close()
    os.replace(tmp, target)
    return target
