"""One pipeline at a time, and readers of the published warehouse never break a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from warehouse.paths import REPO_ROOT, WarehousePaths
from warehouse.pipeline import PipelineBusyError, pipeline_lock
from warehouse.publish import publish

HOLD_LOCK = (
    "import sys, time; from pathlib import Path; from warehouse.pipeline import pipeline_lock\n"
    "with pipeline_lock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True); time.sleep(60)\n"
)


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_PIPELINE_PID"}
    return {**env, "WAREHOUSE_DIR": str(root), "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture
def holder(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_load_fails_at_once_naming_the_running_pid(tmp_path: Path, holder) -> None:
    for command in (["-m", "loaders", "load"], ["-m", "warehouse", "locked", "--", "true"]):
        done = subprocess.run(
            [sys.executable, *command],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            cwd=REPO_ROOT,
            timeout=60,
        )
        assert done.returncode == 75, done.stderr
        assert f"pipeline already running (pid {holder.pid})" in done.stderr
    assert not (tmp_path / "raw").exists()  # nothing was touched


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path, holder) -> None:
    holder.kill()  # SIGKILL: no cleanup code runs; the kernel drops the flock
    holder.wait()
    with pipeline_lock(tmp_path) as pid:
        assert pid == os.getpid()


def test_stages_of_a_locked_pipeline_share_its_lock(tmp_path: Path) -> None:
    inner = "from pathlib import Path; from warehouse.pipeline import pipeline_lock\n" + (
        "import sys\nwith pipeline_lock(Path(sys.argv[1])) as pid: print(pid)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse",
            "locked",
            "--",
            sys.executable,
            "-c",
            inner,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    holder_pid = int((tmp_path / ".pipeline.lock").read_text())
    assert int(done.stdout.strip()) == holder_pid != os.getpid()


def test_in_process_second_holder_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WAREHOUSE_PIPELINE_PID", raising=False)
    with pipeline_lock(tmp_path):
        monkeypatch.delenv("WAREHOUSE_PIPELINE_PID")  # as another process would see it
        with pytest.raises(
            PipelineBusyError, match=rf"pipeline already running \(pid {os.getpid()}\)"
        ):
            with pipeline_lock(tmp_path):
                pass


def test_a_reader_holding_the_published_warehouse_does_not_break_a_publish(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    paths = WarehousePaths.from_env()
    paths.build_db.parent.mkdir(parents=True)
    with duckdb.connect(str(paths.build_db)) as con:
        con.execute("create table t as select 1 as x")
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"args": {"which": "build"}, "results": []}))
    publish(paths, run_results)
    reader = duckdb.connect(str(paths.published_db), read_only=True)  # e.g. the app
    try:
        with duckdb.connect(str(paths.build_db)) as con:
            con.execute("insert into t values (2)")
        publish(paths, run_results)  # replaces the file under the open reader
        assert reader.sql("select count(*) from t").fetchall() == [(1,)]  # its snapshot
    finally:
        reader.close()
    with duckdb.connect(str(paths.published_db), read_only=True) as con:
        assert con.sql("select count(*) from t").fetchall() == [(2,)]


def test_another_thread_of_the_holder_waits_its_turn(tmp_path: Path) -> None:
    """Streamlit runs sessions as threads of one process: a second save must not slip in
    because the holder's pid is its own."""
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with pipeline_lock(tmp_path):
                pass
        except BaseException as exc:
            errors.append(exc)

    with pipeline_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], PipelineBusyError)
    assert errors[0].pid == os.getpid()
