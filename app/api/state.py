"""What the service holds between requests: settings, the published file's reader, a cache keyed
on the published version, the runs computed but not saved, and the save jobs.

Reads
-----
Every read goes through :meth:`Published.read`: it opens the published file with
:func:`app.db.reader` (hardened, read-only, no file access), runs one query function of
:mod:`app.queries` and closes the connection, so a publish (an ``os.replace`` of the file) is
seen by the next request without a restart. Reads run concurrently: each connection is a DuckDB
instance of its own with the file attached read-only (:func:`warehouse.paths.connect_hardened`),
so readers never share a locked configuration, and each attaches the file anew, so overlapping
readers see a publish as soon as it lands. (Before that change, one DuckDB instance per file was
shared by the process: a second reader opened while the first was open failed with ``Cannot
change configuration option "TimeZone"``, 31 of 320 concurrent reads here, and reads had to be
serialised.)

Cache
-----
:meth:`Published.cached` keeps results keyed on :func:`app.db.db_version` of the published
file (inode and mtime, changed by every publish) and a key of the route; a new version empties
the cache. A result is stored only when the version did not change during the read.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from app.api.errors import ApiError
from app.backtest_runner import RunOutcome
from app.db import db_version
from warehouse.paths import WarehousePaths

T = TypeVar("T")

#: Largest request body (bytes): a config is a few hundred bytes; YAML files are refused past
#: 1 MB by :data:`warehouse.safe_yaml.MAX_YAML_BYTES` too.
DEFAULT_MAX_BODY_BYTES = 1_000_000
#: Seconds a ``POST /backtests`` run may take before it is answered ``TIMEOUT`` (the real SPX
#: iron condor takes a few seconds here).
DEFAULT_RUN_TIMEOUT_S = 120.0
#: The environment variable holding the bearer token of ``POST``.
TOKEN_ENV = "OPTIONS_API_TOKEN"
#: Runs computed by ``POST /backtests`` (not saved) kept for their trades/legs/equity routes.
RECENT_RUNS = 8
#: Save jobs remembered for their status route.
MAX_JOBS = 100
#: Cached results and rendered bodies per published version (then the cache starts over).
MAX_CACHE_ENTRIES = 2048


@dataclass(frozen=True)
class ApiSettings:
    """How one service runs.

    Attributes
    ----------
    paths
        The warehouse (``WAREHOUSE_DIR``, default ``<repo>/warehouse``); reads use
        ``paths.published_db``, saves the build database beside it.
    max_body_bytes
        Largest request body (bytes, >= 1).
    run_timeout_s
        Seconds a backtest of ``POST /backtests`` may run (> 0).
    token_env
        Environment variable of the bearer token (read at each request).
    save_run_results
        dbt ``run_results.json`` a save checks (``None``: the default of
        :func:`app.backtest_runner.save_run`).
    rebuild_reports
        Whether a save rebuilds the attribution models (``save_run``'s argument).
    """

    paths: WarehousePaths = field(default_factory=WarehousePaths.from_env)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S
    token_env: str = TOKEN_ENV
    save_run_results: Path | None = None
    rebuild_reports: bool = True

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {self.max_body_bytes!r}")
        if not self.run_timeout_s > 0:
            raise ValueError(f"run_timeout_s must be > 0, got {self.run_timeout_s!r}")


def unavailable(db: Path, why: str = "") -> ApiError:
    return ApiError(
        "UNAVAILABLE",
        f"no published warehouse is readable{f' ({why})' if why else ''}; run `make all` "
        "to build and publish it",
        {"published_db": db.name},
    )


class Published:
    """The published warehouse as the service reads it (see the module docstring)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._cache: dict[tuple[str, Any], Any] = {}
        self._cache_version: str | None = None
        self._key_locks: dict[tuple[str, Any], threading.Lock] = {}
        self._cache_lock = threading.Lock()

    def version(self) -> str:
        """:func:`app.db.db_version` of the published file.

        Raises
        ------
        ApiError
            ``UNAVAILABLE`` when the file does not exist.
        """
        version = db_version(self.db)
        if version is None:
            raise unavailable(self.db)
        return version

    def published_at(self, version: str) -> datetime:
        """When ``version`` was published: the file's mtime, UTC (as ``app.page.Published``)."""
        return datetime.fromtimestamp(int(version.split(":")[1]) / 1e9, tz=UTC)

    def read(self, query: Callable[..., T], *args: Any) -> T:
        """``query(db, *args)`` on the published file.

        Raises
        ------
        ApiError
            ``UNAVAILABLE`` when the file is absent, locked, being replaced, or lacks a table
            (an older or partial warehouse).
        """
        try:
            return query(self.db, *args)
        except FileNotFoundError as exc:
            raise unavailable(self.db) from exc
        except duckdb.CatalogException as exc:
            raise unavailable(
                self.db, f"a table is missing: {str(exc).splitlines()[0][:200]}"
            ) from exc
        except duckdb.IOException as exc:
            raise unavailable(self.db, "the file is locked or being replaced; retry") from exc

    def cached(self, key: Any, query: Callable[..., T], *args: Any) -> T:
        """:meth:`read`, memoised on ``(published version, key)`` (see :meth:`memo`)."""
        return self.memo(("read", key), lambda: self.read(query, *args))

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, memoised on ``(published version, key)``; a new version empties the
        cache. Rendered response bodies are memoised too, so a hot route costs a dictionary
        look-up.

        Single flight: concurrent misses of one key wait for the first one's computation
        instead of each computing (50 clients missing a run's detail at once would otherwise
        queue 50 identical reads). A result is kept only when the version did not
        change while it was computed; an exception is not kept.
        """
        version = self.version()
        with self._cache_lock:
            if self._cache_version != version:
                self._cache.clear()
                self._key_locks.clear()
                self._cache_version = version
            if key in self._cache:
                return self._cache[key]
            if len(self._key_locks) > 4 * MAX_CACHE_ENTRIES:  # many distinct parameters
                self._key_locks.clear()
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._cache_lock:
                if self._cache_version == version and key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._cache_lock:
                if db_version(self.db) == version == self._cache_version:
                    if len(self._cache) >= MAX_CACHE_ENTRIES:
                        self._cache.clear()
                    self._cache[key] = value
        return value


@dataclass
class SaveJob:
    """One ``?save=true``: ``status`` is ``queued``, ``running``, ``done`` or ``failed``."""

    job_id: str
    run_id: str
    status: str = "queued"
    submitted_at: str = ""
    finished_at: str | None = None
    error_code: str | None = None
    message: str | None = None
    written: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "run_id": self.run_id,
            "status": self.status,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "error_code": self.error_code,
            "message": self.message,
            "written": self.written,
            "timings_s": self.timings_s,
        }


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ApiState:
    """Everything a request may use: settings, reader, recent runs, the run and save workers.

    One backtest runs at a time (``run_slot``) and one save at a time (``save_executor``): the
    machine has 2 cores shared with the pipeline, and saves take the pipeline lock anyway.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.published = Published(settings.paths.published_db)
        self.recent_runs: OrderedDict[str, RunOutcome] = OrderedDict()
        self.jobs: OrderedDict[str, SaveJob] = OrderedDict()
        self.lock = threading.Lock()
        self.run_slot = threading.Semaphore(1)
        self.run_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-run")
        self.save_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-save")
        self._job_numbers = itertools.count(1)

    def remember_run(self, outcome: RunOutcome) -> None:
        with self.lock:
            self.recent_runs[outcome.result.run_id] = outcome
            self.recent_runs.move_to_end(outcome.result.run_id)
            while len(self.recent_runs) > RECENT_RUNS:
                self.recent_runs.popitem(last=False)

    def recent_run(self, run_id: str) -> RunOutcome | None:
        with self.lock:
            return self.recent_runs.get(run_id)

    def new_job(self, run_id: str) -> SaveJob:
        with self.lock:
            job = SaveJob(f"save-{next(self._job_numbers)}", run_id, submitted_at=now_utc())
            self.jobs[job.job_id] = job
            while len(self.jobs) > MAX_JOBS:
                self.jobs.popitem(last=False)
            return job

    def job(self, job_id: str) -> SaveJob | None:
        with self.lock:
            return self.jobs.get(job_id)

    def close(self) -> None:
        self.run_executor.shutdown(wait=False, cancel_futures=True)
        self.save_executor.shutdown(wait=False, cancel_futures=True)
