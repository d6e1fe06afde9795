"""app.backtest_runner: each strategy's defaults, form values and legs -> config, the config as
YAML (and back: clones), the statistics' sample, skipped entries, and the save path.

Fast: the save tests write a tiny SYNTHETIC result (the engine's empty result of the default
config over three hand-picked days, with one hand-written trade) into a throwaway warehouse; the
one real-data test here reads the published warehouse's run configs; the real runs are in
test_backtest_page.py and test_backtest_form.py.
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
import yaml

from app import backtest_runner as runner
from app.db import db_version
from engine.backtest import empty_result
from engine.config import BacktestConfig, ConfigError, ExitConfig, load_config
from engine.schema import TRADES_SCHEMA
from engine.strategies import LegSpec
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


def test_forecast_model_is_dropped_without_a_model_signal() -> None:
    values = dataclasses.replace(runner.default_form_values(), signal="none")

    assert runner.build_config(values).entry.forecast_model is None
    top_k = dataclasses.replace(
        values, strategy="long_call", legs=runner.catalogue()["long_call"].legs, signal="top_k"
    )
    assert runner.build_config(top_k).entry.forecast_model == "xgb_direction_5d"
    # the selector reads forecasts.fct_strategy_signals, but the engine records a model
    selector = dataclasses.replace(values, signal="selector")
    assert runner.build_config(selector).entry.forecast_model == "xgb_direction_5d"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"target_dte": 50}, "min_dte <= target_dte <= max_dte, got 20, 50, 45"),
        ({"target_dte": None}, "entry.target_dte must be an integer, got None"),
        ({"threshold": 1.5}, "entry.threshold must be in [0.0, 1.0], got 1.5"),
        ({"holding_days": 2.5}, "exits.holding_days must be an integer, got 2.5"),
        ({"holding_days": 0}, "exits.holding_days must be in [1, 10000], got 0"),
        ({"signal": "bogus"}, "entry.signal must be one of"),
        ({"fraction": 2.0}, "sizing.fraction must be in [1e-06, 1.0], got 2.0"),
        ({"stop_loss_pct": -5.0}, "exits.stop_loss_pct must be in [0.0, 10000.0], got -5.0"),
        ({"signal": "top_k"}, "top_k' picks contracts: it needs a single-leg strategy"),
        ({"initial_capital_usd": 0.0}, "initial_capital_usd must be in [1.0, 1000000000000.0]"),
        ({"option_roots": ()}, "option_roots must be a non-empty list of roots, got []"),
    ],
)
def test_invalid_values_raise_config_error_naming_them(change: dict, named: str) -> None:
    values = dataclasses.replace(runner.default_form_values(), **change)

    with pytest.raises(ConfigError) as excinfo:
        runner.build_config(values)

    assert named in str(excinfo.value)


def test_an_unknown_strategy_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'no_such_strategy'"):
        runner.strategy_form("no_such_strategy")


# ---- each strategy's own defaults --------------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(runner.catalogue()))
def test_every_strategy_has_valid_defaults_of_its_own(strategy: str) -> None:
    values, base, source = runner.strategy_form(strategy)

    cfg = runner.build_config(values, base)

    assert cfg.strategy.name == strategy
    assert cfg.strategy.legs == runner.catalogue()[strategy].legs or strategy == "iron_condor"
    assert source
    if strategy != "long_straddle":  # only the straddle's own config gates on p_up
        assert cfg.entry.signal == "none"
        assert cfg.exits.holding_days is None


def test_a_bull_put_spread_no_longer_inherits_the_straddle_config() -> None:
    """Issue 19: the form's defaults came from the long straddle's config (a 5-session hold,
    a p_up <= 0.55 gate) whatever the strategy; a credit spread now gets credit exits."""
    values, base, source = runner.strategy_form("bull_put_spread")

    cfg = runner.build_config(values, base)

    assert (cfg.exits.take_profit_pct, cfg.exits.stop_loss_pct) == (50.0, 200.0)
    assert (cfg.exits.exit_dte, cfg.exits.holding_days) == (7, None)
    assert (cfg.entry.signal, cfg.entry.forecast_model, cfg.entry.schedule) == (
        "none",
        None,
        "weekly",
    )
    assert "credit preset" in source


@pytest.mark.parametrize(
    ("strategy", "path"),
    [("long_straddle", "long_straddle_spx.yaml"), ("iron_condor", "iron_condor_spx.yaml")],
)
def test_a_strategy_with_its_own_config_starts_from_it(strategy: str, path: str) -> None:
    values, base, source = runner.strategy_form(strategy)

    assert runner.build_config(values, base).run_id == load_config(CONFIGS / path).run_id
    assert path in source


def test_covered_strategies_get_the_capital_a_lot_needs() -> None:
    """Issue 19's covered call on SPX made 0 trades: $100,000 buys no lot of 100 index units."""
    for strategy in ("covered_call", "collar", "cash_secured_put"):
        cfg = runner.build_config(*runner.strategy_form(strategy)[:2])
        assert cfg.initial_capital_usd == 1_000_000.0
        assert (cfg.entry.schedule, cfg.entry.expiry_type) == ("monthly_expiration", "monthly")
        assert cfg.exits == ExitConfig()  # held to expiration


