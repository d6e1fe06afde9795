"""Fixtures for the app tests: a throwaway published warehouse with the ``backtest`` tables.

All rows below are SYNTHETIC, hand-written for the tests; they come from no market data and no
engine run. The arithmetic behind each value is in the comments so assertions can be checked by
hand.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb
import pytest

from warehouse import manifest
from warehouse.paths import REPO_ROOT, WarehousePaths

RUN_WITH_TRADES = "synthetic-run-1"
RUN_WITHOUT_TRADES = "synthetic-run-2"

_DDL = """
create schema backtest;
create table backtest.runs (
    run_id varchar, strategy varchar, underlying_symbol varchar, forecast_model varchar,
    model_version varchar, config_json varchar, first_date date, last_date date
);
create table backtest.trades (
    run_id varchar, trade_id integer, strategy varchar, underlying_symbol varchar,
    expiration date, lots integer, entry_date date, exit_date date,
    holding_days_actual integer, exit_reason varchar, settlement_method varchar,
    signal_value double, entry_underlying_price double, entry_value double,
    exit_value double, commission_usd double, pnl_usd double, trade_return double
);
create table backtest.legs (
    run_id varchar, trade_id integer, leg_no integer, contract_symbol varchar,
    leg_type varchar, strike double, expiration date, quantity integer, entry_date date,
    entry_price double, entry_mid double, exit_date date, exit_price double, exit_mid double,
    exit_kind varchar, settlement_method varchar, settlement_price double
);
create table backtest.equity_daily (
    run_id varchar, quote_date date, cash_usd {money}, positions_value_usd {money},
    equity_usd {money}, daily_return double, drawdown double, open_positions integer,
    delta_usd double, gamma_usd double, vega_usd double, theta_usd double
);
create table backtest.metrics (
    run_id varchar, total_return double, cagr double, sharpe_ratio double,
    sortino_ratio double, max_drawdown double, win_rate double, n_trades integer,
    avg_trade_pnl_usd double, first_date date, last_date date, volatility double,
    calmar_ratio double, avg_holding_days double, total_commission_usd double
);
"""

# SYNTHETIC rows.
_ROWS = """
insert into backtest.runs values
    ('synthetic-run-1', 'long_straddle', 'SPY', 'xgboost', 'v1',
     '{"holding_days": 5}', '2024-01-02', '2024-01-05'),
    ('synthetic-run-2', 'long_call', 'QQQ', 'baseline', 'v0',
     '{"holding_days": 3}', '2024-01-02', '2024-01-05');

-- run 1, equity 100000 -> 101000 -> 99990 -> 102000:
--   daily returns 0.01, 99990/101000 - 1 = -0.01, 102000/99990 - 1 = 0.020102...
--   drawdown from the running peak: 0, 0, 99990/101000 - 1 = -0.01, 0
-- run 2, flat at 50000: returns 0, drawdown 0.
-- Cumulative return (Compare page), prod(1 + r) - 1 with the NaN first return counted as 0:
--   run 1: 0, 0.01, 1.01 x 0.99 - 1 = -0.0001, 0.9999 x 1.0201020102 - 1 = 0.02; run 2: all 0.
-- Dollar greeks (delta, gamma, vega, theta; USD) of the open straddle: zero when flat.
insert into backtest.equity_daily values
    ('synthetic-run-1', '2024-01-02', 100000, 0, 100000, 'nan', 0.0, 0, 0, 0, 0, 0),
    ('synthetic-run-1', '2024-01-03', 98000, 3000, 101000, 0.01, 0.0, 1, 2500, 9000, 60, -45),
    ('synthetic-run-1', '2024-01-04', 98000, 1990, 99990, -0.01, -0.01, 1, -1200, 8000, 55, -50),
    ('synthetic-run-1', '2024-01-05', 102000, 0, 102000, 0.0201020102, 0.0, 0, 0, 0, 0, 0),
    ('synthetic-run-2', '2024-01-02', 50000, 0, 50000, 'nan', 0.0, 0, 0, 0, 0, 0),
    ('synthetic-run-2', '2024-01-03', 50000, 0, 50000, 0.0, 0.0, 0, 0, 0, 0, 0),
    ('synthetic-run-2', '2024-01-04', 50000, 0, 50000, 0.0, 0.0, 0, 0, 0, 0, 0),
    ('synthetic-run-2', '2024-01-05', 50000, 0, 50000, 0.0, 0.0, 0, 0, 0, 0, 0);

-- run 1: trade 1 buys the straddle at 30.00, exits at 60.00: (60 - 30) x 1 contract x 100 = +3000
--   (return 30/30 = 1.0); trade 2: (0 - 10) x 100 = -1000 (return -1.0). Total 2000; win rate 1/2.
insert into backtest.trades values
    ('synthetic-run-1', 1, 'long_straddle', 'SPY', '2024-01-19', 1, '2024-01-02', '2024-01-03',
     1, 'holding_period', 'traded', 0.62, 470.5, 30.0, 60.0, 0.0, 3000.0, 1.0),
    ('synthetic-run-1', 2, 'long_straddle', 'SPY', '2024-01-19', 1, '2024-01-03', '2024-01-05',
     2, 'holding_period', 'traded', 0.48, 474.0, 10.0, 0.0, 0.0, -1000.0, -1.0);

