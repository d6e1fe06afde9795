"""app.run_form: each strategy's defaults, form values and legs -> config, the config as YAML
(and back: clones).

Fast and SYNTHETIC-free: every test builds configs from the repository's own catalogue and
engine configs; the one real-data test reads the published warehouse's run configs. The form's
widgets are in test_backtest_form.py; running and saving in test_backtest_runner.py.
"""

from __future__ import annotations

import dataclasses
import doctest
from pathlib import Path

import duckdb
import pytest
import yaml

from app import run_form
from engine.config import BacktestConfig, ConfigError, ExitConfig, load_config
from engine.strategies import LegSpec

CONFIGS = Path(__file__).resolve().parents[2] / "engine" / "configs"


def test_doctests() -> None:
    assert doctest.testmod(run_form).failed == 0


# ---- form values -> config ----------------------------------------------------------------------


def test_default_form_values_round_trip_to_the_yaml_run_id() -> None:
    cfg = load_config()
    values = run_form.default_form_values()

    built = run_form.build_config(values)

    assert built.run_id == cfg.run_id
    assert built.to_dict() == cfg.to_dict()
    assert run_form.FormValues.from_config(built) == values
    # what the YAML says, through the form
    assert values.strategy == "long_straddle"
    assert values.signal == "prob_up_at_most"
    assert values.threshold == 0.55
    assert values.holding_days == 5
    assert values.take_profit_pct is None


def test_keys_the_form_does_not_edit_come_from_the_yaml() -> None:
    values = dataclasses.replace(run_form.default_form_values(), take_profit_pct=50.0)

    cfg = run_form.build_config(values)

    assert cfg.option_roots == ("SPXW",)
    assert cfg.execution.multiplier == 100
    assert cfg.exits.take_profit_pct == 50.0
    assert cfg.run_id != load_config().run_id


def test_integral_floats_become_ints() -> None:
    values = dataclasses.replace(run_form.default_form_values(), holding_days=3.0, target_dte=30.0)

    cfg = run_form.build_config(values)

    assert cfg.exits.holding_days == 3
    assert isinstance(cfg.entry.target_dte, int)


def test_forecast_model_is_dropped_without_a_model_signal() -> None:
    values = dataclasses.replace(run_form.default_form_values(), signal="none")

    assert run_form.build_config(values).entry.forecast_model is None
    top_k = dataclasses.replace(
        values, strategy="long_call", legs=run_form.catalogue()["long_call"].legs, signal="top_k"
    )
    assert run_form.build_config(top_k).entry.forecast_model == "xgb_direction_5d"
    # the selector reads forecasts.fct_strategy_signals, but the engine records a model
    selector = dataclasses.replace(values, signal="selector")
    assert run_form.build_config(selector).entry.forecast_model == "xgb_direction_5d"


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
    values = dataclasses.replace(run_form.default_form_values(), **change)

    with pytest.raises(ConfigError) as excinfo:
        run_form.build_config(values)

    assert named in str(excinfo.value)


def test_an_unknown_strategy_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'no_such_strategy'"):
        run_form.strategy_form("no_such_strategy")


# ---- each strategy's own defaults --------------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(run_form.catalogue()))
def test_every_strategy_has_valid_defaults_of_its_own(strategy: str) -> None:
    values, base, source = run_form.strategy_form(strategy)

    cfg = run_form.build_config(values, base)

    assert cfg.strategy.name == strategy
    assert cfg.strategy.legs == run_form.catalogue()[strategy].legs or strategy == "iron_condor"
    assert source
    if strategy != "long_straddle":  # only the straddle's own config gates on p_up
        assert cfg.entry.signal == "none"
        assert cfg.exits.holding_days is None


def test_a_bull_put_spread_no_longer_inherits_the_straddle_config() -> None:
    """Issue 19: the form's defaults came from the long straddle's config (a 5-session hold,
    a p_up <= 0.55 gate) whatever the strategy; a credit spread now gets credit exits."""
    values, base, source = run_form.strategy_form("bull_put_spread")

    cfg = run_form.build_config(values, base)

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
    values, base, source = run_form.strategy_form(strategy)

    assert run_form.build_config(values, base).run_id == load_config(CONFIGS / path).run_id
    assert path in source


def test_covered_strategies_get_the_capital_a_lot_needs() -> None:
    """Issue 19's covered call on SPX made 0 trades: $100,000 buys no lot of 100 index units."""
    for strategy in ("covered_call", "collar", "cash_secured_put"):
        cfg = run_form.build_config(*run_form.strategy_form(strategy)[:2])
        assert cfg.initial_capital_usd == 1_000_000.0
        assert (cfg.entry.schedule, cfg.entry.expiry_type) == ("monthly_expiration", "monthly")
        assert cfg.exits == ExitConfig()  # held to expiration