def test_premium_estimate_by_hand() -> None:
    """SYNTHETIC check of the credit/debit classifier.

    ATM straddle, spot 1, vol 0.2, 30 days: sigma sqrt(T) = 0.2 x sqrt(30/365) = 0.057338;
    d1 = 0.028669, d2 = -0.028669; call = N(d1) - N(d2) = 2 x 0.011436 = 0.022872; the put is
    the same at the money; the straddle 0.045744 (a debit), sold -0.045744 (a credit).
    """
    catalogue = runner.catalogue()
    assert runner.estimated_net_premium(catalogue["long_straddle"]) == pytest.approx(
        0.045744, abs=1e-6
    )
    assert runner.estimated_net_premium(catalogue["short_straddle"]) == pytest.approx(
        -0.045744, abs=1e-6
    )
    kinds = {name: runner.strategy_kind(spec) for name, spec in catalogue.items()}
    assert {k for k, v in kinds.items() if v == "covered"} == {
        "covered_call",
        "protective_put",
        "collar",
        "cash_secured_put",
    }
    for credit in ("short_put", "bull_put_spread", "bear_call_spread", "iron_condor"):
        assert kinds[credit] == "credit"
    for debit in ("long_call", "bull_call_spread", "long_call_butterfly", "long_call_calendar"):
        assert kinds[debit] == "debit"


# ---- legs ---------------------------------------------------------------------------------------


def _bull_put() -> runner.FormValues:
    return runner.strategy_form("bull_put_spread")[0]


def test_a_20_delta_bull_put_spread_is_a_leg_override() -> None:
    values = _bull_put()
    short, long = values.legs
    twenty = dataclasses.replace(values, legs=(dataclasses.replace(short, value=0.20), long))

    mapping = runner.config_mapping(twenty, runner.strategy_defaults("bull_put_spread")[0])
    cfg = runner.build_config(twenty, runner.strategy_defaults("bull_put_spread")[0])

    assert mapping["strategy"] == "bull_put_spread"
    assert mapping["leg_overrides"] == {1: {"delta": 0.2}}
    assert "legs" not in mapping
    assert cfg.strategy.legs[0].value == 0.2
    assert cfg.strategy.legs[1] == long  # long put 2 % of spot below leg 1
    assert cfg.run_id.startswith("bull_put_spread-")


def test_a_bull_put_spread_by_two_deltas() -> None:
    values = _bull_put()
    short, long = values.legs
    legs = (
        dataclasses.replace(short, value=0.20),
        dataclasses.replace(long, rule="delta", value=0.10, of=1),  # the form keeps a stale of
    )

    cfg = runner.build_config(
        dataclasses.replace(values, legs=legs), runner.preset_mapping("bull_put_spread")
    )

    assert [(leg.rule, leg.value, leg.of) for leg in cfg.strategy.legs] == [
        ("delta", 0.2, None),
        ("delta", 0.1, None),
    ]


def test_a_new_structure_is_an_inline_custom_strategy() -> None:
    values = _bull_put()
    wing = LegSpec("put", "long", 1, "front", "width_pct", -4.0, 1)

    cfg = runner.build_config(
        dataclasses.replace(values, legs=(*values.legs, wing)),
        runner.preset_mapping("bull_put_spread"),
    )

    assert cfg.strategy.name == "custom_bull_put_spread"
    assert len(cfg.strategy.legs) == 3
    assert cfg.run_id.startswith("custom_bull_put_spread-")