-- run 1 legs: each trade is a call and a put of one strike; the legs' entry prices sum to the
-- trade's entry_value (14 + 16 = 30; 4 + 6 = 10) and so do the exits (60 + 0; 0 + 0).
insert into backtest.legs values
    ('synthetic-run-1', 1, 1, 'SPY240119C00470000', 'call', 470.0, '2024-01-19', 1,
     '2024-01-02', 14.0, 14.0, '2024-01-03', 60.0, 60.0, 'traded', 'traded', null),
    ('synthetic-run-1', 1, 2, 'SPY240119P00470000', 'put', 470.0, '2024-01-19', 1,
     '2024-01-02', 16.0, 16.0, '2024-01-03', 0.0, 0.0, 'traded', 'traded', null),
    ('synthetic-run-1', 2, 1, 'SPY240119C00474000', 'call', 474.0, '2024-01-19', 1,
     '2024-01-03', 4.0, 4.0, '2024-01-05', 0.0, 0.0, 'traded', 'traded', null),
    ('synthetic-run-1', 2, 2, 'SPY240119P00474000', 'put', 474.0, '2024-01-19', 1,
     '2024-01-03', 6.0, 6.0, '2024-01-05', 0.0, 0.0, 'traded', 'traded', null);

-- run 1: total return 102000/100000 - 1 = 0.02; max drawdown -0.01; average P&L 2000/2 = 1000.
-- run 2: no trades, so win rate and Sortino are NaN (degenerate), Sharpe NaN (zero volatility).
-- Last four columns: volatility, calmar ratio (CAGR / |max drawdown| = 3.5 / 0.01 = 350),
-- average holding days ((1 + 2) / 2 = 1.5), total commissions.
insert into backtest.metrics values
    ('synthetic-run-1', 0.02, 3.5, 1.25, 1.8, -0.01, 0.5, 2, 1000.0, '2024-01-02', '2024-01-05',
     0.25, 350.0, 1.5, 0.0),
    ('synthetic-run-2', 0.0, 0.0, 'nan', 'nan', 0.0, 'nan', 0, 'nan', '2024-01-02', '2024-01-05',
     0.0, 'nan', 'nan', 0.0);
"""


def build_backtest_db(path: Path, *, money_type: str = "double") -> Path:
    """Write the SYNTHETIC ``backtest`` tables to a new DuckDB file at ``path``.

    ``money_type`` is the SQL type of the equity columns; ``"decimal(18, 2)"`` checks that the
    queries cast to DOUBLE.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(_DDL.format(money=money_type))
        con.execute(_ROWS)
        con.execute("checkpoint")
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty warehouse directory, made the active one through ``WAREHOUSE_DIR``."""
    root = tmp_path / "warehouse"
    root.mkdir()
    monkeypatch.setenv("WAREHOUSE_DIR", str(root))
    assert WarehousePaths.from_env().published_db == root / "options.duckdb"
    return root


@pytest.fixture
def backtest_db_builder() -> Callable[..., Path]:
    """:func:`build_backtest_db`, for tests that need a variant of the published file."""
    return build_backtest_db


@pytest.fixture
def published_db(warehouse_dir: Path) -> Path:
    """The active warehouse's published file, holding the SYNTHETIC backtest tables."""
    return build_backtest_db(WarehousePaths.from_env().published_db)


# ---- AppTest helpers shared by the page tests --------------------------------------------------

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PAGE_TIMEOUT_S = 90  # the first run imports altair, polars and duckdb; real-data pages read more


def open_app_page(page_file: str | None = None, timeout_s: float = PAGE_TIMEOUT_S):
    """Run the app headless and switch to ``app_pages/<page_file>`` (the default page if None).

    Fails the test with the page's exception messages if the page raises.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout_s).run()
    if page_file is not None:
        at.switch_page(f"app_pages/{page_file}").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# ---- another process holding a lock, as a running `make all` or a misdirected writer would --------


@contextmanager
def _another_process(code: str) -> Iterator[int]:
    """Run ``code`` (it prints ``locked`` once it holds its lock, then waits on stdin) in a
    subprocess; yield its pid while it holds the lock, then let it exit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc.pid
    finally:
        proc.communicate(timeout=30)


def pipeline_elsewhere(root: Path) -> AbstractContextManager[int]:
    """Hold ``root``'s pipeline lock from another process (a lock taken in this process would
    count as this pipeline's own, see :func:`warehouse.pipeline.pipeline_lock`)."""
    return _another_process(
        "import sys; from pathlib import Path; from warehouse.pipeline import pipeline_lock\n"
        f"with pipeline_lock(Path({str(root)!r})):\n"
        "    print('locked', flush=True); sys.stdin.read()\n"
    )


#: The dbt invocation id of the SYNTHETIC green builds below (run_results.json's metadata).
SYNTHETIC_INVOCATION = "synthetic-green-build"


def record_complete_run(root: Path) -> None:
    """A SYNTHETIC run manifest for the warehouse at ``root``: every stage of a pipeline run
    completed, the dbt stages recording :data:`SYNTHETIC_INVOCATION`, as after a ``make all``
    (``python -m warehouse publish`` and the app's save need it, see warehouse/manifest.py)."""
    paths = WarehousePaths(root)
    manifest.start_run(paths, started_by="SYNTHETIC test run")
    for stage in manifest.STAGES:
        manifest.begin_stage(paths, stage, "synthetic")
        invocation = SYNTHETIC_INVOCATION if stage in manifest.DBT_STAGES else None
        manifest.finish_stage(paths, stage, 0, dbt_invocation_id=invocation)


def write_lock_elsewhere(db: Path) -> AbstractContextManager[int]:
    """Hold ``db`` open read-write from another process, so every read-only open fails."""
    return _another_process(
        f"import duckdb, sys; con = duckdb.connect({str(db)!r}); "
        "print('locked', flush=True); sys.stdin.read()"
    )
