"""One pipeline at a time: an exclusive lock on ``<WAREHOUSE_DIR>/.pipeline.lock``, held by every
process of the pipeline.

The lock is an ``flock``, which belongs to an open file description, not to a process. The process
that takes it (``python -m warehouse locked``, a hand-run stage or CLI, the app's save) passes that
descriptor to the commands it starts (``pass_fds``), and they pass it on (make and bash keep
inherited descriptors; :func:`spawn` passes it again), so the lock is held for as long as *any*
process of the pipeline lives: killing the wrapper (kill -9 included) can no longer leave an
orphaned ``make pipeline`` writing without it while a second ``make all`` takes it. The kernel
drops the lock when the last of them exits, so a stale lock file never blocks the next run.

On Linux the commands :func:`spawn` starts also die with the process that started them
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``): after a kill -9 of ``python -m warehouse locked -- make
pipeline``, make gets SIGTERM, stops before the next stage and passes the signal on to the stage it
runs, so an orphaned pipeline does not go on to publish.

The holder exports ``WAREHOUSE_PIPELINE_PID`` (its pid) and ``WAREHOUSE_PIPELINE_LOCK_FD`` (the
descriptor). A process started inside the pipeline proves that it holds the lock through that
inherited descriptor (an ``flock`` on it succeeds, it is the holder's own lock) and goes on; any
other process (a hand-run ``python -m engine run`` during ``make all``) fails at once with
``pipeline already running (pid N)``. The environment alone proves nothing: a process that got the
variables but not the descriptor (a stale shell, a command started with ``close_fds``) is refused.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ENV_HOLDER = "WAREHOUSE_PIPELINE_PID"
ENV_LOCK_FD = "WAREHOUSE_PIPELINE_LOCK_FD"
LOCK_NAME = ".pipeline.lock"
#: Exit status of a command refused because another pipeline runs (``EX_TEMPFAIL``).
EXIT_BUSY = 75

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: Descriptors through which this process itself took the lock (it is their holder).
_OWNED: set[int] = set()


class PipelineBusyError(RuntimeError):
    """Another pipeline holds the warehouse; ``pid`` (also in the message) is its holder."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _processes_with_open(lock_path: Path) -> list[int]:
    """Pids (ascending, this process excluded) that have ``lock_path`` open, from ``/proc``.

    Only processes of this user are visible; elsewhere than Linux the list is empty.
    """
    try:
        target = lock_path.stat()
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        return []
    found = []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                found.append(pid)
                break
    return found


def _holder_pid(lock_path: Path) -> int | None:
    """The pid to name as the lock's holder: the pid written into the lock file while it lives;
    once it is dead (kill -9 of ``warehouse locked``) while its stages still hold the lock, the
    lowest live pid that has the lock file open (the oldest orphan of that pipeline)."""
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    recorded = int(text) if text.isdigit() else None
    if recorded is not None and _alive(recorded):
        return recorded
    orphans = _processes_with_open(lock_path)
    return orphans[0] if orphans else recorded


