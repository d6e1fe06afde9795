"""The run manifest: which stages of the pipeline run behind the build database finished.

``dbt``'s ``target/run_results.json`` only says how the *last dbt invocation* went: after a kill -9
of ``python -m ml train`` (or of ``dbt build`` itself, which then writes no run results) it still
shows the previous run's green build. So every stage of the pipeline records itself in
``<WAREHOUSE_DIR>/build/run_manifest.json``, beside the build database it describes, and
``python -m warehouse publish`` refuses unless every stage of the current run completed (see
:func:`problems`).

A run starts with ``python -m warehouse locked --new-run`` (``make all``) and gets a run id. Each
stage runs through ``python -m warehouse stage NAME -- COMMAND`` (every writer target of the
Makefile does so), which marks it ``running`` before the command starts and ``completed`` or
``failed`` (with the exit status) after it ends; the dbt stages also record the
``metadata.invocation_id`` of the ``run_results.json`` their dbt wrote. A stage whose process was
killed stays ``running``. A stage run on its own (``make build``, ``make forecast``) joins the
current run, replacing its earlier record; without a manifest it starts one. Writes happen under
the pipeline lock and replace the file atomically. Example::

    {"run_id": "20261206T114000Z-3f9c2a", "started_at": "2026-12-06T11:40:00Z", "seq": 4,
     "stages": {
       "load":  {"status": "completed", "exit_code": 0, "pid": 4242, "seq": 2,
                 "command": "python -m loaders load", "started_at": "…", "finished_at": "…"},
       "build": {"status": "running", "pid": 4300, "seq": 3, "command": "dbt build",
                 "started_at": "…", "dbt_invocation_before": "60b414f3-…"}}}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warehouse.paths import WarehousePaths
from warehouse.pipeline import guarded, spawn

#: The stages of ``make all``, in order; a full publish needs every one completed in one run.
STAGES: tuple[str, ...] = ("load", "build", "train", "predict", "backtest", "attribute")
#: Stages that run dbt: they record the invocation id of the run_results.json it wrote.
DBT_STAGES = frozenset({"build", "attribute"})
#: The Makefile target that runs each stage on its own.
STAGE_TARGETS = {
    "load": "load",
    "build": "build",
    "train": "forecast",
    "predict": "forecast",
    "backtest": "backtest",
    "attribute": "attribution",
}
MANIFEST_NAME = "run_manifest.json"

Manifest = dict[str, Any]


def manifest_path(paths: WarehousePaths) -> Path:
    """``build/run_manifest.json``, beside the build database it describes."""
    return paths.build_db.parent / MANIFEST_NAME


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_manifest(paths: WarehousePaths) -> Manifest | None:
    """The manifest, or ``None`` when there is none.

    Raises
    ------
    ValueError
        If the file is not a manifest (not JSON, or no ``run_id``/``stages``).
    """
    path = manifest_path(paths)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable run manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or not {"run_id", "stages"} <= manifest.keys():
        raise ValueError(f"{path} is not a run manifest (no run_id or stages)")
    return manifest


def _write(paths: WarehousePaths, manifest: Manifest) -> None:
    path = manifest_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as handle:
        json.dump(manifest, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _new_run(started_by: str) -> Manifest:
    now = dt.datetime.now(dt.UTC)
    return {
        "run_id": f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
        "started_at": _now(),
        "started_by": started_by,
        "seq": 0,
        "stages": {},
    }


def start_run(paths: WarehousePaths, started_by: str = "make all") -> str:
    """Start a new pipeline run (every stage not yet run); return its run id. Under the lock."""
    manifest = _new_run(started_by)
    _write(paths, manifest)
    return manifest["run_id"]


def _current(paths: WarehousePaths, stage: str) -> Manifest:
    try:
        manifest = read_manifest(paths)
    except ValueError as exc:
        print(f"warning: {exc}; starting a new run", file=sys.stderr)
        manifest = None
    return manifest if manifest is not None else _new_run(f"stage {stage}")


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")


def begin_stage(
    paths: WarehousePaths,
    stage: str,
    command: str,
    dbt_invocation_before: str | None = None,
) -> None:
    """Mark ``stage`` of the current run ``running`` (a new run when there is no manifest).

    ``dbt_invocation_before`` is the invocation id of ``run_results.json`` as the stage starts:
    if the stage dies, a publish of that (older) build can be told apart from a newer one.

    Raises
    ------
    ValueError
        ``stage`` is not one of :data:`STAGES`.
    """
    _check_stage(stage)
    manifest = _current(paths, stage)
    manifest["seq"] = manifest.get("seq", 0) + 1
    manifest["stages"][stage] = {
        "status": "running",
        "command": command,
        "pid": os.getpid(),
        "seq": manifest["seq"],
        "started_at": _now(),
        "dbt_invocation_before": dbt_invocation_before,
    }
    _write(paths, manifest)


def finish_stage(
    paths: WarehousePaths,
    stage: str,
    exit_code: int,
    *,
    dbt_invocation_id: str | None = None,
    error: str | None = None,
) -> None:
    """Mark ``stage`` ``completed`` (``exit_code`` 0 and no ``error``) or ``failed``.

    ``dbt_invocation_id``: for :data:`DBT_STAGES`, the invocation id of the ``run_results.json``
    the stage's dbt wrote. ``error``: why a stage whose command exited 0 still failed.
    """
    _check_stage(stage)
    manifest = _current(paths, stage)
    entry = manifest["stages"].setdefault(stage, {"started_at": _now(), "pid": os.getpid()})
    manifest["seq"] = manifest.get("seq", 0) + 1
    entry.update(
        status="completed" if exit_code == 0 and error is None else "failed",
        exit_code=exit_code,
        seq=manifest["seq"],
        finished_at=_now(),
    )
    if dbt_invocation_id is not None:
        entry["dbt_invocation_id"] = dbt_invocation_id
    if error is not None:
        entry["error"] = error
    _write(paths, manifest)


def dbt_invocation_id(run_results: Path) -> str | None:
    """``metadata.invocation_id`` of a dbt ``run_results.json``; ``None`` if missing/unreadable."""
    try:
        results = json.loads(run_results.read_text())
    except (OSError, ValueError):
        return None
    metadata = results.get("metadata") if isinstance(results, dict) else None
    invocation = metadata.get("invocation_id") if isinstance(metadata, dict) else None
    return invocation if isinstance(invocation, str) else None


def _describe(stage: str, entry: dict | None) -> str:
    if entry is None:
        return f"{stage} never ran"
    if entry.get("status") == "running":
        return (
            f"{stage} started at {entry.get('started_at')} (pid {entry.get('pid')}) and never "
            "finished (its process was killed)"
        )
    if entry.get("status") == "failed":
        reason = entry.get("error") or f"exit status {entry.get('exit_code')}"
        return f"{stage} failed ({reason})"
    return f"{stage} is {entry.get('status')!r}"


def _rerun_hint(missing: Sequence[str]) -> str:
    targets = " ".join(dict.fromkeys(STAGE_TARGETS[s] for s in missing))
    return f"Run `make all` (or `make {targets}`), then publish"


def problems(manifest: Manifest | None, invocation_id: str | None, label: str) -> list[str]:
    """Why a full publish of the build database this manifest describes must be refused.

    Parameters
    ----------
    manifest
        From :func:`read_manifest`.
    invocation_id
        ``metadata.invocation_id`` of the green ``run_results.json`` publish checked.
    label
        How to name that file in the messages (its path).

    Returns
    -------
    list[str]
        Empty when the run has every stage of :data:`STAGES` completed and the last dbt stage it
        recorded is that invocation; else one message naming what is missing or failed and what
        to run.
    """
    if manifest is None:
        return [
            "no pipeline run manifest: no stage of a pipeline run was recorded. Run `make all` "
            "(or `make publish STAGES=build` to publish the last `dbt build` alone)"
        ]
    stages = manifest["stages"]
    not_done = [s for s in STAGES if (stages.get(s) or {}).get("status") != "completed"]
    if not_done:
        return [
            f"pipeline run {manifest['run_id']} is not complete: "
            + "; ".join(_describe(s, stages.get(s)) for s in not_done)
            + f". {_rerun_hint(not_done)}"
        ]
    name, last = max(((s, stages[s]) for s in DBT_STAGES), key=lambda item: item[1].get("seq", 0))
    if last.get("dbt_invocation_id") != invocation_id:
        return [
            f"{label} is dbt invocation {invocation_id}, but the last dbt stage of pipeline run "
            f"{manifest['run_id']} ({name}, finished {last.get('finished_at')}) recorded "
            f"{last.get('dbt_invocation_id')}: dbt ran outside the pipeline's stages (a hand-run "
            "`dbt build`?). Run dbt through `make build` / `make attribution`, or publish that "
            "build alone with `make publish STAGES=build`"
        ]
    return []


def build_only_problems(manifest: Manifest | None, invocation_id: str | None) -> list[str]:
    """Why a build-only publish (``--stages build``) of ``invocation_id`` must be refused: it is
    the build a dbt stage replaced before dying (that stage's dbt started after it and never
    wrote its own run results, so the build database may hold part of each)."""
    if manifest is None:
        return []
    for stage in sorted(DBT_STAGES):
        entry = manifest["stages"].get(stage) or {}
        if entry.get("status") != "completed" and (
            invocation_id is not None and entry.get("dbt_invocation_before") == invocation_id
        ):
            return [
                f"the last dbt run results (invocation {invocation_id}) predate stage "
                f"{_describe(stage, entry)} of pipeline run {manifest['run_id']}: the build "
                f"database may hold part of that unfinished dbt run. Run `make "
                f"{STAGE_TARGETS[stage]}` (or `make all`), then publish"
            ]
    return []


def run_stage(
    paths: WarehousePaths,
    stage: str,
    command: Sequence[str],
    run_results: Path,
    *,
    new_run: bool = False,
) -> int:
    """``python -m warehouse stage``: run ``command`` as ``stage`` of the current pipeline run,
    under the pipeline lock (the pipeline's own inside ``make all``, else taken here), recording
    it in the manifest before and after; return the command's exit status (75: another
    pipeline runs, nothing recorded).

    A dbt stage whose command exits 0 but leaves ``run_results`` unchanged (it did not run dbt,
    or dbt wrote elsewhere) is recorded failed. The command dies with this process (Linux,
    :func:`warehouse.pipeline.spawn`); a killed stage stays ``running`` in the manifest.
    """
    _check_stage(stage)

    def body() -> int:
        if new_run:
            start_run(paths, started_by=f"stage {stage}")
        before = dbt_invocation_id(run_results) if stage in DBT_STAGES else None
        begin_stage(paths, stage, shlex.join(command), before)
        code = spawn(command)
        invocation, error = None, None
        if stage in DBT_STAGES:
            invocation = dbt_invocation_id(run_results)
            if code == 0 and (invocation is None or invocation == before):
                error = f"the command wrote no new dbt run results at {run_results}"
        finish_stage(paths, stage, code, dbt_invocation_id=invocation, error=error)
        if error is not None:
            print(f"error: stage {stage}: {error}", file=sys.stderr)
            return code or 1
        return code

    return guarded(paths.root, body)