def test_premium_estimate_by_hand() -> None:
    """SYNTHETIC check of the credit/debit classifier.

    ATM straddle, spot 1, vol 0.2, 30 days: sigma sqrt(T) = 0.2 x sqrt(30/365) = 0.057338;
    d1 = 0.028669, d2 = -0.028669; call = N(d1) - N(d2) = 2 x 0.011436 = 0.022872; the put is
    the same at the money; the straddle 0.045744 (a debit), sold -0.045744 (a credit).
    """
    catalogue = run_form.catalogue()
    assert run_form.estimated_net_premium(catalogue["long_straddle"]) == pytest.approx(
        0.045744, abs=1e-6
    )
    assert run_form.estimated_net_premium(catalogue["short_straddle"]) == pytest.approx(
        -0.045744, abs=1e-6
    )
    kinds = {name: run_form.strategy_kind(spec) for name, spec in catalogue.items()}
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


def _bull_put() -> run_form.FormValues:
    return run_form.strategy_form("bull_put_spread")[0]


def test_a_20_delta_bull_put_spread_is_a_leg_override() -> None:
    values = _bull_put()
    short, long = values.legs
    twenty = dataclasses.replace(values, legs=(dataclasses.replace(short, value=0.20), long))

    mapping = run_form.config_mapping(twenty, run_form.strategy_defaults("bull_put_spread")[0])
    cfg = run_form.build_config(twenty, run_form.strategy_defaults("bull_put_spread")[0])

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

    cfg = run_form.build_config(
        dataclasses.replace(values, legs=legs), run_form.preset_mapping("bull_put_spread")
    )

    assert [(leg.rule, leg.value, leg.of) for leg in cfg.strategy.legs] == [
        ("delta", 0.2, None),
        ("delta", 0.1, None),
    ]


def test_a_new_structure_is_an_inline_custom_strategy() -> None:
    values = _bull_put()
    wing = LegSpec("put", "long", 1, "front", "width_pct", -4.0, 1)

    cfg = run_form.build_config(
        dataclasses.replace(values, legs=(*values.legs, wing)),
        run_form.preset_mapping("bull_put_spread"),
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
        run_form.build_config(bad, run_form.preset_mapping("bull_put_spread"))

    assert named in str(excinfo.value)


def test_empty_optional_fields_reach_the_config_as_off_and_zero_is_zero() -> None:
    values = dataclasses.replace(
        _bull_put(), take_profit_pct=None, stop_loss_pct=0.0, exit_dte=0, holding_days=None
    )

    cfg = run_form.build_config(values, run_form.preset_mapping("bull_put_spread"))

    assert cfg.exits == ExitConfig(take_profit_pct=None, stop_loss_pct=0.0, exit_dte=0)
    assert run_form.resolved_mapping(cfg)["exits"]["take_profit_pct"] is None


def test_settings_that_do_not_apply_are_not_sent() -> None:
    values = dataclasses.replace(
        run_form.default_form_values(), signal="none", exit_on_signal=True, regimes=("HIGH",)
    )

    cfg = run_form.build_config(values)

    assert (cfg.exits.exit_on_signal, cfg.entry.regimes, cfg.entry.forecast_model) == (
        False,
        (),
        None,
    )


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS))
)
def test_the_yaml_shown_runs_to_the_same_run_id(path: Path) -> None:
    cfg = load_config(path)

    text = run_form.config_yaml(cfg, run_id=cfg.run_id)
    again = BacktestConfig.from_mapping(yaml.safe_load(text))
    # the form over the resolved mapping, untouched, keeps it too (a clone)
    clone = run_form.build_config(
        run_form.FormValues.from_config(cfg), run_form.resolved_mapping(cfg)
    )

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
    assert {run_id: run_form.config_from_json(text).run_id for run_id, text in rows} == {
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
        run_form.config_from_json(text)


def test_settings_outside_the_form_are_listed() -> None:
    from engine.config import read_mapping

    listed = run_form.settings_outside_form(read_mapping(CONFIGS / "benchmarks" / "cll.yaml"))

    assert 'execution.zero_bid: "trade"' in listed
    assert 'stock_dividends: "trailing_yield"' in listed
    assert run_form.settings_outside_form(run_form.preset_mapping("bull_put_spread")) == []
