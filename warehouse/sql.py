"""``python -m warehouse sql``: a read-only SQL console on the published warehouse.

Statements end with ``;`` (a line may hold several, a statement may span lines); ``.tables``
lists the tables, ``.quit`` (or end of input) leaves. Every statement is bounded and reaches no
file (issue 15):

* **size**: a statement over ``max_statement_bytes`` is refused before DuckDB parses it (a 15 MB
  ``IN (…)`` list took 61 s and 7.5 GB to parse and bind);
* **kind**: DuckDB's own parser must find exactly one query (``SELECT``, ``WITH``, ``FROM``,
  ``VALUES``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``); ``COPY``, ``EXPORT``, ``ATTACH``,
  ``INSTALL``/``LOAD``, ``PRAGMA``, ``SET``/``RESET``/``USE``, ``CALL``, ``EXPLAIN`` and every
  write are refused, and so is a query calling a table function outside
  :data:`ALLOWED_TABLE_FUNCTIONS` (``read_csv``, ``read_blob``, ``read_text``, ``glob``,
  ``parquet_metadata``, ``query``, ``checkpoint``…) or naming a table that looks like a file
  (``from 'x.csv'``);
* **resources**: it runs on :func:`warehouse.paths.connect_user_sql` (read-only, an instance of
  its own with ``memory_limit``, ``threads``, no spilling, no local file system, configuration
  locked), and a timer thread calls ``con.interrupt()`` when ``timeout_s`` has passed.

Defaults (:class:`SqlLimits`): 30 s, 1024 MiB, 1 thread, 100,000 bytes; each can be set with an
environment variable (``WAREHOUSE_SQL_TIMEOUT_S``, ``WAREHOUSE_SQL_MEMORY_LIMIT_MIB``,
``WAREHOUSE_SQL_THREADS``, ``WAREHOUSE_SQL_MAX_STATEMENT_BYTES``; the app's SQL page reads them
too) or a flag of this command. Results are printed with at most ``--max-rows`` rows
(1 to :data:`MAX_ROWS_CEILING`).

Known gap: DuckDB's ``memory_limit`` bounds its buffer manager, not the strings a function builds
for one vector of up to 2,048 rows: ``max(length(repeat('x', 300000000 + range))) from range(10)``
reached 2.9 GB of RSS under a 100 MiB limit. The timeout stops such a statement, but only after
the allocation; bounding it needs the statement in a process of its own with an OS memory limit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import duckdb
import polars as pl

from warehouse.paths import connect_user_sql

#: Rows a result may show at most (``--max-rows``, the app's row limit).
MAX_ROWS_CEILING = 100_000

ENV_PREFIX = "WAREHOUSE_SQL_"


@dataclass(frozen=True)
class SqlLimits:
    """Bounds on every statement a person types (console and the app's SQL page).

    Attributes
    ----------
    timeout_s
        Wall-clock seconds a statement may run (parse, bind and execute), in (0, 3600].
    memory_limit_mib
        DuckDB ``memory_limit`` of the statement's own instance, MiB, in [16, 1048576]. Nothing
        spills: a statement that needs more fails with an out-of-memory error.
    threads
        DuckDB worker threads, in [1, 64].
    max_statement_bytes
        Size of the statement's UTF-8 text, bytes, in [1, 10,000,000]; a bigger one is refused
        before it is parsed.

    Raises
    ------
    ValueError
        On construction, naming the field and the bad value.
    """

    timeout_s: float = 30.0
    memory_limit_mib: int = 1024
    threads: int = 1
    max_statement_bytes: int = 100_000

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600] seconds, got {self.timeout_s!r}")
        for name, low, high in (
            ("memory_limit_mib", 16, 1_048_576),
            ("threads", 1, 64),
            ("max_statement_bytes", 1, 10_000_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SqlLimits:
        """The defaults, overridden by ``WAREHOUSE_SQL_<FIELD>`` variables (``TIMEOUT_S``,
        ``MEMORY_LIMIT_MIB``, ``THREADS``, ``MAX_STATEMENT_BYTES``).

        Raises
        ------
        ValueError
            For an unknown ``WAREHOUSE_SQL_*`` variable (a typo would otherwise be ignored) or a
            value that is not a number in range, naming the variable and the value.
        """
        environ = os.environ if environ is None else environ
        types = {field.name: field.type for field in fields(cls)}
        known = {ENV_PREFIX + name.upper(): name for name in types}
        values: dict[str, Any] = {}
        for key, raw in environ.items():
            if not key.startswith(ENV_PREFIX):
                continue
            if key not in known:
                raise ValueError(f"unknown variable {key}: expected one of {', '.join(known)}")
            name = known[key]
            try:
                values[name] = float(raw) if types[name] == "float" else int(raw)
            except ValueError:
                raise ValueError(f"{key} must be a number, got {raw!r}") from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}*: {exc}") from None

    def describe(self) -> str:
        """One line for people: ``30 s, 1024 MiB, 1 thread, 100,000 bytes per statement``."""
        threads = "1 thread" if self.threads == 1 else f"{self.threads} threads"
        return (
            f"{self.timeout_s:g} s, {self.memory_limit_mib} MiB, {threads}, "
            f"{self.max_statement_bytes:,} bytes per statement"
        )


class StatementRefused(ValueError):
    """A statement refused before it ran; the message says what and why."""


class StatementStopped(RuntimeError):
    """A statement stopped by a limit while running (time or memory); the message names it."""


#: Table functions a query may call: generators and catalogue listings, none of which opens a
#: file or changes a setting. Any other (read_*, glob, sniff_csv, parquet_*, query, query_table,
#: checkpoint, enable_profiling, json_execute_serialized_sql, ...) is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "summary",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pragma_database_size",
        "pragma_storage_info",
        "pragma_collations",
        "pg_timezone_names",
        "icu_calendar_names",
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_databases",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_memory",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_settings",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
    }
)

#: Scalar functions refused wherever they appear (they read the environment).
REFUSED_SCALAR_FUNCTIONS = frozenset({"getenv"})

#: Characters no table of the warehouse has in its name, but a file path does (``from 'x.csv'``
#: reads the file through a replacement scan).
_PATH_CHARACTERS = ("/", "\\", ":", ".")


def _references(node: Any) -> Iterator[tuple[str, str]]:
    """``("table function" | "function" | "table", name)`` of every reference in a
    ``json_serialize_sql`` tree, at any depth (subqueries, CTEs, set operations, arguments)."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            yield "table function", str(function.get("function_name", ""))
            yield from _references(function.get("arguments"))
            for key, value in node.items():
                if key != "function":
                    yield from _references(value)
            return
        if kind == "BASE_TABLE":
            for part in ("catalog_name", "schema_name", "table_name"):
                yield "table", str(node.get(part) or "")
        elif node.get("class") == "FUNCTION":
            yield "function", str(node.get("function_name", ""))
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def check_statement(con: duckdb.DuckDBPyConnection, sql: str, limits: SqlLimits) -> None:
    """Refuse ``sql`` unless it is one query within the size limit that reaches no file.

    The size is checked on the text before anything parses it; the rest on DuckDB's own parse
    (``extract_statements`` for the count and kind, ``json_serialize_sql`` for the functions and
    tables a query names), never on a regular expression.

    Raises
    ------
    StatementRefused
        Naming the size and the limit, the number of statements, the statement kind, the table
        function, or the file-like table name.
    """
    size = len(sql.encode("utf-8"))
    if size > limits.max_statement_bytes:
        raise StatementRefused(
            f"statement is {size:,} bytes, over the limit of {limits.max_statement_bytes:,} bytes "
            f"(--max-statement-bytes, {ENV_PREFIX}MAX_STATEMENT_BYTES)"
        )
    parsed = con.extract_statements(sql)
    if len(parsed) != 1:
        raise StatementRefused(f"give exactly one SQL statement, got {len(parsed)}")
    kind = parsed[0].type
    if kind != duckdb.StatementType.SELECT:
        raise StatementRefused(
            f"{kind.name} statements are refused: only queries run here (SELECT, WITH, FROM, "
            "VALUES, DESCRIBE, SHOW, SUMMARIZE)"
        )
    tree = json.loads(con.sql("select json_serialize_sql($1)", params=[sql]).fetchall()[0][0])
    if tree.get("error"):
        raise StatementRefused(
            f"this query cannot be checked, so it does not run: {tree.get('error_message')}"
        )
    for role, name in _references(tree):
        lowered = name.lower()
        if role == "table function" and lowered not in ALLOWED_TABLE_FUNCTIONS:
            raise StatementRefused(
                f"table function {name}() is not allowed here: files cannot be read and settings "
                "cannot change (allowed: range, generate_series, unnest, duckdb_tables, ...)"
            )
        if role == "function" and lowered in REFUSED_SCALAR_FUNCTIONS:
            raise StatementRefused(f"function {name}() is not allowed here")
        if role == "table" and any(char in name for char in _PATH_CHARACTERS):
            raise StatementRefused(f"{name!r} looks like a file, and files cannot be read here")


@contextmanager
def _deadline(con: duckdb.DuckDBPyConnection, timeout_s: float) -> Iterator[None]:
    """Interrupt whatever ``con`` runs once ``timeout_s`` has passed (from a timer thread;
    DuckDB releases the GIL while it works). An interrupt that arrives after the statement
    finished does nothing: DuckDB checks it only while executing."""
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _check_max_rows(max_rows: int) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int):
        raise ValueError(f"max_rows must be an integer, got {max_rows!r}")
    if not 1 <= max_rows <= MAX_ROWS_CEILING:
        raise ValueError(f"max_rows must be in [1, {MAX_ROWS_CEILING}], got {max_rows!r}")


