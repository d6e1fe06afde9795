"""Changes to saved runs from the app: names and tags, and deleting a run.

No Streamlit here. Every change takes the path a save takes
(:func:`app.backtest_runner.locked_build_write`), because the published warehouse is a
read-only copy of the build database (../shared/FIELD_NOTES.md, DuckDB; :mod:`warehouse.publish`):

1. take :func:`warehouse.pipeline.pipeline_lock` (busy: :class:`WarehouseBusyError`);
2. :func:`warehouse.publish.check_publishable` (a green dbt build and a complete pipeline run)
   and a build database that exists; a refusal here writes nothing;
3. the change, in one transaction on the build database (:func:`write_label`,
   :func:`delete_run_rows`), refused with nothing written when the run is not in its
   ``backtest.runs``;
4. for a delete, :func:`app.backtest_runner.refresh_reports` (the ``tag:forecasts`` dbt models
   over ``backtest.*``, so no report keeps the deleted run), recorded in the run manifest as the
   ``attribute`` stage exactly as a save records it;
5. :func:`warehouse.publish.publish`.

Names and tags live in :data:`LABELS_TABLE` (``backtest.run_labels``), one row per labelled
run, created here on first use. It is not one of the engine's output tables
(:data:`engine.schema.OUTPUT_TABLES`): ``engine.io.ensure_output_tables`` neither creates nor
drops it, and a run re-saved under the same ``run_id`` keeps its name. A delete removes the run's
rows from *every* ``backtest`` table with a ``run_id`` column, labels included.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.backtest_runner import SaveError, locked_build_write
from app.queries.compare import LABELS_TABLE
from warehouse.paths import WarehousePaths, quote_identifier
from warehouse.safe_yaml import excerpt

#: Longest name, in characters.
MAX_NAME_CHARS = 80
#: Most tags per run, and longest tag in characters.
MAX_TAGS = 12
MAX_TAG_CHARS = 32
#: A tag: letters, digits and ``_ . + - /``, words separated by single spaces.
TAG_PATTERN = re.compile(r"[\w.+/-]+(?: [\w.+/-]+)*")

_LABELS_DDL = f"""
create table if not exists {LABELS_TABLE} (
    run_id varchar primary key,
    name varchar,
    tags varchar[] not null,
    write_seq bigint not null,
    labelled_at timestamp not null
)
"""


class AdminError(SaveError):
    """A change was refused or failed; the message says why and what to do. ``written`` says
    whether the build database was changed."""


class WarehouseBusyError(AdminError):
    """A pipeline (``make all``) holds the warehouse lock; nothing was written."""

    def __init__(self, pid: int | None) -> None:
        shown = pid if pid is not None else "unknown"
        super().__init__(
            f"The warehouse is being rebuilt (make all, pid {shown}); try again when it "
            "finishes. Nothing was written."
        )
        self.pid = pid


@dataclass(frozen=True)
class AdminReport:
    """A change made and published.

    Attributes
    ----------
    run_id
        The run changed.
    action
        ``label`` or ``delete``.
    rows
        ``"backtest.<table>"`` -> rows written (label) or deleted (delete).
    published_db
        The published file.
    timings_s
        Seconds per step: ``write``, ``reports`` (delete), ``publish``, ``total``.
    """

    run_id: str
    action: str
    rows: dict[str, int]
    published_db: Path
    timings_s: dict[str, float]


# ---- validation ---------------------------------------------------------------------------------


def _no_control(text: str, what: str) -> None:
    bad = [c for c in text if unicodedata.category(c).startswith("C")]
    if bad:
        raise ValueError(f"{what} must not contain control characters, got {excerpt(text)}")


def normalise_name(name: str | None) -> str | None:
    """A run name as stored: stripped, inner whitespace collapsed; ``None`` for no name.

    >>> normalise_name("  20-delta   bull put "), normalise_name("   ")
    ('20-delta bull put', None)

    Raises
    ------
    ValueError
        A name longer than :data:`MAX_NAME_CHARS` or with control characters, quoted.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise ValueError(f"a run name must be text, got {excerpt(name)}")
    _no_control(name.replace("\t", " "), "a run name")
    cleaned = " ".join(name.split())
    if len(cleaned) > MAX_NAME_CHARS:
        raise ValueError(
            f"a run name has at most {MAX_NAME_CHARS} characters, got {len(cleaned)}: "
            f"{excerpt(cleaned)}"
        )
    return cleaned or None


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as stored: stripped, lower-case, deduplicated, sorted.

    >>> normalise_tags([" Wheel ", "income", "wheel", ""])
    ('income', 'wheel')

    Raises
    ------
    ValueError
        More than :data:`MAX_TAGS` tags, a tag longer than :data:`MAX_TAG_CHARS` or not
        matching :data:`TAG_PATTERN` (letters, digits, ``_ . + - /``, single spaces), quoted.
    """
    if isinstance(tags, str):
        raise ValueError(f"tags must be a list of tags, got the text {excerpt(tags)}")
    out = set()
    for tag in tags:
        if not isinstance(tag, str):
            raise ValueError(f"a tag must be text, got {excerpt(tag)}")
        cleaned = " ".join(tag.split()).lower()
        if not cleaned:
            continue
        if len(cleaned) > MAX_TAG_CHARS or not TAG_PATTERN.fullmatch(cleaned):
            raise ValueError(
                f"a tag has at most {MAX_TAG_CHARS} letters, digits, '_', '.', '+', '-', '/' "
                f"or single spaces, got {excerpt(tag)}"
            )
        out.add(cleaned)
    if len(out) > MAX_TAGS:
        raise ValueError(f"a run has at most {MAX_TAGS} tags, got {len(out)}: {sorted(out)}")
    return tuple(sorted(out))


# ---- the writes (one transaction each, on an open read-write connection) ------------------------


def ensure_labels_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create :data:`LABELS_TABLE` when missing (schema ``backtest`` too).

    Grain: one row per labelled run: ``run_id`` (primary key), ``name`` (null: unnamed),
    ``tags`` (``varchar[]``, sorted, lower-case), ``write_seq`` (1, 2, ... in the order labels
    were written) and ``labelled_at`` (UTC timestamp of the last change).
    """
    con.execute("create schema if not exists backtest")
    con.execute(_LABELS_DDL)


