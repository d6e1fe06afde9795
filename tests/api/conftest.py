"""Fixtures of the API tests: clients on an absent, a SYNTHETIC and the real published warehouse.

The SYNTHETIC warehouse is :func:`tests.app.conftest.build_backtest_db`'s hand-written
``backtest`` tables plus one run under an engine-shaped id (:data:`SYNTHETIC_RUN_ID`); its rows
come from no market data. The real one is the session's end-to-end build (``real_warehouse``,
tests/conftest.py), read-only; tests that save work on a throwaway copy of it
(:func:`tests.app.test_browser_tasks.copy_warehouse`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from app.api import ApiSettings, create_app
from tests.app.conftest import build_backtest_db
from warehouse.paths import WarehousePaths

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that httpx2 exists; httpx is pinned
    from fastapi.testclient import TestClient

TOKEN = "test-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SYNTHETIC_RUN_ID = "long_straddle-0123456789ab"


def add_synthetic_run(db: Path, run_id: str = SYNTHETIC_RUN_ID) -> None:
    """Copy synthetic-run-1 of the SYNTHETIC tables under ``run_id`` (an engine-shaped id)."""
    con = duckdb.connect(str(db))
    try:
        for table in ("runs", "trades", "legs", "equity_daily", "metrics"):
            con.execute(
                f"insert into backtest.{table} by name "
                f"select * replace (? as run_id) from backtest.{table} "
                "where run_id = 'synthetic-run-1'",
                [run_id],
            )
        con.execute("checkpoint")
    finally:
        con.close()


def client_for(settings: ApiSettings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPTIONS_API_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def empty_root(tmp_path: Path) -> Path:
    """A warehouse directory with nothing published."""
    root = tmp_path / "warehouse"
    root.mkdir()
    return root


@pytest.fixture
def no_warehouse(empty_root: Path) -> Iterator[TestClient]:
    """A client on a warehouse directory with nothing published."""
    with client_for(ApiSettings(paths=WarehousePaths(empty_root))) as client:
        yield client


@pytest.fixture
def synthetic_root(tmp_path: Path) -> Path:
    """A warehouse directory whose published file holds the SYNTHETIC backtest tables."""
    root = tmp_path / "synthetic"
    db = build_backtest_db(root / "options.duckdb")
    add_synthetic_run(db)
    return root


@pytest.fixture
def synthetic(synthetic_root: Path) -> Iterator[TestClient]:
    with client_for(ApiSettings(paths=WarehousePaths(synthetic_root))) as client:
        yield client


@pytest.fixture(scope="module")
def real(real_warehouse: Path) -> Iterator[TestClient]:
    """A client on the real published warehouse (read-only)."""
    with client_for(ApiSettings(paths=WarehousePaths(real_warehouse))) as client:
        yield client


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file under ``root`` (to prove nothing
    was written)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
