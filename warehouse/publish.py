"""Publish the build database to readers, atomically, after a complete pipeline run.

What is checked first (:func:`check_publishable`): dbt's ``run_results.json`` must be a green
``dbt build``, and the run manifest (:mod:`warehouse.manifest`) must show every stage of the current
pipeline run completed (load, build, train, predict, backtest, attribute) with its last dbt stage
being that very invocation, so a kill -9 of any stage, or a dbt run outside the pipeline, cannot
publish a half-built warehouse behind last run's green run results. A build-only publish
(``stages="build"``, ``python -m warehouse publish --stages build``) checks the green build alone,
for a hand-run ``dbt build``; it still refuses run results that a killed dbt stage left behind.

Why a copy and not a shared file: DuckDB lets one process open a file read-write *or* many
read-only, never both, so a reader (the app, a notebook) holding the published file would make a
running ``dbt build`` fail on its lock. Writers therefore build into ``build/build.duckdb``; this
step checkpoints and closes it (the ``.wal`` merged into the file: a file copy with a pending
``.wal`` would lose committed rows), copies the file into a temporary file and ``os.replace``s
the published file, so a reader sees either the old warehouse or the new one, never half of one
(../shared/FIELD_NOTES.md, DuckDB). A file copy, not ``COPY FROM DATABASE``: the same 2 GB
warehouse in 3 s instead of 49 (the pipeline holds its lock, so no writer can add to the
``.wal`` between the checkpoint and the copy); when a ``.wal`` survives the checkpoint the
publish falls back to ``COPY FROM DATABASE``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from warehouse.manifest import build_only_problems, dbt_invocation_id, problems, read_manifest
from warehouse.paths import REPO_ROOT, WarehousePaths, connect

# dbt statuses of a green build: models succeed, tests pass. "warn" is a test whose severity the
# project set to warn on purpose, with the reason in its yml; it does not block publishing.
# Exposures (the app, the ML models) run nothing: dbt reports them as "no-op".
GREEN_STATUSES = frozenset({"success", "pass", "warn"})
NO_OP_PREFIXES = ("exposure.",)


#: What a publish checks: every stage of the pipeline run, or a build-only publish.
PUBLISH_STAGES = ("all", "build")


class PublishRefusedError(RuntimeError):
    """Publishing is refused; the message says why and what to run."""


class BuildNotGreenError(PublishRefusedError):
    """The last dbt invocation failed, errored, skipped a node or was not a build."""


class RunIncompleteError(PublishRefusedError):
    """A stage of the pipeline run did not complete, or dbt ran outside the pipeline's stages."""


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


def check_publishable(
    paths: WarehousePaths, run_results: Path | None = None, stages: str = "all"
) -> str | None:
    """Check that the build database may be published.

    Parameters
    ----------
    paths
        The warehouse; its run manifest is ``build/run_manifest.json``.
    run_results
        dbt's ``run_results.json`` (default :func:`default_run_results`).
    stages
        ``"all"``: the green build, then every stage of the current pipeline run completed and
        its last dbt stage recorded this ``run_results.json``'s invocation id. ``"build"``: the
        green build alone (a hand-run ``dbt build``), unless it is the build a killed dbt stage
        was replacing.

    Returns
    -------
    str | None
        The dbt invocation id of ``run_results``.

    Raises
    ------
    BuildNotGreenError
        See :func:`check_green_build`.
    RunIncompleteError
        Naming the missing, killed or failed stage, or the dbt run outside the pipeline.
    ValueError
        ``stages`` is not one of :data:`PUBLISH_STAGES`.
    """
    if stages not in PUBLISH_STAGES:
        raise ValueError(f"stages must be one of {', '.join(PUBLISH_STAGES)}, got {stages!r}")
    run_results = run_results or default_run_results()
    check_green_build(run_results)
    invocation = dbt_invocation_id(run_results)
    try:
        manifest = read_manifest(paths)
    except ValueError as exc:
        if stages == "all":
            raise RunIncompleteError(str(exc)) from exc
        manifest = None
    if stages == "all":
        found = problems(manifest, invocation, str(run_results))
    else:
        found = build_only_problems(manifest, invocation)
    if found:
        raise RunIncompleteError(found[0])
    return invocation


def publish(paths: WarehousePaths, run_results: Path | None = None, stages: str = "all") -> Path:
    """Copy the build database over the published one atomically, after
    :func:`check_publishable` (``stages``: ``"all"`` or ``"build"``, see there).

    Returns
    -------
    Path
        The published database file.

    Raises
    ------
    PublishRefusedError
        :class:`BuildNotGreenError` or :class:`RunIncompleteError`; nothing is published.
    FileNotFoundError
        If the build database does not exist.
    """
    check_publishable(paths, run_results, stages)
    if not paths.build_db.exists():
        raise FileNotFoundError(f"build database not found: {paths.build_db}")
    target = paths.published_db
    # Not "<name>.tmp": that is DuckDB's default spill directory of the published file.
    tmp = target.with_name(target.name + ".publishing")
    tmp.unlink(missing_ok=True)
    con = connect(str(paths.build_db))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if paths.build_db.with_name(paths.build_db.name + ".wal").exists():
        _copy_database(paths.build_db, tmp)
    else:
        shutil.copyfile(paths.build_db, tmp)
    os.replace(tmp, target)
    return target


def _copy_database(source: Path, target: Path) -> None:
    """Copy ``source`` into a new database file ``target`` table by table (``COPY FROM
    DATABASE``, which reads rows still pending in the source's ``.wal``)."""
    con = connect(":memory:")
    try:
        con.execute(f"ATTACH '{source}' AS build_db (READ_ONLY)")
        con.execute(f"ATTACH '{target}' AS published_db")
        con.execute("COPY FROM DATABASE build_db TO published_db")
        con.execute("CHECKPOINT published_db")
        con.execute("DETACH published_db")
        con.execute("DETACH build_db")
    finally:
        con.close()
