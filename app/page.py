"""The frame every page shares: title, warehouse state, the rebuild notice and friendly errors.

A page module defines ``body(published)`` and ends with ``run_page(title, REQUIRED, body)``.
Before the body runs, :func:`run_page` explains on the page (never as a traceback):

- no published warehouse yet (a fresh clone), or one being built for the first time;
- a ``make all`` running right now: the page goes on with the last publish and says so;
- a table or column the page reads that the published warehouse lacks;
- a locked or vanishing file while the body reads (a publish ``os.replace``s it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import streamlit as st

from app.db import db_version, missing_columns
from warehouse.paths import WarehousePaths
from warehouse.pipeline import running_pipeline

BUILD_HINT = "Run `make all` to build and publish the warehouse, then reload this page."


@dataclass(frozen=True)
class Published:
    """The published warehouse as one page run sees it.

    Attributes
    ----------
    path
        The DuckDB file (``<WAREHOUSE_DIR>/options.duckdb``).
    version
        ``inode:mtime_ns`` of that file: pass it to ``st.cache_data`` loaders with the path so a
        new publish invalidates them (see :func:`app.db.db_version`).
    """

    path: Path
    version: str

    @property
    def published_at(self) -> datetime:
        """When this version was published: the file's mtime (from ``version``), UTC."""
        return datetime.fromtimestamp(int(self.version.split(":")[1]) / 1e9, tz=UTC)

    @property
    def key(self) -> tuple[str, str]:
        """``(path, version)``: the leading arguments of every cached loader."""
        return str(self.path), self.version


def _rebuild_notice(pid: int) -> None:
    st.info(
        f"The warehouse is being rebuilt (`make all`, pid {pid}). This page shows the last "
        "published version; reload it when the run finishes to see the new one.",
        icon=":material/autorenew:",
    )


def _explain_problems(problems: Mapping[str, tuple[str, ...]], required: Mapping) -> None:
    absent = [name for name, lacking in problems.items() if len(lacking) == len(required[name])]
    if absent:
        names = ", ".join(f"`{name}`" for name in absent)
        st.warning(f"The published warehouse has no {names} yet. {BUILD_HINT}")
        return
    details = "; ".join(f"`{name}` lacks {list(lacking)}" for name, lacking in problems.items())
    st.error(f"The published tables lack columns this page reads: {details}. {BUILD_HINT}")


def open_page(title: str, required: Mapping[str, Sequence[str]] | None = None) -> Published | None:
    """Draw the title and any warehouse-state notice; return the warehouse, or ``None`` to stop.

    Parameters
    ----------
    title
        Page title.
    required
        ``"schema.table"`` -> columns the page reads; checked before the body runs.
    """
    st.title(title)
    paths = WarehousePaths.from_env()
    db = paths.published_db
    pid = running_pipeline(paths.root)
    version = db_version(db)
    if version is None:
        if pid is not None:
            st.info(
                f"The warehouse is being built (`make all`, pid {pid}) and has not been "
                "published yet. Reload this page when the run finishes.",
                icon=":material/autorenew:",
            )
        else:
            st.info(f"No published warehouse at `{db}`. {BUILD_HINT}")
        return None
    if pid is not None:
        _rebuild_notice(pid)
    if required:
        problems = missing_columns(db, required)
        if problems:
            _explain_problems(problems, required)
            return None
    return Published(db, version)


def run_page(
    title: str,
    required: Mapping[str, Sequence[str]] | None,
    body: Callable[[Published], None],
) -> None:
    """Open the page and run ``body``, turning warehouse-state errors into notices.

    A ``FileNotFoundError`` (the file vanished, e.g. ``make clean``), a ``duckdb.IOException``
    (the file is locked or being replaced) or a ``duckdb.CatalogException`` (a table went missing
    between the check and the read) becomes a message on the page. Other exceptions are bugs and
    propagate (the browser shows a generic message; details go to the server log).
    """
    try:
        published = open_page(title, required)
        if published is not None:
            body(published)
    except FileNotFoundError:
        db = WarehousePaths.from_env().published_db
        st.info(f"No published warehouse at `{db}`. {BUILD_HINT}")
    except duckdb.IOException:
        st.warning(
            "The published warehouse is locked or being replaced right now (a publish in "
            "progress?). Reload this page in a moment."
        )
    except duckdb.CatalogException as exc:
        st.warning(f"The published warehouse changed while this page read it ({exc}). {BUILD_HINT}")
