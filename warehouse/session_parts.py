"""A Python model's result built up in parts: a DuckDB session temp table, appended group by group.

A dbt Python model that returns one polars frame holds its whole result in Python memory; one
that appends each group (a year of the modeled chain, a run of quote dates of the greeks) to a
temp table of its session holds one group, and DuckDB keeps the rest under its memory limit,
spilling beyond it. The model returns ``session.table(name)``; dbt-duckdb materialises it on the
same session, and the model's post-hook drops the temp table (dbt reuses the session for later
nodes, where it would hold DuckDB's memory).
"""

from __future__ import annotations

import duckdb
import polars as pl


def append_part(
    session: duckdb.DuckDBPyConnection, table: str, part: pl.DataFrame, *, create: bool
) -> None:
    """Append ``part`` to the session temp table ``table``; ``create`` (re)creates the table
    from ``part`` instead (its schema; an empty ``part`` gives an empty table).

    ``table`` is the model's own constant name, never user input.
    """
    session.register("_session_part", part.to_arrow())
    try:
        if create:
            session.execute(f"create or replace temp table {table} as select * from _session_part")
        else:
            session.execute(f"insert into {table} select * from _session_part")
    finally:
        session.unregister("_session_part")