def _inherited_lock(lock_path: Path, own_fd: int) -> bool:
    """Whether this process holds ``lock_path``'s lock through a descriptor inherited from the
    pipeline (``WAREHOUSE_PIPELINE_LOCK_FD``), and is not the holder itself."""
    text = os.environ.get(ENV_LOCK_FD, "")
    # The holder never counts as inside: another thread of it (a second save of the app) or a
    # nested call must wait its turn like any other process.
    if not text.isdigit() or os.environ.get(ENV_HOLDER) == str(os.getpid()):
        return False
    fd = int(text)
    if fd == own_fd or fd in _OWNED:
        return False
    try:
        st, lock_st = os.fstat(fd), lock_path.stat()
        if (st.st_dev, st.st_ino) != (lock_st.st_dev, lock_st.st_ino):
            return False
        # A lock belongs to the open file description: on the holder's inherited one this
        # succeeds (it is already ours); on any other description it fails at once.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


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
        The pid of the lock holder (this process, or the pipeline this process runs inside of).

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
            if _inherited_lock(lock_path, fd):
                inherited = os.environ.get(ENV_HOLDER, "")
                yield int(inherited) if inherited.isdigit() else _holder_pid(lock_path) or 0
                return
            holder = _holder_pid(lock_path)
            raise PipelineBusyError(
                f"pipeline already running (pid {holder if holder is not None else 'unknown'}); "
                f"lock file {lock_path}",
                holder,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        previous = {name: os.environ.get(name) for name in (ENV_HOLDER, ENV_LOCK_FD)}
        os.environ[ENV_HOLDER] = str(os.getpid())
        os.environ[ENV_LOCK_FD] = str(fd)
        _OWNED.add(fd)
        try:
            yield os.getpid()
        finally:
            _OWNED.discard(fd)
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    finally:
        # Closing (never LOCK_UN) drops only this process's reference: a stage that inherited
        # the descriptor and still runs (its make was killed) keeps the lock until it exits.
        os.close(fd)


def lock_fds() -> tuple[int, ...]:
    """The descriptor through which this process holds the pipeline lock, for ``pass_fds`` of
    the commands it starts (empty when it holds none). Inside :func:`pipeline_lock` it is the
    lock's; before it, a non-empty answer means one was inherited from a running pipeline."""
    text = os.environ.get(ENV_LOCK_FD, "")
    if not text.isdigit():
        return ()
    try:
        os.fstat(int(text))
    except OSError:
        return ()
    return (int(text),)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``; a no-op elsewhere). If the parent is already gone, send it now."""
    prctl = _prctl()
    parent = os.getppid()
    if prctl is None or prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def _exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it: killed by signal N -> 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def spawn(command: Sequence[str], *, env: dict[str, str] | None = None) -> int:
    """Run ``command`` as a stage of this pipeline and return its exit status.

    The command inherits the pipeline lock's descriptor (:func:`lock_fds`), so it holds the lock
    for as long as it runs, and (Linux) gets SIGTERM if this process dies first, so it does not
    run on as an orphan. A Ctrl-C reaches the command too (same process group): this waits for
    it to stop; a second Ctrl-C terminates it. Killed by signal N: 128 + N, as in a shell.
    """
    prctl = _prctl()
    parent = os.getpid()

    def _set_death_signal() -> None:  # runs in the child, between fork and exec
        if prctl is not None and prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)

    proc = subprocess.Popen(
        list(command), pass_fds=lock_fds(), env=env, preexec_fn=_set_death_signal
    )
    interrupted = False
    while True:
        try:
            return _exit_status(proc.wait())
        except KeyboardInterrupt:
            if interrupted:
                proc.terminate()
            interrupted = True


def guarded(root: Path, body: Callable[[], int]) -> int:
    """Run ``body`` holding ``root``'s pipeline lock (or inside the pipeline that holds it) and
    return its exit status; when another pipeline holds it, print ``error: pipeline already
    running (pid N)`` to stderr and return :data:`EXIT_BUSY` without running ``body``.

    The entry of every CLI that writes or opens the build database (``python -m loaders load``,
    ``python -m ml``, ``python -m engine run``, ``python -m warehouse publish`` …) goes through
    this, so a hand-run one during ``make all`` fails at once instead of on DuckDB's file lock.
    """
    try:
        with pipeline_lock(root):
            return body()
    except PipelineBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY


def run_locked(root: Path, command: Sequence[str], before: Callable[[], None] | None = None) -> int:
    """Run ``command`` holding the pipeline lock (see :func:`spawn`); return its exit status.

    ``before`` runs under the lock first (``warehouse locked --new-run`` starts a run manifest).
    Prints the busy error and returns 75 (``EX_TEMPFAIL``) when another pipeline runs.
    """

    def body() -> int:
        if before is not None:
            before()
        return spawn(command)

    return guarded(root, body)


def running_pipeline(root: Path) -> int | None:
    """The pid of the process holding the pipeline lock of ``root``, or ``None`` when idle.

    Read-only and race-free: it looks the lock up in ``/proc/locks`` (Linux) instead of trying to
    take it, so a reader such as the app can never make a starting ``make all`` fail with
    "pipeline already running". ``/proc/locks`` names the process that took the lock; when that
    one is dead but its stages still hold the lock, the oldest of them is named instead.
    Elsewhere (no ``/proc/locks``) it returns ``None``.
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
            if _alive(int(pid)):
                return int(pid)
            orphans = _processes_with_open(lock_path)
            return orphans[0] if orphans else int(pid)
    return None
