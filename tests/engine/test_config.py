"""engine.config: leg overrides of catalogue strategies, the default configs say what they do, and
a config file cannot cost more than its size (issue 15): no YAML aliases, bounded messages that
name the file, a range for every number."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import tracemalloc

import pytest

from engine.config import (
    MAX_DTE,
    BacktestConfig,
    ConfigError,
    EntryConfig,
    ExecutionConfig,
    ExitConfig,
    SizingConfig,
    load_config,
)


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


# ---- issue 15: YAML alias bombs, bounded messages, file names, ranges ------------------------


def _alias_bomb(levels: int) -> str:
    """A "billion laughs" in one flow value: 9 strings, then ``levels`` lists of 9 of the last
    one, so the value stands for 9 ** (levels + 1) strings in a few hundred bytes."""
    value = "&l0 [" + ", ".join(["lol"] * 9) + "]"
    for i in range(1, levels):
        value = f"&l{i} [{value}, " + ", ".join([f"*l{i - 1}"] * 8) + "]"
    return f"[{value}, " + ", ".join([f"*l{levels - 1}"] * 8) + "]"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    # 9**6 = 531,441 strings in ~330 bytes: printed whole in the old error message (3.6 MB)
    path = tmp_path / "bomb.yaml"
    path.write_text(f"strategy: long_straddle\nentry:\n  target_dte: {_alias_bomb(5)}\n")
    assert path.stat().st_size < 400
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as excinfo:
            load_config(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(excinfo.value)
    # refused at the first anchor: line 3, column 16 (`&l4`), naming the file
    assert message.startswith(f"{path}:3:16: YAML anchors are not allowed (found &l4)"), message
    assert len(message) < 200
    assert peak < 2_000_000 and time.perf_counter() - started < 2.0


def test_the_516_byte_bomb_of_issue_15_is_refused_with_file_and_line(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for this, prev in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{this}: &{this} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        ConfigError, match=rf"^{path}:1:4: YAML anchors are not allowed \(found &a\)"
    ):
        load_config(path)
    path.write_text("entry: {target_dte: *a}\n")  # an alias without its anchor
    with pytest.raises(ConfigError, match=rf"^{path}:1:21: YAML aliases are not allowed"):
        load_config(path)


HUGE = "x" * 100_000


@pytest.mark.parametrize(
    "raw",
    [
        {"strategy": "long_straddle", "entry": {"target_dte": HUGE}},
        {"strategy": "long_straddle", "entry": {"schedule": [HUGE] * 1000}},
        {"strategy": HUGE},
        {"strategy": "long_straddle", "universe": HUGE + "!"},
        {"strategy": "long_straddle", "start_date": HUGE},
        {"strategy": "long_straddle", "option_roots": [HUGE, 1]},
        {"strategy": "long_straddle", HUGE: 1, **{f"k{i}": i for i in range(1000)}},
        {"strategy": "long_straddle", "sizing": {HUGE: 1}},
        {"strategy": "iron_condor", "leg_overrides": {1: {"delta": HUGE}}},
        {"strategy": "iron_condor", "leg_overrides": {HUGE: {"delta": 0.1}}},
        {"strategy": HUGE, "legs": [{"type": "call", "side": "long", HUGE: 1}]},
        {"strategy": "long_straddle", "entry": {"k": 10**5000}},  # past str()'s digit limit
    ],
)
def test_error_messages_quote_a_bounded_excerpt_of_the_bad_value(raw):
    with pytest.raises(ConfigError) as excinfo:
        BacktestConfig.from_mapping(raw)
    message = str(excinfo.value)
    assert "x" * 81 not in message and len(message) < 1000, message[:300]


def test_config_errors_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("strategy: long_straddle\nentry:\n  target_dte: 999999999999\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert str(excinfo.value) == (
        f"{path}: entry.target_dte must be in [0, {MAX_DTE}], got 999999999999"
    )
    path.write_text("strategy: long_straddle\nexits: {holding_days: 2.5}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: exits.holding_days must be an integer"):
        load_config(path)


@pytest.mark.parametrize(
    "entry",
    [
        {"target_dte": 999_999_999_999, "max_dte": 999_999_999_999},
        {"min_dte": 0, "target_dte": MAX_DTE + 1, "max_dte": MAX_DTE + 1},
        {"back_target_dte": 999_999_999_999, "back_max_dte": 999_999_999_999},  # not a calendar
        {"back_min_dte": -1},
    ],
)
def test_dte_keys_are_bounded_to_ten_years(entry):
    with pytest.raises(ConfigError, match=r"entry\.\w*dte must be in \[0, 3650\]"):
        BacktestConfig.from_mapping({"strategy": "long_straddle", "entry": entry})


def _numeric_keys() -> list[tuple[str | None, str, str]]:
    sections = {"entry": EntryConfig, "sizing": SizingConfig, "execution": ExecutionConfig}
    sections |= {"exits": ExitConfig, None: BacktestConfig}
    return [
        (section, f.name, str(f.type).split(" ")[0])
        for section, cls in sections.items()
        for f in dataclasses.fields(cls)
        if str(f.type).startswith(("int", "float"))
    ]


@pytest.mark.parametrize(("section", "key", "kind"), _numeric_keys())
@pytest.mark.parametrize("sign", [1, -1])
def test_every_number_of_a_config_has_a_range(section, key, kind, sign):
    value = sign * (10**15 if kind == "int" else 1e300)
    raw = {"strategy": "long_straddle"}
    raw |= {key: value} if section is None else {section: {key: value}}
    name = key if section is None else f"{section}.{key}"
    with pytest.raises(ConfigError, match=rf"{name} must be in \["):
        BacktestConfig.from_mapping(raw)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({2: {"width_pct": 1e300, "of": 1}}, r"width_pct is % of spot in \[-100, 100\]"),
        ({1: {"strike_offset_pct": -99.0}}, r"strike_offset_pct is % of spot in \[-80, 400\]"),
    ],
)
def test_leg_strike_offsets_have_a_range(override, message):
    with pytest.raises(ConfigError, match=message):
        BacktestConfig.from_mapping({"strategy": "iron_condor", "leg_overrides": override})


def test_yaml_dates_are_accepted_for_both_date_keys_and_bad_dates_named(tmp_path):
    path = tmp_path / "dates.yaml"
    path.write_text("strategy: long_straddle\nstart_date: 2019-04-25\nend_date: 2019-06-28\n")
    cfg = load_config(path)
    assert (cfg.start_date, cfg.end_date) == ("2019-04-25", "2019-06-28")
    cfg = BacktestConfig.from_mapping(
        {"strategy": "long_straddle", "end_date": dt.date(2019, 6, 28)}
    )
    assert cfg.end_date == "2019-06-28"
    path.write_text("strategy: long_straddle\nend_date: 2019-02-30\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2:11: invalid value '2019-02-30'"):
        load_config(path)
    path.write_text("strategy: long_straddle\nend_date: 2019-06-28 10:00:00\n")
    with pytest.raises(ConfigError, match=rf"^{path}: end_date must be a date, got the date and"):
        load_config(path)
