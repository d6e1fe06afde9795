"""app.backtest_runner: the statistics' sample (rolling Sharpe, skipped entries, trade ids) and
the save path.

Fast: the save tests write a tiny SYNTHETIC result (the engine's empty result of the default
config over three hand-picked days, with one hand-written trade) into a throwaway warehouse; the
real runs are in test_backtest_page.py and test_backtest_form.py. The form's half (defaults,
form values -> config, YAML) is in test_run_form.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import doctest
import json
import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from app import backtest_runner as runner
from app import run_form
from app.db import db_version
from engine.backtest import empty_result
from engine.schema import TRADES_SCHEMA
from tests.app.conftest import SYNTHETIC_INVOCATION, pipeline_elsewhere, record_complete_run
from warehouse.paths import WarehousePaths
from warehouse.publish import RunIncompleteError, publish


def test_doctests() -> None:
    assert doctest.testmod(runner).failed == 0


# ---- rolling Sharpe -----------------------------------------------------------------------------


def _days(n: int) -> list[dt.date]:
    return [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]


def test_rolling_sharpe_by_hand() -> None:
    # window 2: returns (0.01, 0.03): mean 0.02, sample std sqrt(2 x 0.01^2) = 0.0141421,
    #   Sharpe 0.02 / 0.0141421 x sqrt(252) = 22.449944; (0.03, 0.02): mean 0.025,
    #   std 0.0070711, 0.025 / 0.0070711 x sqrt(252) = 56.124861
    equity = pl.DataFrame({"quote_date": _days(3), "daily_return": [0.01, 0.03, 0.02]})

    out = runner.rolling_sharpe(equity, 2)

    assert out["quote_date"].to_list() == _days(3)[1:]
    assert out["rolling_sharpe"].to_list() == pytest.approx([22.449944, 56.124861], rel=1e-6)


def test_rolling_sharpe_matches_the_engine_on_one_full_window() -> None:
    from engine.metrics import sharpe_ratio

    returns = [0.004, -0.011, 0.007, 0.002, -0.003, 0.009, -0.001, 0.005, -0.006, 0.003]
    equity = pl.DataFrame({"quote_date": _days(10), "daily_return": returns})

    out = runner.rolling_sharpe(equity, 10)

    assert out.height == 1
    assert out.item(0, "rolling_sharpe") == pytest.approx(sharpe_ratio(returns))


def test_rolling_sharpe_skips_unknown_and_constant_windows() -> None:
    # NaN first return (unknown): the first window (days 1-2) is not full; days 3-4 are flat
    equity = pl.DataFrame(
        {"quote_date": _days(4), "daily_return": [math.nan, 0.01, 0.0, 0.0]}
    ).reverse()  # row order does not matter

    out = runner.rolling_sharpe(equity, 2)

    # windows (0.01, 0.0) on day 3 only: mean 0.005, std 0.0070711 -> 11.224972
    assert out["quote_date"].to_list() == [_days(4)[2]]
    assert out.item(0, "rolling_sharpe") == pytest.approx(11.224972, rel=1e-6)
    assert runner.rolling_sharpe(equity, None).is_empty()


def test_rolling_window_fits_twice_and_is_never_shorter_than_a_quarter() -> None:
    assert runner.rolling_window(504) == 252
    assert runner.rolling_window(503) == 126
    assert runner.rolling_window(126) == 63
    # the 61 sessions of the real 2019 chain: no rolling Sharpe (a 21-day one swung by ±6)
    assert runner.rolling_window(125) is None
    assert runner.rolling_window(61) is None
    # its standard error, sqrt(252 / window) (Lo 2002): 2.0 over a quarter, 3.46 over 21 days
    assert runner.rolling_sharpe_se(63) == pytest.approx(2.0)
    assert runner.rolling_sharpe_se(21) == pytest.approx(3.4641, abs=1e-4)


# ---- skipped entries and trade ids --------------------------------------------------------------


def test_skipped_entries_by_reason() -> None:
    """SYNTHETIC: three sessions skipped for two reasons."""
    days = [dt.date(2019, 5, 1), dt.date(2019, 5, 2), dt.date(2019, 5, 8)]
    skipped = pl.DataFrame(
        {"quote_date": days, "reason": ["sized_to_zero", "no_quotes", "sized_to_zero"]}
    )

    out = runner.skipped_by_reason(skipped)

    assert out.select("reason", "n_skipped", "first_date", "last_date").rows() == [
        ("sized_to_zero", 2, days[0], days[2]),
        ("no_quotes", 1, days[1], days[1]),
    ]
    assert out["meaning"][0].startswith("sizing gave 0 lots")
    assert runner.skipped_by_reason(skipped.clear()).is_empty()
    # every reason the engine writes is explained
    from engine.entries import SKIP_REASONS

    assert set(SKIP_REASONS) <= set(runner.SKIP_REASON_TEXT)


def test_missing_trade_ids() -> None:
    assert runner.missing_trade_ids(pl.Series([1, 5, 8, 11, 13])) == [2, 3, 4, 6, 7, 9, 10, 12]
    assert runner.missing_trade_ids(pl.Series([1, 2, 3])) == []
    assert runner.missing_trade_ids(pl.Series([], dtype=pl.Int64)) == []


# ---- saving -------------------------------------------------------------------------------------

SYNTHETIC_DAYS = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]


def _synthetic_trade(run_id: str) -> pl.DataFrame:
    """One SYNTHETIC closed trade: bought at 30.00, sold at 31.00 a day later, 1 lot:
    (31 - 30) x 100 = +100 USD."""
    row = {name: None for name in TRADES_SCHEMA}
    row.update(
        run_id=run_id,
        trade_id=1,
        strategy="long_straddle",
        underlying_symbol="SPX",
        lots=1,
        status="closed",
        entry_date=SYNTHETIC_DAYS[0],
        exit_date=SYNTHETIC_DAYS[1],
        entry_value=30.0,
        exit_value=31.0,
        pnl_usd=100.0,
    )
    return pl.DataFrame([row], schema=TRADES_SCHEMA)


def _outcome(
    published: Path, *, take_profit_pct: float | None = 25.0, with_trade: bool = True
) -> runner.RunOutcome:
    """A SYNTHETIC outcome: the engine's empty result (no entries) of the default config with a
    take-profit, over three days (flat equity at the initial capital), plus one hand-written
    trade unless ``with_trade`` is false."""
    cfg = run_form.build_config(
        dataclasses.replace(run_form.default_form_values(), take_profit_pct=take_profit_pct)
    )
    result = empty_result(cfg, pl.DataFrame({"quote_date": SYNTHETIC_DAYS}))
    if with_trade:
        result = dataclasses.replace(result, trades=_synthetic_trade(result.run_id))
    return runner.RunOutcome(cfg, result, db_version(published), {})


def _green(target: Path, status: str = "success") -> Path:
    """A SYNTHETIC dbt run_results.json of a `dbt build` whose one node has ``status``, the
    invocation the run manifest of :func:`tiny_warehouse` recorded."""
    target.mkdir(parents=True, exist_ok=True)
    path = target / "run_results.json"
    results = [{"unique_id": "model.options.synthetic", "status": status}]
    metadata = {"invocation_id": SYNTHETIC_INVOCATION}
    path.write_text(
        json.dumps({"metadata": metadata, "args": {"which": "build"}, "results": results})
    )
    return path


@pytest.fixture
def tiny_warehouse(tmp_path: Path) -> WarehousePaths:
    """A throwaway warehouse: a build database with one unrelated table, published, and the run
    manifest of a complete pipeline run."""
    paths = WarehousePaths(tmp_path / "warehouse")
    paths.build_db.parent.mkdir(parents=True)
    con = duckdb.connect(str(paths.build_db))
    con.execute("create table unrelated as select 1 as x")
    con.close()
    con = duckdb.connect(str(paths.published_db))
    con.execute("create table unrelated as select 1 as x")
    con.close()
    record_complete_run(paths.root)
    return paths


def _published_runs(paths: WarehousePaths) -> list[str]:
    con = duckdb.connect(str(paths.published_db), read_only=True)
    try:
        tables = con.sql(
            "select count(*) from information_schema.tables where table_schema = 'backtest'"
        ).fetchall()[0][0]
        if not tables:
            return []
        return [r[0] for r in con.sql("select run_id from backtest.runs").fetchall()]
    finally:
        con.close()


def test_save_writes_the_build_db_and_publishes(tiny_warehouse: WarehousePaths) -> None:
    paths = tiny_warehouse
    outcome = _outcome(paths.published_db)

    report = runner.save_run(
        outcome, paths, run_results=_green(paths.root / "target"), rebuild_reports=False
    )

    assert report.run_id == outcome.result.run_id
    assert report.published_db == paths.published_db
    assert _published_runs(paths) == [outcome.result.run_id]
    assert set(report.timings_s) == {"write", "publish", "total"}
    # the build database holds it too (the next `make all` keeps it until derived data reset)
    con = duckdb.connect(str(paths.build_db), read_only=True)
    assert con.sql("select count(*) from backtest.equity_daily").fetchall() == [(3,)]
    con.close()


def test_a_run_without_a_position_is_never_saved(tiny_warehouse: WarehousePaths) -> None:
    paths = tiny_warehouse
    empty = _outcome(paths.published_db, with_trade=False)
    before = paths.build_db.stat().st_mtime_ns

    assert runner.save_refusal(_outcome(paths.published_db)) is None
    refusal = runner.save_refusal(empty)
    assert refusal == f"Run {empty.result.run_id} opened no position, so there is nothing to save."
    with pytest.raises(runner.SaveError, match="opened no position") as excinfo:
        runner.save_run(
            empty, paths, run_results=_green(paths.root / "target"), rebuild_reports=False
        )

    assert "Nothing was written" in str(excinfo.value)
    assert not excinfo.value.written
    assert paths.build_db.stat().st_mtime_ns == before
    assert _published_runs(paths) == []


def test_save_refuses_a_red_build_and_writes_nothing(tiny_warehouse: WarehousePaths) -> None:
    paths = tiny_warehouse
    outcome = _outcome(paths.published_db)
    before = paths.build_db.stat().st_mtime_ns

    with pytest.raises(runner.SaveError) as excinfo:
        runner.save_run(
            outcome, paths, run_results=_green(paths.root / "target", "fail"), rebuild_reports=False
        )

    message = str(excinfo.value)
    assert "Publishing is refused" in message
    assert "model.options.synthetic (fail)" in message
    assert "Nothing was written" in message and "make all" in message
    assert not excinfo.value.written
    assert paths.build_db.stat().st_mtime_ns == before
    assert _published_runs(paths) == []


def test_save_without_a_build_db_says_so(tiny_warehouse: WarehousePaths) -> None:
    paths = tiny_warehouse
    paths.build_db.unlink()

    with pytest.raises(runner.SaveError, match="no build database"):
        runner.save_run(
            _outcome(paths.published_db), paths, run_results=_green(paths.root / "target")
        )
    assert not paths.build_db.exists()


def test_save_refuses_after_a_republish(tiny_warehouse: WarehousePaths) -> None:
    paths = tiny_warehouse
    outcome = _outcome(paths.published_db)
    con = duckdb.connect(str(paths.published_db))
    con.execute("create table another as select 2 as y")  # a newer publish (new mtime)
    con.close()

    build_before = paths.build_db.stat().st_mtime_ns
    with pytest.raises(runner.SaveError, match="published again since this run") as excinfo:
        runner.save_run(
            outcome, paths, run_results=_green(paths.root / "target"), rebuild_reports=False
        )
    assert excinfo.value.written is False
    assert paths.build_db.stat().st_mtime_ns == build_before
    assert _published_runs(paths) == []


def test_a_save_whose_attribution_rebuild_dies_leaves_publish_refused(
    tiny_warehouse: WarehousePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save's dbt rebuild is the run's attribute stage (warehouse/manifest.py): when it
    fails, the run is in the build database but nothing publishes it until the stage reruns."""
    paths = tiny_warehouse
    run_results = _green(paths.root / "target")
    monkeypatch.setattr(runner, "DBT", "/bin/false")  # a dbt that fails at once

    with pytest.raises(runner.SaveError, match="rebuilding the attribution models") as excinfo:
        runner.save_run(_outcome(paths.published_db), paths, run_results=run_results)

    assert excinfo.value.written
    assert _published_runs(paths) == []
    with pytest.raises(RunIncompleteError, match=r"attribute failed \(exit status 1\)"):
        publish(paths, run_results)


@pytest.fixture
def lock_holder(tiny_warehouse: WarehousePaths) -> Iterator[int]:
    """Another process holding the warehouse's pipeline lock, as `make all` does (its pid)."""
    with pipeline_elsewhere(tiny_warehouse.root) as pid:
        yield pid


def test_save_while_the_pipeline_runs_is_refused(
    tiny_warehouse: WarehousePaths, lock_holder: int
) -> None:
    paths = tiny_warehouse
    before = (paths.build_db.stat().st_mtime_ns, db_version(paths.published_db))

    with pytest.raises(runner.WarehouseBusyError) as excinfo:
        runner.save_run(
            _outcome(paths.published_db), paths, run_results=_green(paths.root / "target")
        )

    assert excinfo.value.pid == lock_holder
    assert f"being rebuilt (make all, pid {lock_holder})" in str(excinfo.value)
    assert (paths.build_db.stat().st_mtime_ns, db_version(paths.published_db)) == before
