"""Publish checks that every stage of THIS pipeline run finished (issue 15, item 2).

Real processes throughout: ``python -m warehouse stage|locked|publish`` and make, with tiny
stand-ins for the slow stages. The stand-in dbt writes a green ``run_results.json`` with a new
invocation id, as ``dbt build`` does when it finishes (and only then).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from warehouse import manifest
from warehouse.paths import REPO_ROOT, WarehousePaths

#: dbt's stand-in: after ``argv[2]`` seconds (default 0), a green `dbt build` run_results.json
#: with a new invocation id, written whole; before that it writes its pid to ``argv[1]``.
FAKE_DBT = """
import json, os, sys, time, uuid
from pathlib import Path
if len(sys.argv) > 1:
    Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
target = Path(os.environ["DBT_TARGET_PATH"])
target.mkdir(parents=True, exist_ok=True)
results = {
    "metadata": {"invocation_id": str(uuid.uuid4())},
    "args": {"which": "build"},
    "results": [{"unique_id": "model.options_warehouse.x", "status": "success"}],
}
(target / "run_results.json.tmp").write_text(json.dumps(results))
os.replace(target / "run_results.json.tmp", target / "run_results.json")
"""
#: A slow stage's stand-in (ml train): writes its pid to ``argv[1]``, then runs a minute.
SLOW = (
    "import os, sys, time; from pathlib import Path; "
    "Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(60)"
)
QUICK = "pass"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A throwaway warehouse whose build database holds one table."""
    root = tmp_path / "warehouse"
    (root / "build").mkdir(parents=True)
    with duckdb.connect(str(root / "build" / "build.duckdb")) as con:
        con.execute("create table t as select 1 as x")
    (tmp_path / "fake_dbt.py").write_text(FAKE_DBT)
    return root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAREHOUSE_PIPELINE_")}
    return {
        **env,
        "WAREHOUSE_DIR": str(root),
        "DBT_TARGET_PATH": str(root / "target"),
        "PYTHONPATH": str(REPO_ROOT),
    }


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=_env(root),
        cwd=REPO_ROOT,
        timeout=120,
    )


def _fake_dbt(root: Path) -> list[str]:
    return [sys.executable, str(root.parent / "fake_dbt.py")]


def _stage(root: Path, name: str, *command: str, new_run: bool = False):
    first = ["--new-run"] if new_run else []
    return _run(root, "-m", "warehouse", "stage", *first, name, "--", *command)


def _complete_run(root: Path) -> None:
    """Every stage of a pipeline run, stand-ins for their commands."""
    for name in manifest.STAGES:
        command = _fake_dbt(root) if name in manifest.DBT_STAGES else [sys.executable, "-c", QUICK]
        done = _stage(root, name, *command, new_run=name == "load")
        assert done.returncode == 0, done.stderr


def _publish(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(root, "-m", "warehouse", "publish", *args)


def _wait_for_pid(path: Path, proc: subprocess.Popen | None = None) -> int:
    deadline = time.monotonic() + 60
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline and (proc is None or proc.poll() is None)
        time.sleep(0.05)
    return int(path.read_text())


def test_a_complete_run_publishes(root: Path) -> None:
    _complete_run(root)
    done = _publish(root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"published warehouse: {root / 'options.duckdb'}"
    recorded = manifest.read_manifest(WarehousePaths(root))
    assert recorded is not None
    assert {s: e["status"] for s, e in recorded["stages"].items()} == dict.fromkeys(
        manifest.STAGES, "completed"
    )
    run_results = json.loads((root / "target" / "run_results.json").read_text())
    assert (
        recorded["stages"]["attribute"]["dbt_invocation_id"]
        == (run_results["metadata"]["invocation_id"])
    )


def _pipeline_makefile(root: Path, slow_pid: Path) -> Path:
    """A tiny `make pipeline` wired like the real one (Makefile): each writer a recorded
    stage, `train` the slow one, publish last."""
    python, stage = sys.executable, f"{sys.executable} -m warehouse stage"
    dbt = " ".join(_fake_dbt(root))
    makefile = root.parent / "pipeline.mk"
    makefile.write_text(
        "SHELL := /bin/bash\n.SHELLFLAGS := -eu -o pipefail -c\npipeline:\n"
        f"\t{stage} load -- {python} -c {QUICK}\n"
        f"\t{stage} build -- {dbt}\n"
        f'\t{stage} train -- {python} -c "{SLOW}" {slow_pid}\n'
        f"\t{stage} predict -- {python} -c {QUICK}\n"
        f"\t{stage} backtest -- {python} -c {QUICK}\n"
        f"\t{stage} attribute -- {dbt}\n"
        f"\t{python} -m warehouse publish\n"
    )
    return makefile


@pytest.mark.parametrize("killed", ["command", "stage wrapper"])
def test_kill_9_of_a_stage_mid_pipeline_then_publish_refuses_naming_it(
    root: Path, killed: str
) -> None:
    _complete_run(root)  # last run's green run_results.json and published warehouse
    assert _publish(root).returncode == 0
    slow_pid = root.parent / "train.pid"
    make = ["make", "-s", "-f", str(_pipeline_makefile(root, slow_pid))]
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "warehouse", "locked", "--new-run", "--", *make],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(root),
        cwd=REPO_ROOT,
    )
    train = _wait_for_pid(slow_pid, pipeline)
    if killed == "command":
        os.kill(train, 9)  # kill -9 of `python -m ml train`
    else:  # kill -9 of `python -m warehouse stage train`; its command dies with it
        os.kill(int(Path(f"/proc/{train}/stat").read_text().rsplit(")", 1)[1].split()[1]), 9)
    _, err = pipeline.communicate(timeout=60)
    assert pipeline.returncode != 0, err  # make stopped at train: nothing published

    done = _publish(root)

    assert done.returncode == 2
    if killed == "command":
        assert "train failed (exit status 137)" in done.stderr
    else:
        assert "train started at" in done.stderr and "never finished" in done.stderr
    assert "predict never ran; backtest never ran; attribute never ran" in done.stderr
    assert "make forecast backtest attribution" in done.stderr