def _has_run(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    exists = con.sql(
        "select count(*) from information_schema.tables "
        "where table_schema = 'backtest' and table_name = 'runs'"
    ).fetchall()[0][0]
    if not exists:
        return False
    return bool(
        con.sql("select count(*) from backtest.runs where run_id = ?", params=[run_id]).fetchall()[
            0
        ][0]
    )


def write_label(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    name: str | None,
    tags: Iterable[str],
    *,
    labelled_at: datetime | None = None,
) -> int:
    """Set run ``run_id``'s name and tags (both empty: remove its label), in one transaction.

    Parameters
    ----------
    con
        Read-write connection to the build database.
    name, tags
        Validated with :func:`normalise_name` and :func:`normalise_tags`.
    labelled_at
        UTC time of the change (default: now); stored without a time zone.

    Returns
    -------
    int
        Rows of :data:`LABELS_TABLE` written (1) or removed (0 or 1).

    Raises
    ------
    ValueError
        A bad name or tag (nothing written), or a run that ``backtest.runs`` lacks (named).
    """
    cleaned_name, cleaned_tags = normalise_name(name), normalise_tags(tags)
    if not _has_run(con, run_id):
        raise ValueError(f"backtest.runs of the build database has no run {run_id!r}")
    at = (labelled_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    ensure_labels_table(con)
    con.execute("begin transaction")
    try:
        if cleaned_name is None and not cleaned_tags:
            written = len(
                con.execute(
                    f"delete from {LABELS_TABLE} where run_id = ? returning run_id", [run_id]
                ).fetchall()
            )
        else:
            (last,) = con.sql(f"select max(write_seq) from {LABELS_TABLE}").fetchall()[0]
            con.execute(
                f"insert or replace into {LABELS_TABLE} "
                "(run_id, name, tags, write_seq, labelled_at) values (?, ?, ?, ?, ?)",
                [run_id, cleaned_name, list(cleaned_tags), (last or 0) + 1, at],
            )
            written = 1
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return written


def delete_run_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Delete run ``run_id`` from every ``backtest`` table that has a ``run_id`` column, in one
    transaction.

    Returns
    -------
    dict[str, int]
        ``"backtest.<table>"`` -> rows deleted, for every such table (0 included), sorted.

    Raises
    ------
    ValueError
        When ``backtest.runs`` has no run ``run_id`` (nothing deleted).
    """
    if not _has_run(con, run_id):
        raise ValueError(f"backtest.runs of the build database has no run {run_id!r}")
    tables = [
        row[0]
        for row in con.sql(
            "select columns.table_name from information_schema.columns as columns "
            "join information_schema.tables as tables "
            "on columns.table_schema = tables.table_schema "
            "and columns.table_name = tables.table_name "
            "where columns.table_schema = 'backtest' and columns.column_name = 'run_id' "
            "and tables.table_type = 'BASE TABLE' order by columns.table_name"
        ).fetchall()
    ]
    deleted: dict[str, int] = {}
    con.execute("begin transaction")
    try:
        for table in tables:
            rows = con.execute(  # a table name from the catalogue
                f"delete from backtest.{quote_identifier(table)} where run_id = ? returning 1",
                [run_id],
            ).fetchall()
            deleted[f"backtest.{table}"] = len(rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return deleted


# ---- the locked path ----------------------------------------------------------------------------


def _locked_change(
    paths: WarehousePaths,
    run_id: str,
    action: str,
    change: Callable[[duckdb.DuckDBPyConnection], dict[str, int]],
    *,
    run_results: Path | None,
    rebuild_reports: bool,
) -> AdminReport:
    """Steps 1-5 of the module docstring around ``change``: the save's locked path
    (:func:`app.backtest_runner.locked_build_write`) with this module's errors."""
    rows, published, timings = locked_build_write(
        paths,
        action,
        run_id,
        change,
        run_results=run_results,
        rebuild_reports=rebuild_reports,
        error=AdminError,
        busy=WarehouseBusyError,
    )
    return AdminReport(run_id, action, rows, published, timings)


def set_run_label(
    paths: WarehousePaths,
    run_id: str,
    name: str | None,
    tags: Iterable[str] = (),
    *,
    run_results: Path | None = None,
) -> AdminReport:
    """Name and tag saved run ``run_id`` (both empty: clear them), then publish.

    Parameters
    ----------
    paths
        The warehouse (build database, run manifest, published file).
    run_id
        A run of the build database's ``backtest.runs``.
    name, tags
        See :func:`normalise_name`, :func:`normalise_tags`.
    run_results
        dbt's ``run_results.json`` that publishing checks (default: dbt's target directory).

    Raises
    ------
    ValueError
        A bad name or tag, before anything is locked or written.
    WarehouseBusyError
        A pipeline holds the lock.
    AdminError
        Any other refusal or failure (unknown run, publish refused, ...); ``written`` says
        whether the build database was changed.
    """
    tags = normalise_tags(tags)
    name = normalise_name(name)
    tables = {LABELS_TABLE: 0}

    def change(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        tables[LABELS_TABLE] = write_label(con, run_id, name, tags)
        return tables

    return _locked_change(
        paths, run_id, "label", change, run_results=run_results, rebuild_reports=False
    )


def delete_run(
    paths: WarehousePaths,
    run_id: str,
    *,
    run_results: Path | None = None,
    rebuild_reports: bool = True,
) -> AdminReport:
    """Delete saved run ``run_id`` from every ``backtest`` table, rebuild the reports over them
    and publish.

    A run of ``make all``'s configs comes back at the next ``make all`` (its backtest stage
    reruns them); a run saved from the app does not.

    Parameters
    ----------
    rebuild_reports
        Rebuild the ``tag:forecasts`` dbt models after the delete (step 4 of the module doc);
        ``False`` only in tests without dbt.

    Raises
    ------
    WarehouseBusyError
        A pipeline holds the lock.
    AdminError
        Any other refusal or failure (unknown run, publish refused, the dbt rebuild failed,
        ...); ``written`` says whether the build database was changed.
    """
    return _locked_change(
        paths,
        run_id,
        "delete",
        lambda con: delete_run_rows(con, run_id),
        run_results=run_results,
        rebuild_reports=rebuild_reports,
    )