def execute_limited(
    con: duckdb.DuckDBPyConnection, sql: str, max_rows: int
) -> tuple[pl.DataFrame | None, bool]:
    """Run one statement; return at most ``max_rows`` rows and whether more existed.

    ``(None, False)`` for a statement without a result. No checks and no timeout: user-written
    SQL goes through :func:`run_statement`.

    Raises
    ------
    ValueError
        When ``max_rows`` is not in [1, :data:`MAX_ROWS_CEILING`].
    duckdb.Error
        Whatever the database refuses (syntax, file access, writes on a read-only file).
    """
    _check_max_rows(max_rows)
    relation = con.sql(sql)
    if relation is None:
        return None, False
    frame = relation.limit(max_rows + 1).pl()
    return frame.head(max_rows), frame.height > max_rows


def run_statement(
    con: duckdb.DuckDBPyConnection, sql: str, max_rows: int, limits: SqlLimits
) -> tuple[pl.DataFrame | None, bool]:
    """Check one user-written statement (:func:`check_statement`) and run it under the limits.

    ``con`` comes from :func:`warehouse.paths.connect_user_sql` with the same ``limits``.

    Returns
    -------
    tuple[polars.DataFrame | None, bool]
        At most ``max_rows`` rows and whether more existed (see :func:`execute_limited`).

    Raises
    ------
    StatementRefused
        Before it runs (size, kind, a file or file-reading function).
    StatementStopped
        When it ran past ``limits.timeout_s`` or needed more than ``limits.memory_limit_mib``.
    duckdb.Error
        Anything else the database refuses.
    ValueError
        When ``max_rows`` is not in [1, :data:`MAX_ROWS_CEILING`].
    """
    _check_max_rows(max_rows)
    started = time.monotonic()
    try:
        with _deadline(con, limits.timeout_s):
            check_statement(con, sql, limits)
            return execute_limited(con, sql, max_rows)
    except duckdb.InterruptException:
        elapsed = time.monotonic() - started
        raise StatementStopped(
            f"statement interrupted after {elapsed:.1f} s: the limit is {limits.timeout_s:g} s "
            f"(--timeout-s, {ENV_PREFIX}TIMEOUT_S)"
        ) from None
    except duckdb.OutOfMemoryException as exc:
        first_line = str(exc).splitlines()[0]
        raise StatementStopped(
            f"statement needs more than the {limits.memory_limit_mib} MiB memory limit "
            f"(--memory-limit-mib, {ENV_PREFIX}MEMORY_LIMIT_MIB; nothing spills to disk): "
            f"{first_line}"
        ) from None


