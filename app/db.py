"""The one way the app reads DuckDB: short, hardened, read-only connections to the published file.

Every read opens the published database with :func:`warehouse.paths.connect_hardened` (read-only,
no file or network access, no extension loading, configuration locked), runs its statements and
closes the connection (FIELD_NOTES: a held read lock blocks writers and a connection is not
thread-safe, so none is ever cached). Values reach SQL only as bound parameters; identifiers come
from allowlists in the query modules, never from a widget. The one exception, the SQL page's
user-written statement, runs on :func:`user_sql_reader` under :mod:`warehouse.sql`'s checks and
limits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from warehouse.paths import connect_hardened, connect_user_sql
from warehouse.sql import SqlLimits


@contextmanager
def reader(db: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``db`` hardened and read-only for one batch of queries, and always close it.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.IOException
        When another process holds the file read-write.
    """
    con = connect_hardened(db)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def user_sql_reader(db: Path | str, limits: SqlLimits) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``db`` for one statement a person typed (the SQL page), and always close it.

    A DuckDB instance of its own (:func:`warehouse.paths.connect_user_sql`) with the memory,
    thread and time limits of ``limits``, so one user's query neither starves nor blocks the
    pages of others; no statement on it can open a file.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.IOException
        When another process holds the file read-write.
    """
    con = connect_user_sql(
        db,
        memory_limit_mib=limits.memory_limit_mib,
        threads=limits.threads,
        timeout_s=limits.timeout_s,
    )
    try:
        yield con
    finally:
        con.close()


def frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None
) -> pl.DataFrame:
    """Run one parameterised statement and return its rows as a Polars frame."""
    return con.sql(sql, params=list(params or [])).pl()


def read(db: Path | str, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
    """One statement on its own short connection (see :func:`reader`)."""
    with reader(db) as con:
        return frame(con, sql, params)


def db_version(db: Path | str) -> str | None:
    """Identity of the published file's current version, or ``None`` when it is absent.

    A publish ``os.replace``s the file, which changes its inode and mtime, so caches keyed on this
    string show a new publish on the next rerun without restarting the app.
    """
    try:
        stat = Path(db).stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_ino}:{stat.st_mtime_ns}"


_COLUMNS_SQL = """
select columns.table_schema, columns.table_name, columns.column_name
from information_schema.columns as columns
where columns.table_schema in (select unnest(?::varchar[]))
"""


def missing_columns(
    db: Path | str, required: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Compare the relations of ``db`` with what a page reads.

    Parameters
    ----------
    db
        Published DuckDB file.
    required
        ``"schema.table"`` -> columns the page reads.

    Returns
    -------
    dict[str, tuple[str, ...]]
        ``"schema.table"`` -> required columns it lacks (all of them when the relation is absent).
        Empty when everything is there.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    schemas = sorted({name.split(".", 1)[0] for name in required})
    present: dict[str, set[str]] = {}
    for schema, table, column in read(db, _COLUMNS_SQL, [schemas]).iter_rows():
        present.setdefault(f"{schema}.{table}", set()).add(column)
    problems = {}
    for name, columns in required.items():
        lacking = tuple(c for c in columns if c not in present.get(name, set()))
        if lacking:
            problems[name] = lacking
    return problems
