"""Where the warehouse's files live, and how every process connects to DuckDB."""

from __future__ import annotations

import atexit
import hashlib
import os
import re
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


#: Environment variables of the DuckDB settings every product connection gets (and dbt's profile).
MEMORY_LIMIT_ENV = "WAREHOUSE_DUCKDB_MEMORY_LIMIT"
TEMP_DIR_ENV = "WAREHOUSE_DUCKDB_TEMP_DIR"
#: DuckDB's own default is 80 % of RAM: a 10x-tiled chain's ``dbt build`` then peaked at 13.5 GB
#: RSS on this 24 GiB, 2-core machine shared with others (FIELD_NOTES). Measured with
#: ``bench/bench_pipeline.py`` on the chain tiled 10x (7.4M quotes): 2GB 329 s / 5.3 GB peak,
#: 4GB 340 s / 5.3 GB, 8GB 241 s / 8.3 GB. Below 4GB the peak no longer falls (what is left is
#: outside DuckDB's buffer pool) and above it the build passes the 8 GB target.
DEFAULT_MEMORY_LIMIT = "4GB"
#: What ``WAREHOUSE_DUCKDB_MEMORY_LIMIT`` may be: a positive amount with a unit DuckDB knows
#: (``B``, ``KB``/``MB``/``GB``/``TB`` = 1000^i, ``KiB``/``MiB``/``GiB``/``TiB`` = 1024^i, any
#: case, optional spaces) or a percentage of RAM from 1 to 100 (DuckDB 2.0 ``memory_limit``).
#: DuckDB itself also takes ``-1``/``none`` (its 80 % default) and ``4G``: refused here, so the
#: limit is always explicit. No backslashes: ``profiles.yml`` repeats it in a Jinja string.
MEMORY_LIMIT_PATTERN = (
    "(?i) *(?:(?=[0-9.]*[1-9])(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+) *(?:[KMGT]i?B|B)"
    "|(?:100|[1-9][0-9]?(?:[.][0-9]+)?) *%) *"
)


def duckdb_memory_limit() -> str:
    """DuckDB ``memory_limit`` of every product connection: ``WAREHOUSE_DUCKDB_MEMORY_LIMIT``,
    else :data:`DEFAULT_MEMORY_LIMIT` (an empty value counts as unset, as in ``profiles.yml``).

    The limit bounds DuckDB's buffer manager per database instance (one per file per process),
    not the process: Polars frames and Python objects come on top, so a stage's RSS runs above it.
    Source: DuckDB documentation, *Configuration* (``memory_limit``) and *Spilling to disk*.

    Returns
    -------
    str
        The value as given, e.g. ``'4GB'``, ``'512MiB'``, ``'25%'``.

    Raises
    ------
    ValueError
        When the value does not match :data:`MEMORY_LIMIT_PATTERN`, naming the variable and value.
    """
    value = os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    if not re.fullmatch(MEMORY_LIMIT_PATTERN, value):
        raise ValueError(
            f"{MEMORY_LIMIT_ENV}={value!r} is not a DuckDB memory limit: expected a positive "
            "amount with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. '4GB' or "
            "'512MiB', or a percentage of RAM from 1 to 100, e.g. '25%'"
        )
    return value


def build_temp_directory() -> Path:
    """Where the build's writers spill (DuckDB ``temp_directory``): ``WAREHOUSE_DUCKDB_TEMP_DIR``
    (a relative value is taken from the current directory), else ``<WAREHOUSE_DIR>/build/tmp``
    (an empty value counts as unset). ``dbt`` (``profiles.yml``) and the Python writers
    (:func:`connect` without ``read_only``) use the same one; DuckDB 2.0 names its spill files
    per process and instance (``duckdb_temp_<pid>_<n>_*``), so they never collide in it. Readers
    keep their private :func:`reader_spill_directory`. Not created (DuckDB creates it at the
    first spill; :func:`connect` creates its parent).
    """
    value = os.environ.get(TEMP_DIR_ENV)
    if value:
        return Path(value).resolve()
    return WarehousePaths.from_env().root / "build" / "tmp"


