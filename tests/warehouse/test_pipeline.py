"""One pipeline at a time, and readers of the published warehouse never break a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
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


def _python(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python *args`` in the repo against the warehouse at ``root``, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env or _env(root),
        cwd=REPO_ROOT,
        timeout=timeout,
    )


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
        done = _python(tmp_path, *command)
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
    publish(paths, run_results, "build")  # a build-only publish: no pipeline run recorded
    reader = duckdb.connect(str(paths.published_db), read_only=True)  # e.g. the app
    try:
        with duckdb.connect(str(paths.build_db)) as con:
            con.execute("insert into t values (2)")
        publish(paths, run_results, "build")  # replaces the file under the open reader
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


# ---- the lock belongs to the whole pipeline, not to its wrapper (issue 15, item 6) -------------

#: A stage that outlives the SIGTERM its wrapper's death sends (as a busy dbt might): it prints
#: its pid, then runs a minute.
SURVIVOR = (
    "import os, signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print(os.getpid(), flush=True); time.sleep(60)\n"
)


def _locked(root: Path, *command: str, env: dict[str, str] | None = None):
    return _python(root, "-m", "warehouse", "locked", "--", *command, env=env)


def _gone(pid: int) -> bool:
    """Exited (a zombie whose parent was killed counts: it holds no descriptor any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (OSError, IndexError):
        return True


def test_a_stage_outliving_its_killed_wrapper_keeps_the_lock(tmp_path: Path) -> None:
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "warehouse", "locked", "--", sys.executable, "-c", SURVIVOR],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=REPO_ROOT,
    )
    assert wrapper.stdout is not None
    stage = int(wrapper.stdout.readline())
    try:
        wrapper.kill()  # kill -9 of `python -m warehouse locked`: no cleanup code runs
        wrapper.wait()
        second = _locked(tmp_path, "true")  # a second `make all`
        assert second.returncode == 75, second.stderr
        # named by the live stage, not by the dead wrapper's pid in the lock file
        assert f"pipeline already running (pid {stage})" in second.stderr
    finally:
        os.kill(stage, 9)
    deadline = time.monotonic() + 20
    while _locked(tmp_path, "true").returncode != 0:  # the last holder gone, the lock is free
        assert time.monotonic() < deadline, "the lock outlived every process of the pipeline"
        time.sleep(0.2)


def test_kill_9_of_the_wrapper_stops_its_make_pipeline(tmp_path: Path) -> None:
    """`python -m warehouse locked -- make pipeline`, killed during its first stage: no process
    of that pipeline may run without the lock, and make must not go on to the next stage."""
    started, published = tmp_path / "stage.pid", tmp_path / "published"
    stage = (
        "import os, sys, time; from pathlib import Path; "
        "Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(4)"
    )
    makefile = tmp_path / "pipeline.mk"
    makefile.write_text(
        "SHELL := /bin/bash\n.SHELLFLAGS := -eu -o pipefail -c\npipeline:\n"
        f"\t{sys.executable} -c '{stage}' {started}; true\n"  # bash stays the stage's parent
        f"\ttouch {published}\n"
    )
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "warehouse", "locked", "--", "make", "-s", "-f", str(makefile)],
        env=_env(tmp_path),
        cwd=REPO_ROOT,
    )
    deadline = time.monotonic() + 30
    while not started.exists() or not started.read_text():
        assert time.monotonic() < deadline and wrapper.poll() is None
        time.sleep(0.05)
    stage_pid = int(started.read_text())
    wrapper.kill()
    wrapper.wait()
    killed_at = time.monotonic()
    while True:
        free = _locked(tmp_path, "true").returncode == 0
        assert not (free and not _gone(stage_pid)), "a stage ran on without the lock"
        if free:
            break
        assert time.monotonic() < killed_at + 30
        time.sleep(0.2)
    time.sleep(max(0.0, killed_at + 6 - time.monotonic()))  # past the stage's 4 s
    assert not published.exists(), "make went on to the next stage after its holder died"


#: Holds the pipeline lock and the build database open read-write, as `dbt build` in `make all`.
BUILDING = (
    "import sys, duckdb; from pathlib import Path; from warehouse.pipeline import pipeline_lock\n"
    "root = Path(sys.argv[1]); (root / 'build').mkdir(parents=True, exist_ok=True)\n"
    "with pipeline_lock(root):\n"
    "    con = duckdb.connect(str(root / 'build' / 'build.duckdb'))\n"
    "    print('locked', flush=True); sys.stdin.read()\n"
)


@pytest.fixture
def building(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILDING, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.communicate(timeout=30)


@pytest.mark.parametrize(
    "command",
    [
        ["engine", "run"],
        ["ml", "train"],
        ["ml", "predict"],
        ["warehouse", "publish"],
        ["loaders", "load"],
    ],
    ids=" ".join,
)
def test_a_hand_run_writer_during_a_pipeline_fails_at_once_naming_it(
    tmp_path: Path, building, command: list[str]
) -> None:
    started = time.monotonic()
    done = _python(tmp_path, "-m", *command, timeout=120)
    assert done.returncode == 75, done.stderr
    assert f"pipeline already running (pid {building.pid})" in done.stderr
    assert "Traceback" not in done.stderr and "IOException" not in done.stderr
    assert time.monotonic() - started < 60


def test_the_environment_alone_does_not_let_a_process_in(tmp_path: Path, holder) -> None:
    """The holder's variables without its descriptor (a stale shell, a `close_fds` child) are
    no pass: the lock is proven by the inherited descriptor, not by a pid in the environment."""
    env = {
        **_env(tmp_path),
        "WAREHOUSE_PIPELINE_PID": str(holder.pid),
        "WAREHOUSE_PIPELINE_LOCK_FD": "3",
    }
    done = _python(tmp_path, "-m", "loaders", "load", env=env)
    assert done.returncode == 75, done.stderr
    assert f"pipeline already running (pid {holder.pid})" in done.stderr
    assert not (tmp_path / "raw").exists()


def test_stages_inside_a_make_pipeline_hold_its_lock(tmp_path: Path) -> None:
    """make and bash pass the lock's descriptor on: a stage two levels down is inside."""
    inner = (
        "import sys; from pathlib import Path; from warehouse.pipeline import pipeline_lock\n"
        "with pipeline_lock(Path(sys.argv[1])) as pid: print(pid)"
    )
    makefile = tmp_path / "pipeline.mk"
    makefile.write_text(
        f"pipeline:\n\t@{sys.executable} -m warehouse stage load -- "
        f'{sys.executable} -c "$$(cat {tmp_path / "inner.py"})" {tmp_path}\n'
    )
    (tmp_path / "inner.py").write_text(inner)
    done = _locked(tmp_path, "make", "-s", "-f", str(makefile))
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == int((tmp_path / ".pipeline.lock").read_text())
