"""``python -m warehouse sql``: a read-only SQL console on the published warehouse.

Statements end with ``;`` (a line may hold several, a statement may span lines); ``.tables``
lists the tables, ``.quit`` (or end of input) leaves. Each statement runs on a hardened
connection (:func:`warehouse.paths.connect_hardened`): the file is opened read-only, and no
query can read or write other files, load extensions or change those settings. Results are
printed with at most ``--max-rows`` rows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import duckdb
import polars as pl

from warehouse.paths import connect_hardened


def statements(lines: Iterable[str]) -> Iterator[str]:
    """Split input lines into statements at ``;`` (outside quotes) and dot-commands.

    >>> list(statements(["select 1;", "select", " 'a;b';", ".tables"]))
    ['select 1', "select\\n 'a;b'", '.tables']
    """
    buffer: list[str] = []
    quote: str | None = None
    for line in lines:
        if not buffer and line.strip().startswith("."):
            yield line.strip()
            continue
        current = []
        for char in line:
            if quote:
                quote = None if char == quote else quote
            elif char in ("'", '"'):
                quote = char
            elif char == ";":
                buffer.append("".join(current))
                text = "\n".join(buffer).strip()
                if text:
                    yield text
                buffer, current = [], []
                continue
            current.append(char)
        rest = "".join(current).rstrip("\n")
        if rest.strip() or buffer:
            buffer.append(rest)
    tail = "\n".join(buffer).strip()
    if tail:
        yield tail


def execute_limited(
    con: duckdb.DuckDBPyConnection, sql: str, max_rows: int
) -> tuple[pl.DataFrame | None, bool]:
    """Run one statement; return at most ``max_rows`` rows and whether more existed.

    ``(None, False)`` for a statement without a result (``SET``, ``CREATE``…).

    Raises
    ------
    duckdb.Error
        Whatever the database refuses (syntax, file access, writes on a read-only file).
    """
    relation = con.sql(sql)
    if relation is None:
        return None, False
    frame = relation.limit(max_rows + 1).pl()
    return frame.head(max_rows), frame.height > max_rows


def run_console(db: Path, source: TextIO, out: TextIO, *, max_rows: int = 100) -> int:
    """Execute every statement from ``source`` against ``db``; return the number of errors.

    Errors (a syntax error, a refused file access, a write on the read-only file) are printed
    and the console goes on with the next statement.
    """
    con = connect_hardened(db)
    errors = 0
    interactive = source.isatty()
    try:
        if interactive:
            out.write(f"read-only SQL on {db} (end statements with ';', .tables, .quit)\n")
        for text in statements(source):
            if text in (".quit", ".exit"):
                break
            if text == ".tables":
                text = (
                    "select schema_name || '.' || table_name as table_name, estimated_size "
                    "as rows from duckdb_tables() order by 1"
                )
            try:
                shown, truncated = execute_limited(con, text, max_rows)
            except duckdb.Error as exc:
                errors += 1
                out.write(f"error: {exc}\n")
                continue
            if shown is None:
                out.write("ok\n")
                continue
            with pl.Config(
                tbl_rows=max_rows, tbl_cols=30, tbl_width_chars=160, tbl_hide_dataframe_shape=True
            ):
                out.write(f"{shown}\n")
            if truncated:
                out.write(f"(first {max_rows} rows shown)\n")
    finally:
        con.close()
    return errors


def main(db: Path, max_rows: int) -> int:
    try:
        errors = run_console(db, sys.stdin, sys.stdout, max_rows=max_rows)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if errors and not sys.stdin.isatty() else 0
