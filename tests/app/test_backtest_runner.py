"""app.backtest_runner: form values -> config, rolling Sharpe, and the save path.

Everything here is SYNTHETIC and fast: the save tests write a tiny empty-chain result (the engine's
own empty result of the default config over three hand-picked days) into a throwaway warehouse;
the real-data runs are in test_backtest_page.py.
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
from app.db import db_version
from engine.backtest import empty_result
from engine.config import ConfigError, load_config
from tests.app.conftest import SYNTHETIC_INVOCATION, pipeline_elsewhere, record_complete_run
from warehouse.paths import WarehousePaths
from warehouse.publish import RunIncompleteError, publish


def test_doctests() -> None:
    assert doctest.testmod(runner).failed == 0


# ---- form values -> config ----------------------------------------------------------------------


def test_default_form_values_round_trip_to_the_yaml_run_id() -> None:
    cfg = load_config()
    values = runner.default_form_values()

    built = runner.build_config(values)

    assert built.run_id == cfg.run_id
    assert built.to_dict() == cfg.to_dict()
    assert runner.FormValues.from_config(built) == values
    # what the YAML says, through the form
    assert values.strategy == "long_straddle"
    assert values.signal == "prob_up_at_most"
    assert values.threshold == 0.55
    assert values.holding_days == 5
    assert values.take_profit_pct is None


def test_keys_the_form_does_not_edit_come_from_the_yaml() -> None:
    values = dataclasses.replace(runner.default_form_values(), take_profit_pct=50.0)

    cfg = runner.build_config(values)

    assert cfg.option_roots == ("SPXW",)
    assert cfg.execution.multiplier == 100
    assert cfg.exits.take_profit_pct == 50.0
    assert cfg.run_id != load_config().run_id


def test_integral_floats_become_ints() -> None:
    values = dataclasses.replace(runner.default_form_values(), holding_days=3.0, target_dte=30.0)

    cfg = runner.build_config(values)

    assert cfg.exits.holding_days == 3
    assert isinstance(cfg.entry.target_dte, int)


def test_forecast_model_is_dropped_without_a_probability_signal() -> None:
    values = dataclasses.replace(runner.default_form_values(), signal="none")

    assert runner.build_config(values).entry.forecast_model is None
    top_k = dataclasses.replace(values, strategy="long_call", signal="top_k")
    assert runner.build_config(top_k).entry.forecast_model == "xgb_direction_5d"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"target_dte": 50}, "min_dte <= target_dte <= max_dte, got 20, 50, 45"),
        ({"threshold": 1.5}, "entry.threshold must be in [0.0, 1.0], got 1.5"),
        ({"holding_days": 2.5}, "exits.holding_days must be an integer, got 2.5"),
        ({"signal": "bogus"}, "entry.signal must be one of"),
        ({"strategy": "no_such_strategy"}, "unknown strategy 'no_such_strategy'"),
        ({"fraction": 2.0}, "sizing.fraction must be in [1e-06, 1.0], got 2.0"),
        ({"stop_loss_pct": -5.0}, "exits.stop_loss_pct must be in [0.0, 10000.0], got -5.0"),
        ({"signal": "top_k"}, "top_k' picks contracts: it needs a single-leg strategy"),
        ({"exit_on_signal": True, "signal": "none"}, "exits.exit_on_signal needs a prob_up"),
        ({"initial_capital_usd": 0.0}, "initial_capital_usd must be in [1.0, 1000000000000.0]"),
    ],
)
def test_invalid_values_raise_config_error_naming_them(change: dict, named: str) -> None:
    values = dataclasses.replace(runner.default_form_values(), **change)

    with pytest.raises(ConfigError) as excinfo:
        runner.build_config(values)

    assert named in str(excinfo.value)


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


def test_rolling_window_fits_twice() -> None:
    assert runner.rolling_window(126) == 63
    assert runner.rolling_window(125) == 21
    assert runner.rolling_window(23) == 10
    assert runner.rolling_window(19) is None


# ---- saving -------------------------------------------------------------------------------------

SYNTHETIC_DAYS = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]


def _outcome(published: Path, *, take_profit_pct: float | None = 25.0) -> runner.RunOutcome:
    """A SYNTHETIC outcome: the engine's empty result (no entries) of the default config with a
    take-profit, over three days; flat equity at the initial capital."""
    cfg = runner.build_config(
        dataclasses.replace(runner.default_form_values(), take_profit_pct=take_profit_pct)
    )
    result = empty_result(cfg, pl.DataFrame({"quote_date": SYNTHETIC_DAYS}))
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
    assert "stays unsaved" in message and "make all" in message
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
