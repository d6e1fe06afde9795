"""engine.config: leg overrides of catalogue strategies, and the default configs say what they do."""

from __future__ import annotations

import pytest

from engine.config import BacktestConfig, ConfigError, load_config


def test_a_config_overrides_a_catalogue_strategys_leg_targets():
    cfg = BacktestConfig.from_mapping(
        {
            "strategy": "iron_condor",
            "leg_overrides": {1: {"delta": 0.16}, 2: {"width_pct": -5.0, "of": 1}},
        }
    )
    legs = cfg.strategy.legs
    assert (legs[0].rule, legs[0].value) == ("delta", 0.16)
    assert (legs[1].rule, legs[1].value, legs[1].of) == ("width_pct", -5.0, 1)
    assert (legs[2].rule, legs[2].value) == ("delta", 0.20)  # untouched
    assert cfg.to_dict()["strategy"]["legs"][0]["value"] == 0.16  # in the run's config_json


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({9: {"delta": 0.1}}, "leg number must be 1..4 of 'iron_condor', got 9"),
        ({1: {"delta": 1.5}}, "delta is the target |delta| in (0, 1), got 1.5"),
        ({1: {"delta": 0.1, "moneyness": 1.0}}, "give exactly one strike rule"),
        ([1], "leg_overrides must map leg numbers to strike rules"),
    ],
)
def test_bad_leg_overrides_are_named(overrides, message):
    with pytest.raises(
        ConfigError, match=message.replace("|", r"\|").replace("(", r"\(").replace(")", r"\)")
    ):
        BacktestConfig.from_mapping({"strategy": "iron_condor", "leg_overrides": overrides})


def test_the_default_iron_condor_config_trades_what_its_comment_says():
    # "16-delta short strikes, long wings 2 % of spot beyond them"
    legs = load_config("engine/configs/iron_condor_spx.yaml").strategy.legs
    assert [(leg.side, leg.leg_type, leg.rule, leg.value) for leg in legs] == [
        ("short", "put", "delta", 0.16),
        ("long", "put", "width_pct", -2.0),
        ("short", "call", "delta", 0.16),
        ("long", "call", "width_pct", 2.0),
    ]


def test_yaml_dates_are_read_as_iso_dates():
    cfg = load_config("engine/configs/long_straddle_spx.yaml")
    assert cfg.start_date == "2019-04-25"
