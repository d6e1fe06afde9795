"""Where the warehouse's files live, and how every process connects to DuckDB."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WarehousePaths:
    """Paths of one warehouse.

    ``root`` comes from the ``WAREHOUSE_DIR`` environment variable when set (a relative value is
    taken from the current directory, as dbt's ``profiles.yml`` does), else ``<repo>/warehouse``.
    Tests point it at a temporary directory to build a throwaway warehouse.
    """

    root: Path

    @classmethod
    def from_env(cls) -> WarehousePaths:
        root = os.environ.get("WAREHOUSE_DIR")
        return cls(Path(root).resolve() if root else REPO_ROOT / "warehouse")

    @property
    def vendor_dir(self) -> Path:
        """Embedded vendor files (in the repo); ``WAREHOUSE_VENDOR_DIR`` overrides."""
        override = os.environ.get("WAREHOUSE_VENDOR_DIR")
        return Path(override).resolve() if override else REPO_ROOT / "warehouse" / "vendor"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def build_db(self) -> Path:
        return self.root / "build" / "build.duckdb"

    @property
    def published_db(self) -> Path:
        return self.root / "options.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"


#: This process's spill root (see :func:`reader_spill_directory`) and the pid that created it.
_spill_root: tuple[int, Path] | None = None
_spill_lock = threading.Lock()


def _remove_spill_root(pid: int, root: Path) -> None:
    if os.getpid() == pid:  # a forked child leaves its parent's directory alone
        shutil.rmtree(root, ignore_errors=True)


def reader_spill_directory(path: Path | str) -> Path:
    """Where a read-only connection to ``path`` spills: private to this process, never beside
    the database.

    DuckDB's default ``temp_directory`` of ``X.duckdb`` is ``X.duckdb.tmp``, beside it: every
    reader of the published file shared it, and a publish writing its temporary copy under that
    name failed (``IsADirectoryError``) or made a spilling reader fail (``File exists``). Readers
    spill instead under one directory per process in the system temp folder
    (``options-warehouse-spill-<pid>-*``, removed when the process exits), in a subdirectory per
    database file that DuckDB creates at the first spill and removes when the file's last
    connection in the process closes. Per file, not per connection: connections to one file in a
    process share one DuckDB instance and must agree on its configuration.

    Returns
    -------
    Path
        ``<spill root>/<file name>-<16 hex digits of the resolved path's SHA-256>``; not created.
    """
    global _spill_root
    with _spill_lock:
        if _spill_root is None or _spill_root[0] != os.getpid():
            root = Path(tempfile.mkdtemp(prefix=f"options-warehouse-spill-{os.getpid()}-"))
            _spill_root = (os.getpid(), root)
            atexit.register(_remove_spill_root, os.getpid(), root)
        root = _spill_root[1]
    resolved = Path(path).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return root / f"{resolved.name}-{digest}"


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database with the house session settings (``TimeZone='UTC'``).

    Parameters
    ----------
    path
        Database file. Writers pass the build database; readers the published one with
        ``read_only=True`` and close it as soon as their query is done (a held read lock blocks
        the next publish on other platforms and every writer of the same file). A reader spills
        to :func:`reader_spill_directory`, never beside the file.

    Raises
    ------
    FileNotFoundError
        When ``read_only`` and the file does not exist (DuckDB would otherwise say only "IO Error").
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"temp_directory": str(reader_spill_directory(path))} if read_only else {}
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    # The ICU extension is compiled in but only loads after connect, so TimeZone cannot go in
    # connect(config=...): set it on the session instead.
    con.execute("SET TimeZone = 'UTC'")
    return con


#: Session settings of a connection that runs user-written SQL (FIELD_NOTES: ``read_only`` is
#: not a sandbox; a query could still ``read_csv('/etc/passwd')`` or ``COPY … TO`` a file).
HARDENED_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


def connect_hardened(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only for user-written SQL: no file or network access, no extension
    loading, and the configuration locked so a query cannot switch any of it back on.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    config = {**HARDENED_CONFIG, "temp_directory": str(reader_spill_directory(path))}
    con = duckdb.connect(str(path), read_only=True, config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET lock_configuration = true")
    return con


_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect_user_sql(
    path: Path | str, *, memory_limit_mib: int, threads: int, timeout_s: float
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only for SQL a person typed: bounded, and with no file reachable.

    Unlike :func:`connect_hardened`, the connection is a DuckDB instance of its own (in-memory,
    the file ``ATTACH``ed ``READ_ONLY`` and made the default catalog under its stem, so
    ``backtest.trades`` resolves as before): its memory and thread limits bound this statement
    alone, and other readers of the file in the process (the app's pages) keep theirs.

    * ``memory_limit`` ``memory_limit_mib`` MiB, ``threads`` threads, ``max_execution_time``
      ``timeout_s`` (the caller also interrupts from a timer, :mod:`warehouse.sql`);
    * no spilling (``temp_directory`` empty): a statement over the limit fails with an
      out-of-memory error instead of writing to disk;
    * ``enable_external_access = false`` and, because DuckDB still lets that reach the
      database file, its ``.wal``, ``.wal.recovery``, ``.wal.checkpoint`` and the temp
      directory (``COPY … TO '<db>.wal'`` and ``read_blob('<db>')`` worked, issue 15),
      ``disabled_filesystems = 'LocalFileSystem'``: after the ``ATTACH`` no statement can open
      any local file; extensions are neither loaded nor installed, and
      ``lock_configuration`` keeps all of it so.

    Parameters
    ----------
    path
        The published database.
    memory_limit_mib, threads, timeout_s
        Limits, validated by :class:`warehouse.sql.SqlLimits`.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    duckdb.IOException
        When another process holds the file read-write.
    """
    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    config: dict[str, str | bool | int] = {
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "memory_limit": f"{memory_limit_mib}MiB",
        "threads": threads,
        "max_execution_time": max(1, round(timeout_s * 1000)),
        "temp_directory": "",
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB names a database opened directly after its file's stem: keep that name, unless
        # it is one DuckDB reserves for its own catalogs.
        stem = "published" if path.stem.lower() in _RESERVED_CATALOGS else path.stem
        catalog = '"' + stem.replace('"', '""') + '"'
        con.execute(f"ATTACH {_sql_string(str(path))} AS {catalog} (READ_ONLY)")
        con.execute(f"USE {catalog}")
        con.execute("SET enable_external_access = false")
        con.execute("SET disabled_filesystems = 'LocalFileSystem'")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