def statements(lines: Iterable[str]) -> Iterator[str]:
    """Split input lines into statements at ``;`` and dot-commands.

    A ``;`` ends a statement only outside quotes (``'…'``, ``"…"``), dollar quotes
    (``$$…$$``, ``$tag$…$tag$``) and comments (``-- …`` to the end of the line, ``/* … */``,
    nested as in PostgreSQL), so a quote inside a comment does not swallow the statements after
    it. Comments stay in the statement text; a piece with nothing but comments and blanks is no
    statement. A dot-command (``.tables``) is a line of its own outside a statement.

    >>> list(statements(["select 1;", "select", " 'a;b';", ".tables"]))
    ['select 1', "select\\n 'a;b'", '.tables']
    >>> list(statements(["select 1 as a; -- don't", "select 2 as b; /* it's */ select 3;"]))
    ['select 1 as a', "-- don't\\nselect 2 as b", "/* it's */ select 3"]
    """
    buffer: list[str] = []
    has_code = False  # the buffer holds more than comments and blanks
    state: str | None = None  # None, "'", '"', "$" (dollar quote), "--" or "/*"
    tag = ""  # the dollar quote's delimiter
    depth = 0  # block comment nesting
    for raw in lines:
        line = raw.rstrip("\r\n")
        if state is None and not has_code and line.strip().startswith("."):
            buffer = []
            yield line.strip()
            continue
        text, i = line + "\n", 0
        while i < len(text):
            if state is None:
                # Jump to the next character that can change the state (C speed: a 15 MB
                # statement is split in a blink, and refused by size afterwards).
                found = _SPECIAL.search(text, i)
                end = found.start() if found else len(text)
                has_code = has_code or bool(text[i:end].strip())
                buffer.append(text[i:end])
                i = end
                if found is None:
                    break
                token = found.group()
                if token == ";":
                    if has_code:
                        yield "".join(buffer).strip()
                    buffer, has_code, i = [], False, i + 1
                    continue
                if token == "$":
                    tag = _dollar_tag(text, i)
                    if not tag:  # a $1 or $name parameter
                        buffer.append(token)
                        has_code, i = True, i + 1
                        continue
                    token = tag
                state = "$" if token.startswith("$") else token
                depth = 1 if token == "/*" else depth
                has_code = has_code or state in ("'", '"', "$")
                buffer.append(token)
                i += len(token)
            elif state == "/*":
                found = _BLOCK_COMMENT.search(text, i)
                if found is None:
                    buffer.append(text[i:])
                    break
                depth += 1 if found.group() == "/*" else -1
                state = None if depth == 0 else state
                buffer.append(text[i : found.end()])
                i = found.end()
            else:
                closing = {"--": "\n", "$": tag}.get(state, state)
                end = text.find(closing, i)
                if end < 0:
                    buffer.append(text[i:])
                    break
                buffer.append(text[i : end + len(closing)])
                state, i = None, end + len(closing)
    tail = "".join(buffer).strip()
    if has_code and tail:
        yield tail


