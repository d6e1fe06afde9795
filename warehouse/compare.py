"""Are two warehouses the same? Every table compared by content, independent of row order.

``python -m warehouse compare A.duckdb B.duckdb`` (``make reproducibility`` builds two clean
warehouses in different time zones and runs it) fingerprints each base table of both databases
and lists the tables that differ. Two clean builds from the same inputs must be bit-identical: a
float that moves in its last bit between runs (an order-dependent parallel sum) shows up here.

A table's fingerprint is its column names and types, its row count, and two 64-bit sums of a
hash of every whole row (DuckDB ``hash`` of the row struct, with two seeds), so it depends on
the multiset of rows and never on their order; doubles are hashed by their bits (``0.0`` and
``-0.0`` hash alike). The sums are exact (``HUGEINT``), so duplicate rows count (a ``bit_xor``
would cancel them). For a table that differs, the rows of each side missing from the other are
counted (``EXCEPT ALL``, exact comparison) and the columns whose values differ are named.

Columns that record *when and how long* a run went rather than what it computed
(:data:`RUN_METADATA_COLUMNS`: ``loaded_at``, dbt's ``invocation_id``, ...) differ between any
two runs and are left out unless ``strict``. Views are not compared: they are queries over the
tables (and may name the build's own paths).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.paths import connect, quote_identifier

__all__ = [
    "RUN_METADATA_COLUMNS",
    "Comparison",
    "TableDifference",
    "TableFingerprint",
    "compare_warehouses",
    "fingerprint_tables",
]

#: Wall-clock columns of the run itself, in every table that has them: when a batch landed
#: (``dq.dq_landing_*``), when a vendor file was refused (``dq.dq_landing_refusals``), when and
#: how fast a dbt test ran (``dq.test_results``).
RUN_METADATA_COLUMNS = frozenset(
    {"loaded_at", "last_loaded_at", "refused_at", "checked_at", "execution_time_s", "invocation_id"}
)


@dataclass(frozen=True)
class TableFingerprint:
    """Content of one table, independent of row order.

    Attributes
    ----------
    columns
        ``(name, type)`` of every compared column, in table order.
    n_rows
        Row count.
    digest
        SHA-256 (16 hex digits) of the columns, the row count and the two row-hash sums.
    """

    columns: tuple[tuple[str, str], ...]
    n_rows: int
    digest: str


@dataclass(frozen=True)
class TableDifference:
    """A table that is not the same in both warehouses.

    Attributes
    ----------
    table
        ``schema.table``.
    reason
        ``only in A``, ``only in B``, ``columns differ``, or ``rows differ``.
    detail
        Human-readable specifics: the column lists, or the row counts, how many rows of each
        side are missing from the other and which columns' values differ.
    """

    table: str
    reason: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.table}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare_warehouses`: how many tables were looked at, which differ."""

    tables: int
    differences: list[TableDifference]

    @property
    def identical(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        """One line per differing table, then a summary line."""
        n_same = self.tables - len(self.differences)
        return [d.line() for d in self.differences] + [
            f"{n_same} of {self.tables} tables identical, {len(self.differences)} differ"
        ]


def _relation(alias: str, schema: str, table: str) -> str:
    return f"{quote_identifier(alias)}.{quote_identifier(schema)}.{quote_identifier(table)}"


def _tables(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[str, str]]:
    return con.sql(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = ? and not internal order by schema_name, table_name",
        params=[alias],
    ).fetchall()


def _columns(
    con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str, strict: bool
) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, str(dtype))
        for name, dtype in con.sql(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = ? and schema_name = ? and table_name = ? "
            "order by column_index",
            params=[alias, schema, table],
        ).fetchall()
        if strict or name not in RUN_METADATA_COLUMNS
    )


def _select(columns: tuple[tuple[str, str], ...], relation: str) -> str:
    listed = ", ".join(quote_identifier(name) for name, _ in columns) or "null as no_columns"
    return f"select {listed} from {relation}"