def _set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    con.execute(f"SET memory_limit = {_sql_string(limit)}")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database with the house session settings (``TimeZone='UTC'``).

    Parameters
    ----------
    path
        Database file. Writers pass the build database; readers the published one with
        ``read_only=True`` and close it as soon as their query is done (a held read lock blocks
        the next publish on other platforms and every writer of the same file). A reader spills
        to :func:`reader_spill_directory`, never beside the file; a writer (``:memory:``
        included) to :func:`build_temp_directory`. Both get :func:`duckdb_memory_limit`.

    Raises
    ------
    FileNotFoundError
        When ``read_only`` and the file does not exist (DuckDB would otherwise say only "IO Error").
    ValueError
        When ``WAREHOUSE_DUCKDB_MEMORY_LIMIT`` is malformed (before anything is opened).
    """
    limit = duckdb_memory_limit()
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"temp_directory": str(reader_spill_directory(path))} if read_only else {}
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    try:
        # The ICU extension is compiled in but only loads after connect, so TimeZone cannot go in
        # connect(config=...): set it on the session instead. The writer's memory limit and
        # spill directory are SET too, not passed as config: a second connection to the file in
        # the process (e.g. a plain duckdb.connect in a test) would otherwise be refused as
        # "a different configuration".
        con.execute("SET TimeZone = 'UTC'")
        _set_memory_limit(con, limit)
        if not read_only:
            temp_directory = build_temp_directory()
            # DuckDB refuses any SET temp_directory, even to the same value, once the instance
            # (shared by the file's connections in this process) has spilled there.
            if con.sql("select current_setting('temp_directory')").fetchall()[0][0] != str(
                temp_directory
            ):
                temp_directory.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"SET temp_directory = {_sql_string(str(temp_directory))}")
    except BaseException:
        con.close()
        raise
    return con


def connect_hardened(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only for the product's own reads (the app's pages, the HTTP API): no
    file or network access, no extension loading, and the configuration locked so a query cannot
    switch any of it back on.

    The connection is a DuckDB instance of its own (in-memory, the file ``ATTACH``ed
    ``READ_ONLY`` as the default catalog, named as DuckDB names a file it opens directly), so
    that concurrent readers in one process (Streamlit sessions, API requests) never share an
    instance: ``duckdb.connect`` on the file itself hands every connection of the process the
    same cached instance, whose locked configuration then refused the second reader's
    ``SET TimeZone`` (issue 20), and whose ``TimeZone`` is per connection anyway.

    Settings: ``TimeZone`` UTC; memory limit :func:`duckdb_memory_limit`; spills to
    :func:`reader_spill_directory`.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When ``WAREHOUSE_DUCKDB_MEMORY_LIMIT`` is malformed.
    duckdb.IOException
        When another process holds the file read-write.
    """
    limit = duckdb_memory_limit()
    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    config = {
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "temp_directory": str(reader_spill_directory(path)),
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        _set_memory_limit(con, limit)
        _attach_as_default(con, path)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (a schema, table, column or catalog name), its
    double quotes doubled (SQL:2016 5.2 <delimited identifier>; DuckDB follows it). For names
    from DuckDB's own catalogue or a fixed allowlist: it quotes, it does not validate.

    >>> quote_identifier('odd"name')
    '"odd""name"'
    """
    return '"' + name.replace('"', '""') + '"'


def _attach_as_default(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``ATTACH`` ``path`` ``READ_ONLY`` on ``con`` and make it the default catalog, named after
    the file's stem as DuckDB names a database opened directly (so ``backtest.trades`` and
    ``current_database()`` read as they would), unless the stem is a name DuckDB reserves."""
    stem = "published" if path.stem.lower() in _RESERVED_CATALOGS else path.stem
    catalog = quote_identifier(stem)
    con.execute(f"ATTACH {_sql_string(str(path))} AS {catalog} (READ_ONLY)")
    con.execute(f"USE {catalog}")


def connect_user_sql(
    path: Path | str, *, memory_limit_mib: int, threads: int, timeout_s: float
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only for SQL a person typed: bounded, and with no file reachable.

    Like :func:`connect_hardened`, the connection is a DuckDB instance of its own (in-memory,
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
        _attach_as_default(con, path)
        con.execute("SET enable_external_access = false")
        con.execute("SET disabled_filesystems = 'LocalFileSystem'")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