_SPECIAL = re.compile(r"--|/\*|['\";$]")
_BLOCK_COMMENT = re.compile(r"/\*|\*/")


def _dollar_tag(text: str, start: int) -> str:
    """The dollar-quote delimiter (``$$``, ``$tag$``) opening at ``start``, or ``""`` (``$1`` and
    ``$name`` parameters are none)."""
    found = _DOLLAR_TAG.match(text, start)
    return found.group() if found else ""


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def run_console(
    db: Path,
    source: TextIO,
    out: TextIO,
    *,
    max_rows: int = 100,
    limits: SqlLimits | None = None,
) -> int:
    """Execute every statement from ``source`` against ``db``; return the number of errors.

    ``limits`` defaults to :meth:`SqlLimits.from_env`. Errors (a refused statement, a limit hit,
    a syntax error, a write on the read-only file) are printed and the console goes on with the
    next statement.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    ValueError
        When ``max_rows`` is not in [1, :data:`MAX_ROWS_CEILING`].
    """
    _check_max_rows(max_rows)
    limits = limits or SqlLimits.from_env()
    con = connect_user_sql(
        db,
        memory_limit_mib=limits.memory_limit_mib,
        threads=limits.threads,
        timeout_s=limits.timeout_s,
    )
    errors = 0
    interactive = source.isatty()
    try:
        if interactive:
            out.write(
                f"read-only SQL on {db} (end statements with ';', .tables, .quit; "
                f"limits: {limits.describe()})\n"
            )
        for text in statements(source):
            if text in (".quit", ".exit"):
                break
            if text == ".tables":
                text = (
                    "select schema_name || '.' || table_name as table_name, estimated_size "
                    "as rows from duckdb_tables() order by 1"
                )
            try:
                shown, truncated = run_statement(con, text, max_rows, limits)
            except (StatementRefused, StatementStopped, duckdb.Error) as exc:
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