def test_kill_9_of_dbt_build_leaves_the_last_run_results_unpublishable(root: Path) -> None:
    """dbt killed mid-build writes no run results: the previous build's green ones stay, over a
    build database now holding part of the new build."""
    _complete_run(root)
    assert _stage(root, "load", sys.executable, "-c", QUICK, new_run=True).returncode == 0
    dbt_pid = root.parent / "dbt.pid"
    slow_dbt = [*_fake_dbt(root), str(dbt_pid), "60"]
    build = subprocess.Popen(
        [sys.executable, "-m", "warehouse", "stage", "build", "--", *slow_dbt],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(root),
        cwd=REPO_ROOT,
    )
    os.kill(_wait_for_pid(dbt_pid, build), 9)
    assert build.wait(timeout=60) == 137

    done = _publish(root)
    assert done.returncode == 2
    assert "build failed (exit status 137)" in done.stderr
    # not even as a build-only publish: those run results are the build dbt was replacing
    done = _publish(root, "--stages", "build")
    assert done.returncode == 2
    assert "predate stage build failed (exit status 137)" in done.stderr


def test_a_dbt_build_run_by_hand_is_published_as_a_stage_or_build_only(root: Path) -> None:
    _complete_run(root)
    assert _run(root, str(root.parent / "fake_dbt.py")).returncode == 0  # `dbt build` by hand

    done = _publish(root)
    assert done.returncode == 2
    assert "dbt ran outside the pipeline's stages" in done.stderr
    assert "make publish STAGES=build" in done.stderr

    done = _publish(root, "--stages", "build")
    assert done.returncode == 0, done.stderr
    assert "build-only publish" in done.stderr

    # the same dbt build recorded as the run's build stage (what `make build` does)
    assert _stage(root, "build", *_fake_dbt(root)).returncode == 0
    done = _publish(root)
    assert done.returncode == 0, done.stderr


def test_a_dbt_stage_that_writes_no_run_results_fails(root: Path) -> None:
    _complete_run(root)
    done = _stage(root, "build", sys.executable, "-c", QUICK)
    assert done.returncode == 1
    assert "wrote no new dbt run results" in done.stderr
    refused = _publish(root)
    assert refused.returncode == 2 and "build failed (the command wrote no new" in refused.stderr


def test_without_a_manifest_publish_refuses_and_says_what_to_run(root: Path) -> None:
    assert _run(root, str(root.parent / "fake_dbt.py")).returncode == 0
    done = _publish(root)
    assert done.returncode == 2
    assert "no pipeline run manifest" in done.stderr and "make all" in done.stderr


def test_a_new_run_forgets_the_last_one(tmp_path: Path) -> None:
    paths = WarehousePaths(tmp_path)
    manifest.begin_stage(paths, "load", "python -m loaders load")
    manifest.finish_stage(paths, "load", 0)
    first = manifest.read_manifest(paths)
    run_id = manifest.start_run(paths)
    second = manifest.read_manifest(paths)
    assert first is not None and second is not None
    assert second["run_id"] == run_id != first["run_id"] and second["stages"] == {}
    assert manifest.problems(second, None, "run_results.json") == [
        f"pipeline run {run_id} is not complete: load never ran; build never ran; train never "
        "ran; predict never ran; backtest never ran; attribute never ran. Run `make all` (or "
        "`make load build forecast backtest attribution`), then publish"
    ]


def test_stage_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"stage must be one of load, build, .*got 'publish'"):
        manifest.begin_stage(WarehousePaths(tmp_path), "publish", "x")
