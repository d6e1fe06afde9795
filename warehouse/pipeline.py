"""One pipeline at a time: an exclusive lock on ``<WAREHOUSE_DIR>/.pipeline.lock``.

The lock is an ``flock`` held by the process that runs the pipeline, so the kernel releases it
when that process dies, however it dies (kill -9 included): a stale lock file never blocks the
next run. The holder writes its pid into the file and exports ``WAREHOUSE_PIPELINE_PID`` so that
the stages it starts (``make all`` runs ``python -m loaders load``, ``dbt build``, ...) recognise
the lock as their parent's and go on, while any other process fails at once with
``pipeline already running (pid N)``.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_HOLDER = "WAREHOUSE_PIPELINE_PID"
LOCK_NAME = ".pipeline.lock"


class PipelineBusyError(RuntimeError):
    """Another pipeline holds the warehouse; ``pid`` (also in the message) is its holder."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def _holder_pid(lock_path: Path) -> int | None:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def pipeline_lock(root: Path) -> Iterator[int]:
    """Hold the warehouse's pipeline lock for the duration of the block.

    Parameters
    ----------
    root
        The warehouse directory (``WAREHOUSE_DIR``); created if missing.

    Yields
    ------
    int
        The pid of the lock holder (this process, or the parent pipeline that holds it).

    Raises
    ------
    PipelineBusyError
        Another process holds the lock: "pipeline already running (pid N)".
    """
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(lock_path)
            inherited = os.environ.get(ENV_HOLDER)
            # A child of the holder (a stage of `make all`) inherits its pid and goes on. The
            # holder itself never does: another thread of it (a second save of the app) or a
            # nested call must wait its turn like any other process.
            if (
                inherited
                and holder is not None
                and inherited == str(holder)
                and holder != os.getpid()
            ):
                yield holder
                return
            raise PipelineBusyError(
                f"pipeline already running (pid {holder if holder is not None else 'unknown'}); "
                f"lock file {lock_path}",
                holder,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        previous = os.environ.get(ENV_HOLDER)
        os.environ[ENV_HOLDER] = str(os.getpid())
        try:
            yield os.getpid()
        finally:
            if previous is None:
                os.environ.pop(ENV_HOLDER, None)
            else:
                os.environ[ENV_HOLDER] = previous
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_locked(root: Path, command: list[str]) -> int:
    """Run ``command`` while holding the pipeline lock; return its exit code.

    Prints the busy error and returns 75 (``EX_TEMPFAIL``) when another pipeline runs.
    """
    try:
        with pipeline_lock(root):
            return subprocess.call(command)
    except PipelineBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75


def running_pipeline(root: Path) -> int | None:
    """The pid of the process holding the pipeline lock of ``root``, or ``None`` when idle.

    Read-only and race-free: it looks the lock up in ``/proc/locks`` (Linux) instead of trying to
    take it, so a reader such as the app can never make a starting ``make all`` fail with
    "pipeline already running". Elsewhere (no ``/proc/locks``) it returns ``None``.
    """
    lock_path = root / LOCK_NAME
    try:
        inode = lock_path.stat().st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 12345 08:01:123456 0 EOF"; blocked waiters have a "->" field
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[2] == "->":
            continue
        pid, device_inode = fields[4], fields[5]
        if device_inode.rsplit(":", 1)[-1] == str(inode) and pid.isdigit():
            return int(pid)
    return None