def _max_rows_argument(value: str) -> int:
    try:
        rows = int(value)
    except ValueError:
        rows = 0
    if not 1 <= rows <= MAX_ROWS_CEILING:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 1 to {MAX_ROWS_CEILING}, got {value!r}"
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's flags, on the ``sql`` subcommand of ``python -m warehouse``."""
    defaults = SqlLimits()
    parser.add_argument(
        "--max-rows",
        type=_max_rows_argument,
        default=100,
        help=f"rows printed per result, 1 to {MAX_ROWS_CEILING} (default 100)",
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="database (default: the published one)"
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help=f"seconds a statement may run (default {defaults.timeout_s:g}, "
        f"or ${ENV_PREFIX}TIMEOUT_S)",
    )
    parser.add_argument(
        "--memory-limit-mib",
        type=int,
        default=None,
        help=f"DuckDB memory limit, MiB; nothing spills (default {defaults.memory_limit_mib}, "
        f"or ${ENV_PREFIX}MEMORY_LIMIT_MIB)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"DuckDB threads (default {defaults.threads}, or ${ENV_PREFIX}THREADS)",
    )
    parser.add_argument(
        "--max-statement-bytes",
        type=int,
        default=None,
        help="largest statement accepted, bytes of UTF-8 "
        f"(default {defaults.max_statement_bytes:,}, or ${ENV_PREFIX}MAX_STATEMENT_BYTES)",
    )


def main(args: argparse.Namespace, published_db: Path) -> int:
    """Run the console with the parsed flags of :func:`add_arguments`; the exit status.

    0 when every statement ran (or interactively), 1 when one failed, 2 when the database is
    missing or a limit is invalid.
    """
    flags = {
        "timeout_s": args.timeout_s,
        "memory_limit_mib": args.memory_limit_mib,
        "threads": args.threads,
        "max_statement_bytes": args.max_statement_bytes,
    }
    try:
        env = SqlLimits.from_env()
        limits = SqlLimits(
            **{
                name: getattr(env, name) if value is None else value
                for name, value in flags.items()
            }
        )
        errors = run_console(
            args.db or published_db, sys.stdin, sys.stdout, max_rows=args.max_rows, limits=limits
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if errors and not sys.stdin.isatty() else 0
