"""The Backtest page's New run form, widget by widget, with Streamlit's AppTest.

The first tests run on the SYNTHETIC warehouse of conftest (the form needs no market data until
Run); the ones marked ``slow`` run the form on the real published warehouse (``real_published``,
read-only): the 20-delta bull put spread of issue 19, a run that trades nothing, clones.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from app import backtest_runner as runner
from app import run_form
from engine.config import load_config
from tests.app.conftest import RUN_WITH_TRADES, open_app_page

TIMEOUT_S = 60  # the first run imports altair, polars and duckdb
CONFIGS = Path(__file__).resolve().parents[2] / "engine" / "configs"


def _app(*, new_run: bool = True) -> AppTest:
    """The Backtest page with its New run tab open (only the open tab is drawn)."""
    at = open_app_page("backtest.py", TIMEOUT_S)
    if new_run:
        at.session_state["bt_tab"] = "New run"
        _ok(at.run())
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def _keys(at: AppTest, kind: str) -> set[str]:
    return {w.key for w in getattr(at, kind) if w.key and w.key.startswith("bt_")}


def _submit(at: AppTest) -> AppTest:
    return _ok(at.button(key="bt_submit").click().run())


def _new(at: AppTest):
    assert at.tabs[1].label == "New run"
    return at.tabs[1]


def _yaml(at: AppTest) -> str:
    return _new(at).code[0].value


# ---- the form alone (SYNTHETIC warehouse) -------------------------------------------------------


def test_picking_a_strategy_fills_the_form_with_its_own_defaults(published_db: Path) -> None:
    at = _app()
    # the page opens on the long straddle and its own config (the engine's default run)
    assert at.selectbox(key="bt_strategy").value == "long_straddle"
    assert at.number_input(key="bt_holding_days").value == 5
    assert at.selectbox(key="bt_signal").value == "prob_up_at_most"

    _ok(at.selectbox(key="bt_strategy").select("bull_put_spread").run())

    # a credit spread's own defaults: no 5-session hold, no p_up gate (issue 19)
    assert at.number_input(key="bt_holding_days").value is None
    assert at.selectbox(key="bt_signal").value == "none"
    assert at.number_input(key="bt_take_profit_pct").value == 50.0
    assert at.number_input(key="bt_stop_loss_pct").value == 200.0
    assert at.number_input(key="bt_exit_dte").value == 7
    assert at.selectbox(key="bt_schedule").value == "weekly"
    assert at.selectbox(key="bt_n_legs").value == 2
    legs = [
        (
            at.selectbox(key=f"bt_leg{i}_type").value,
            at.selectbox(key=f"bt_leg{i}_side").value,
            at.selectbox(key=f"bt_leg{i}_rule").value,
            at.number_input(key=f"bt_leg{i}_value").value,
        )
        for i in (1, 2)
    ]
    assert legs == [("put", "short", "delta", 0.3), ("put", "long", "width_pct", -2.0)]
    assert at.number_input(key="bt_leg2_of").value == 1
    assert any("the credit preset" in c.value for c in _new(at).caption)


def test_fields_that_do_not_apply_are_hidden(published_db: Path) -> None:
    at = _app()
    numbers, checks = _keys(at, "number_input"), _keys(at, "checkbox")
    # daily schedule, a p_up signal, fixed lots, mid +- slippage, no back leg
    assert {"bt_threshold", "bt_slippage_bps", "bt_contracts"} <= numbers
    assert "bt_exit_on_signal" in checks
    assert not {"bt_weekday", "bt_fraction", "bt_spread_fraction", "bt_k"} & numbers
    assert not {"bt_back_target_dte", "bt_back_min_dte", "bt_back_max_dte"} & numbers
    assert "bt_leg1_of" not in numbers  # an at-the-money strike refers to no leg
    assert "bt_leg2_value" not in numbers  # "same strike as leg 1" has no value

    at.selectbox(key="bt_signal").select("none").run()
    at.selectbox(key="bt_schedule").select("weekly").run()
    at.selectbox(key="bt_sizing_mode").select("risk_fraction").run()
    at.selectbox(key="bt_fill").select("spread_fraction").run()
    _ok(at)
    numbers, checks = _keys(at, "number_input"), _keys(at, "checkbox")
    assert not {"bt_threshold", "bt_contracts", "bt_slippage_bps"} & numbers
    assert "bt_forecast_model" not in _keys(at, "selectbox")
    assert "bt_exit_on_signal" not in checks
    assert {"bt_weekday", "bt_fraction", "bt_spread_fraction"} <= numbers

    _ok(at.selectbox(key="bt_strategy").select("long_call_calendar").run())
    assert {"bt_back_target_dte", "bt_back_min_dte", "bt_back_max_dte"} <= _keys(at, "number_input")
    assert at.selectbox(key="bt_leg2_expiry").value == "back"


def test_a_hidden_field_keeps_its_value(published_db: Path) -> None:
    at = _app()
    at.selectbox(key="bt_schedule").select("weekly").run()
    at.number_input(key="bt_weekday").set_value(3).run()
    at.selectbox(key="bt_schedule").select("daily").run()
    assert "bt_weekday" not in _keys(at, "number_input")

    _ok(at.selectbox(key="bt_schedule").select("weekly").run())

    assert at.number_input(key="bt_weekday").value == 3


def test_the_form_survives_a_visit_to_another_page(published_db: Path) -> None:
    at = _app()
    at.selectbox(key="bt_strategy").select("bull_put_spread").run()
    at.number_input(key="bt_take_profit_pct").set_value(None).run()
    at.number_input(key="bt_weekday").set_value(4).run()  # the last change before leaving

    at.switch_page("app_pages/overview.py").run()
    _ok(at.switch_page("app_pages/backtest.py").run())

    assert at.session_state["bt_tab"] == "New run"  # the tab it was left on
    assert at.selectbox(key="bt_strategy").value == "bull_put_spread"
    assert at.number_input(key="bt_take_profit_pct").value is None
    assert at.number_input(key="bt_weekday").value == 4


def test_an_exit_cleared_stays_cleared_and_zero_stays_zero(published_db: Path) -> None:
    at = _app()
    at.number_input(key="bt_holding_days").set_value(None).run()
    at.number_input(key="bt_exit_dte").set_value(0).run()
    at.number_input(key="bt_take_profit_pct").set_value(0.0).run()
    _ok(at.selectbox(key="bt_signal").select("none").run())  # another rerun

    assert at.number_input(key="bt_holding_days").value is None
    assert at.number_input(key="bt_exit_dte").value == 0
    values = at.session_state["bt_form"]
    cfg = run_form.build_config(values, at.session_state["bt_base"])
    assert (cfg.exits.holding_days, cfg.exits.exit_dte, cfg.exits.take_profit_pct) == (None, 0, 0.0)


def test_legs_are_editable(published_db: Path) -> None:
    at = _app()
    at.selectbox(key="bt_strategy").select("bull_put_spread").run()

    # a third leg, a call 20 % of spot above leg 1; switching its rule resets its value
    at.selectbox(key="bt_n_legs").select(3).run()
    at.selectbox(key="bt_leg3_type").select("call").run()
    at.selectbox(key="bt_leg3_rule").select("delta").run()
    assert at.number_input(key="bt_leg3_value").value == 0.3  # the delta rule's default
    at.selectbox(key="bt_leg3_rule").select("width_pct").run()
    assert at.number_input(key="bt_leg3_value").value == 2.0  # a call's width goes up
    at.number_input(key="bt_leg3_value").set_value(20.0).run()
    _ok(at)
    values = at.session_state["bt_form"]
    cfg = run_form.build_config(values, at.session_state["bt_base"])
    assert cfg.strategy.name == "custom_bull_put_spread"
    assert [(leg.leg_type, leg.rule, leg.value, leg.of) for leg in cfg.strategy.legs] == [
        ("put", "delta", 0.3, None),
        ("put", "width_pct", -2.0, 1),
        ("call", "width_pct", 20.0, 1),
    ]

    # a stock leg takes no strike rule; back to 2 legs: the third is dropped, and kept for later
    at.selectbox(key="bt_leg3_type").select("stock").run()
    assert "bt_leg3_rule" not in _keys(at, "selectbox")
    _ok(at.selectbox(key="bt_n_legs").select(2).run())
    assert len(at.session_state["bt_form"].legs) == 2
    _ok(at.selectbox(key="bt_n_legs").select(3).run())
    assert at.selectbox(key="bt_leg3_type").value == "stock"

    # reset: the catalogue's legs and the strategy's defaults again
    _ok(at.button(key="bt_reset").click().run())
    assert at.selectbox(key="bt_n_legs").value == 2
    assert at.number_input(key="bt_leg1_value").value == 0.3


def test_an_invalid_leg_shows_the_engines_message_and_runs_nothing(published_db: Path) -> None:
    at = _app()
    at.selectbox(key="bt_strategy").select("bull_put_spread").run()
    at.number_input(key="bt_leg1_value").set_value(1.5).run()

    _submit(at)

    assert len(at.error) == 1
    assert (
        "Invalid setting: strategy 'bull_put_spread' leg 1: delta is the target |delta| in "
        "(0, 1), got 1.5" in at.error[0].value
    )
    assert not at.status and not _new(at).metric


def test_clone_fills_the_form_and_switches_to_it(published_db: Path) -> None:
    """A SYNTHETIC saved run whose config_json is the iron condor config of `make all`."""
    cfg = load_config(CONFIGS / "iron_condor_spx.yaml")
    con = duckdb.connect(str(published_db))
    con.execute(
        "update backtest.runs set config_json = ? where run_id = ?",
        [json.dumps(cfg.to_dict(), sort_keys=True), RUN_WITH_TRADES],
    )
    con.close()
    at = _app(new_run=False)
    assert at.session_state["bt_tab"] == "Saved runs"
    # the saved run's config, as YAML with its download
    assert at.tabs[0].code[0].value.startswith(f"# Backtest {RUN_WITH_TRADES}:")
    assert at.download_button(key="bt_download_saved")

    _ok(at.button(key="bt_clone").click().run())

    assert at.session_state["bt_tab"] == "New run"
    assert any(f"Cloned `{RUN_WITH_TRADES}`" in i.value for i in _new(at).info)
    assert at.selectbox(key="bt_strategy").value == "iron_condor"
    assert at.selectbox(key="bt_n_legs").value == 4
    assert at.number_input(key="bt_leg1_value").value == 0.16
    assert at.number_input(key="bt_target_dte").value == 35
    built = run_form.build_config(at.session_state["bt_form"], at.session_state["bt_base"])
    assert built.run_id == cfg.run_id


# ---- runs on the real published warehouse (slow) -------------------------------------------------


def _bull_put_20_delta(at: AppTest) -> AppTest:
    at.selectbox(key="bt_strategy").select("bull_put_spread").run()
    return _ok(at.number_input(key="bt_leg1_value").set_value(0.20).run())


@pytest.mark.slow
def test_a_20_delta_bull_put_spread_from_the_form(real_published: Path) -> None:
    """Issue 19: short put delta 0.20, long put 2 % of spot below it, on the real chain."""
    at = _bull_put_20_delta(_app())

    started = time.perf_counter()
    _submit(at)
    elapsed = time.perf_counter() - started

    assert not at.error, [e.value for e in at.error]
    outcome = at.session_state["backtest_outcome"]
    legs = outcome.config.strategy.legs
    assert [(leg.rule, leg.value) for leg in legs] == [("delta", 0.2), ("width_pct", -2.0)]
    assert (outcome.config.exits.take_profit_pct, outcome.config.exits.holding_days) == (50.0, None)
    assert outcome.result.trades.height > 0
    # the short puts are near 20 delta: their strikes sit below the 30-delta ones of the catalogue
    yaml_text = _yaml(at)
    assert "strategy: bull_put_spread\nleg_overrides:\n  1:\n    delta: 0.2\n" in yaml_text
    assert "  holding_days: null\n" in yaml_text and "  signal: none\n" in yaml_text
    assert at.download_button(key="bt_download_new")
    assert at.button(key="bt_save")
    assert elapsed < 60, elapsed


@pytest.mark.slow
def test_a_bull_put_spread_by_two_deltas_from_the_form(real_published: Path) -> None:
    at = _bull_put_20_delta(_app())
    at.selectbox(key="bt_leg2_rule").select("delta").run()
    at.selectbox(key="bt_leg2_side").select("long").run()
    _ok(at.number_input(key="bt_leg2_value").set_value(0.10).run())

    _submit(at)

    assert not at.error, [e.value for e in at.error]
    assert "  2:\n    delta: 0.1\n" in _yaml(at)
    assert at.session_state["backtest_outcome"].result.trades.height > 0


@pytest.mark.slow
def test_a_run_that_trades_nothing_says_why_and_offers_no_save(real_published: Path) -> None:
    at = _app()
    at.selectbox(key="bt_strategy").select("bull_put_spread").run()
    # no expiration of the 2019 chain is 400-450 days out
    at.number_input(key="bt_max_dte").set_value(450).run()
    at.number_input(key="bt_target_dte").set_value(420).run()
    at.number_input(key="bt_min_dte").set_value(400).run()

    _submit(at)

    assert not at.error, [e.value for e in at.error]
    assert not [b for b in at.button if b.key == "bt_save"]
    assert any("opened no position, so there is nothing to save" in w.value for w in at.warning)
    counts = _new(at).dataframe[0].value
    assert counts["reason"].to_list() == ["no_expiration_in_window", "no_quotes"]
    assert any("This run made no trades" in i.value for i in _new(at).info)


@pytest.mark.slow
def test_missing_trade_ids_are_explained(real_published: Path) -> None:
    """The short strangle's margin cap sizes some entries to zero: their ids never trade."""
    at = _app()
    at.selectbox(key="bt_strategy").select("short_strangle").run()

    _submit(at)

    result = at.session_state["backtest_outcome"].result
    missing = runner.missing_trade_ids(result.trades["trade_id"])
    sized_out = result.skipped_entries.filter(
        result.skipped_entries["reason"].is_in(["sized_to_zero", "max_open_positions"])
    )
    assert missing and len(missing) == sized_out.height
    caption = next(c.value for c in _new(at).caption if "`trade_id` is the engine's" in c.value)
    assert f"ids {', '.join(map(str, missing))} are missing" in caption
    trades = _new(at).dataframe[1].value
    assert trades["#"].to_list() == list(range(1, len(trades) + 1))


@pytest.mark.slow
def test_cloning_a_saved_run_runs_it_again_to_its_run_id(real_published: Path) -> None:
    run_id = load_config(CONFIGS / "iron_condor_spx.yaml").run_id
    at = _app(new_run=False)
    if not any(label.startswith(f"{run_id} ·") for label in at.selectbox(key="saved_run").options):
        pytest.skip(f"the published warehouse has no run {run_id} (make all writes it)")
    at.selectbox(key="saved_run").select(run_id).run()
    # the saved run's sample and skipped entries, read from the warehouse
    assert any(c.value.startswith("n = 61 sessions") for c in at.tabs[0].caption)
    assert at.tabs[0].dataframe[0].value["reason"].to_list()

    _ok(at.button(key="bt_clone").click().run())
    _submit(at)

    assert at.session_state["backtest_outcome"].result.run_id == run_id
    assert any(f"Ran {run_id}" in s.label for s in at.status)
    assert any("A saved run has this run_id" in c.value for c in _new(at).caption)