def _fingerprint(
    con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str, strict: bool
) -> TableFingerprint:
    columns = _columns(con, alias, schema, table, strict)
    n_rows, sum_a, sum_b = con.sql(
        "select count(*), coalesce(sum(hash(t)::hugeint), 0), "
        "coalesce(sum(hash(t, 'warehouse.compare')::hugeint), 0) "
        f"from ({_select(columns, _relation(alias, schema, table))}) as t"
    ).fetchall()[0]
    text = repr((columns, n_rows, int(sum_a), int(sum_b)))
    return TableFingerprint(columns, int(n_rows), hashlib.sha256(text.encode()).hexdigest()[:16])


def _connect() -> duckdb.DuckDBPyConnection:
    # no progress bars: the output is the list of differences; the house memory limit and spill
    # directory (WAREHOUSE_DUCKDB_MEMORY_LIMIT / _TEMP_DIR): two whole warehouses are compared
    con = connect(":memory:")
    con.execute("set enable_progress_bar = false")
    return con


def _attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"warehouse database not found: {path}")
    con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as {alias} (read_only)")


def fingerprint_tables(path: Path | str, *, strict: bool = False) -> dict[str, TableFingerprint]:
    """Fingerprint of every base table of a DuckDB database, by ``schema.table``.

    ``strict`` includes the :data:`RUN_METADATA_COLUMNS`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    con = _connect()
    try:
        _attach(con, Path(path), "db")
        return {
            f"{schema}.{table}": _fingerprint(con, "db", schema, table, strict)
            for schema, table in _tables(con, "db")
        }
    finally:
        con.close()


def _rows_differ(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: tuple[tuple[str, str], ...],
    fa: TableFingerprint,
    fb: TableFingerprint,
) -> TableDifference:
    a, b = _relation("a", schema, table), _relation("b", schema, table)
    only_a, only_b = (
        con.sql(
            f"select count(*) from ({_select(columns, x)} except all {_select(columns, y)})"
        ).fetchall()[0][0]
        for x, y in ((a, b), (b, a))
    )
    differing = [
        name
        for name, _ in columns
        if con.sql(
            f"select (select sum(hash({quote_identifier(name)})::hugeint) from {a}) "
            f"is distinct from (select sum(hash({quote_identifier(name)})::hugeint) from {b})"
        ).fetchall()[0][0]
    ]
    detail = f"{fa.n_rows:,} vs {fb.n_rows:,} rows; {only_a:,} only in A, {only_b:,} only in B"
    if differing:
        detail += f"; values differ in {', '.join(differing)}"
    return TableDifference(f"{schema}.{table}", "rows differ", detail)


def compare_warehouses(a: Path | str, b: Path | str, *, strict: bool = False) -> Comparison:
    """The tables whose content differs between databases ``a`` and ``b``.

    Parameters
    ----------
    a, b
        DuckDB files (e.g. two published ``options.duckdb``), opened read-only.
    strict
        Compare the :data:`RUN_METADATA_COLUMNS` too (they differ between any two runs).

    Returns
    -------
    Comparison
        The number of tables of either database and the differing ones, sorted by name;
        tables present in one database only are differences too.

    Raises
    ------
    FileNotFoundError
        If either file does not exist.
    """
    con = _connect()
    try:
        _attach(con, Path(a), "a")
        _attach(con, Path(b), "b")
        in_a = {f"{s}.{t}": (s, t) for s, t in _tables(con, "a")}
        in_b = {f"{s}.{t}": (s, t) for s, t in _tables(con, "b")}
        names = sorted(in_a.keys() | in_b.keys())
        out = []
        for name in names:
            if name not in in_b:
                out.append(TableDifference(name, "only in A"))
                continue
            if name not in in_a:
                out.append(TableDifference(name, "only in B"))
                continue
            schema, table = in_a[name]
            fa = _fingerprint(con, "a", schema, table, strict)
            fb = _fingerprint(con, "b", schema, table, strict)
            if fa.digest == fb.digest:
                continue
            if fa.columns != fb.columns:
                out.append(TableDifference(name, "columns differ", f"{fa.columns} vs {fb.columns}"))
                continue
            out.append(_rows_differ(con, schema, table, fa.columns, fa, fb))
        return Comparison(len(names), out)
    finally:
        con.close()