@pytest.mark.parametrize(
    ("leg", "named"),
    [
        (
            LegSpec("put", "short", 1, "front", "delta", 1.5),
            "strategy 'bull_put_spread' leg 1: delta is the target |delta| in (0, 1), got 1.5",
        ),
        (
            LegSpec("put", "short", 1, "front", "delta", None),
            "leg 1: delta must be a number, got None",
        ),
        (
            LegSpec("put", "short", 0, "front", "delta", 0.2),
            "leg 1: ratio must be an integer in [1, 10000], got 0",
        ),
        (
            LegSpec("put", "short", 1, "front", "width_pct", -2.0, 1),
            "strategy 'bull_put_spread' leg 1: width_pct must refer to an earlier leg (1..0), got 1",
        ),
    ],
)
def test_an_invalid_leg_raises_the_engines_message(leg: LegSpec, named: str) -> None:
    values = _bull_put()
    bad = dataclasses.replace(values, legs=(leg, values.legs[1]))

    with pytest.raises(ConfigError) as excinfo:
        runner.build_config(bad, runner.preset_mapping("bull_put_spread"))

    assert named in str(excinfo.value)


def test_empty_optional_fields_reach_the_config_as_off_and_zero_is_zero() -> None:
    values = dataclasses.replace(
        _bull_put(), take_profit_pct=None, stop_loss_pct=0.0, exit_dte=0, holding_days=None
    )

    cfg = runner.build_config(values, runner.preset_mapping("bull_put_spread"))

    assert cfg.exits == ExitConfig(take_profit_pct=None, stop_loss_pct=0.0, exit_dte=0)
    assert runner.resolved_mapping(cfg)["exits"]["take_profit_pct"] is None


def test_settings_that_do_not_apply_are_not_sent() -> None:
    values = dataclasses.replace(
        runner.default_form_values(), signal="none", exit_on_signal=True, regimes=("HIGH",)
    )

    cfg = runner.build_config(values)

    assert (cfg.exits.exit_on_signal, cfg.entry.regimes, cfg.entry.forecast_model) == (
        False,
        (),
        None,
    )


# ---- the config as YAML, and clones --------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[2] / "engine" / "configs"


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS))
)
def test_the_yaml_shown_runs_to_the_same_run_id(path: Path) -> None:
    cfg = load_config(path)

    text = runner.config_yaml(cfg, run_id=cfg.run_id)
    again = BacktestConfig.from_mapping(yaml.safe_load(text))
    # the form over the resolved mapping, untouched, keeps it too (a clone)
    clone = runner.build_config(runner.FormValues.from_config(cfg), runner.resolved_mapping(cfg))

    assert again.run_id == clone.run_id == cfg.run_id
    assert text.startswith(f"# Backtest {cfg.run_id}:")


def test_config_from_json_of_every_saved_run(real_published: Path) -> None:
    """Real data: every run of the published warehouse clones to its own run id."""
    con = duckdb.connect(str(real_published), read_only=True)
    try:
        rows = con.sql("select run_id, config_json from backtest.runs").fetchall()
    finally:
        con.close()
    assert rows
    assert {run_id: runner.config_from_json(text).run_id for run_id, text in rows} == {
        run_id: run_id for run_id, _ in rows
    }


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"holding_days": 5}', "config_json is not a backtest config"),
        ("not json", "config_json is not a backtest config"),
    ],
)
def test_config_from_json_names_what_it_cannot_read(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        runner.config_from_json(text)


def test_settings_outside_the_form_are_listed() -> None:
    from engine.config import read_mapping

    listed = runner.settings_outside_form(read_mapping(CONFIGS / "benchmarks" / "cll.yaml"))

    assert 'execution.zero_bid: "trade"' in listed
    assert 'stock_dividends: "trailing_yield"' in listed
    assert runner.settings_outside_form(runner.preset_mapping("bull_put_spread")) == []


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
    cfg = runner.build_config(
        dataclasses.replace(runner.default_form_values(), take_profit_pct=take_profit_pct)
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
