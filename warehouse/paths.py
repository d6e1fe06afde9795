"""Where the warehouse's files live, and how every process connects to DuckDB."""

from __future__ import annotations

import os
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


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database with the house session settings (``TimeZone='UTC'``).

    Parameters
    ----------
    path
        Database file. Writers pass the build database; readers the published one with
        ``read_only=True`` and close it as soon as their query is done (a held read lock blocks
        the next publish on other platforms and every writer of the same file).

    Raises
    ------
    FileNotFoundError
        When ``read_only`` and the file does not exist (DuckDB would otherwise say only "IO Error").
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse database not found: {path} (run `make all` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
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
    con = duckdb.connect(str(path), read_only=True, config=dict(HARDENED_CONFIG))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET lock_configuration = true")
    return con
