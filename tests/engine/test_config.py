"""Tests of engine.config: strict keys, ranges named in errors, deterministic run_id."""

from __future__ import annotations

import dataclasses
import re

import pytest

from engine.config import DEFAULT_CONFIG_PATH, ConfigError, StraddleConfig, load_config

VALID = {"underlying_symbol": "SPX", "forecast_model": "m"}


def test_default_yaml_loads_with_the_documented_values():
    cfg = load_config()
    assert cfg == load_config(DEFAULT_CONFIG_PATH)
    assert cfg.strategy == "long_straddle"
    assert cfg.option_roots == ("SPXW",)
    assert (cfg.target_dte, cfg.min_dte, cfg.max_dte, cfg.holding_days) == (30, 20, 45, 5)
    assert cfg.forecast_model == "xgb_direction_5d"
    assert (cfg.entry_signal, cfg.entry_threshold) == ("prob_up_at_most", 0.55)
    assert (cfg.contracts, cfg.multiplier) == (1, 100)
    assert (cfg.slippage_bps, cfg.commission_per_contract) == (50.0, 0.65)
    assert cfg.initial_capital == 100_000.0
    assert cfg.equity_window == "forecast"


def test_run_id_is_deterministic_12_hex_and_includes_defaults():
    a = StraddleConfig.from_mapping(VALID)
    b = StraddleConfig.from_mapping({**VALID, "contracts": 1, "initial_capital": 100000})
    assert re.fullmatch(r"[0-9a-f]{12}", a.run_id)
    assert a.run_id == b.run_id  # defaults spelled out or not, int or float: the same run
    assert a.config_json == b.config_json
    assert StraddleConfig.from_mapping({**VALID, "contracts": 2}).run_id != a.run_id


def test_config_is_frozen():
    cfg = StraddleConfig.from_mapping(VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.contracts = 3  # type: ignore[misc]


def test_unknown_keys_are_rejected_by_name():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['holding_dayz', 'zzz'\]"):
        StraddleConfig.from_mapping({**VALID, "holding_dayz": 5, "zzz": 1})


def test_missing_required_key_is_named():
    with pytest.raises(ConfigError, match=r"missing required config key\(s\) \['forecast_model'\]"):
        StraddleConfig.from_mapping({"underlying_symbol": "SPX"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("entry_threshold", 1.5, "entry_threshold must be <= 1.0, got 1.5"),
        ("entry_threshold", -0.1, "entry_threshold must be >= 0.0, got -0.1"),
        ("target_dte", 50, r"target_dte must be within \[min_dte, max_dte\] = \[20, 45\], got 50"),
        ("min_dte", -1, "min_dte must be >= 0, got -1"),
        ("holding_days", 0, "holding_days must be >= 1, got 0"),
        ("contracts", 0, "contracts must be >= 1, got 0"),
        ("contracts", 1.5, "contracts must be an integer, got 1.5"),
        ("contracts", True, "contracts must be an integer, got True"),
        ("multiplier", 0, "multiplier must be >= 1, got 0"),
        ("slippage_bps", -5, "slippage_bps must be >= 0.0, got -5.0"),
        ("slippage_bps", 20_000, "slippage_bps must be <= 10000.0, got 20000.0"),
        ("commission_per_contract", -0.65, "commission_per_contract must be >= 0.0, got -0.65"),
        ("initial_capital", 0, "initial_capital must be > 0 USD, got 0.0"),
        ("initial_capital", float("nan"), "initial_capital must be finite, got nan"),
        ("entry_signal", "prob_up_above", "entry_signal must be one of .*got 'prob_up_above'"),
        ("strategy", "short_strangle", "strategy must be one of .*got 'short_strangle'"),
        ("equity_window", "all", "equity_window must be one of .*got 'all'"),
        ("option_roots", "SPXW", "option_roots must be a non-empty list of strings, got 'SPXW'"),
        ("option_roots", [], "option_roots must be a non-empty list"),
        ("option_roots", ["SPXW", "SPXW"], r"option_roots must not repeat a root, got \['SPXW'\]"),
        ("underlying_symbol", "", "underlying_symbol must be a non-empty string, got ''"),
        ("forecast_model_version", 3, "forecast_model_version must be a non-empty string, got 3"),
    ],
)
def test_out_of_range_values_are_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        StraddleConfig.from_mapping({**VALID, key: value})


def test_max_dte_below_min_dte_is_named():
    with pytest.raises(ConfigError, match="max_dte must be >= min_dte = 20, got 10"):
        StraddleConfig.from_mapping({**VALID, "max_dte": 10})


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("underlying_symbol: SPX\nforecast_model: m\ncolour: red\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown config key\(s\) \['colour'\]"):
        load_config(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
