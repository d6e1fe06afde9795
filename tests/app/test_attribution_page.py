"""The Attribution page: its queries on the real published warehouse, its chart builders on
SYNTHETIC frames, and the page itself headless (AppTest) on the real warehouse.

Tests marked ``slow`` read the real warehouse (``real_published``; set
``OPTIONS_TEST_WAREHOUSE`` to reuse a built one); the chart tests need nothing.
"""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import attribution as charts
from app.db import read, reader
from app.queries import attribution as queries
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

slow = pytest.mark.slow


def _trade_count(db: Path, backtest_run_id: str) -> int:
    """Closed trades of the run: an open position's P&L is a mark, not an outcome to attribute."""
    return read(
        db,
        "select count(*) from backtest.trades where run_id = ? and status = 'closed'",
        [backtest_run_id],
    ).item()


# ---- queries, real warehouse ---------------------------------------------------------------------


@slow
def test_groupings_add_up_to_the_backtest(real_published: Path) -> None:
    backtests = queries.backtest_runs(real_published)
    assert not backtests.is_empty()
    for run in backtests.iter_rows(named=True):
        detail = queries.strategy_attribution(real_published, run["backtest_run_id"])
        trades = _trade_count(real_published, run["backtest_run_id"])
        assert run["n_trades"] == trades
        for grouped in (detail.by_decile, detail.by_regime, detail.cells):
            assert grouped.get_column("n_trades").sum() == trades
            assert grouped.get_column("total_pnl_usd").sum() == pytest.approx(run["total_pnl_usd"])
        assert detail.by_decile.get_column("win_rate").is_between(0, 1).all()
        deciles = detail.by_decile.get_column("forecast_decile").drop_nulls()
        assert deciles.is_between(1, 10).all()
        assert detail.by_decile.schema["total_pnl_usd"] == pl.Float64


@slow
def test_unknown_backtest_and_model_give_empty_frames(real_published: Path) -> None:
    detail = queries.strategy_attribution(real_published, "no-such-run")
    assert detail.by_decile.is_empty() and detail.by_regime.is_empty() and detail.cells.is_empty()
    assert queries.forecast_deciles(real_published, "no-such-run").is_empty()


@slow
def test_grouping_is_an_allowlist(real_published: Path) -> None:
    with reader(real_published) as con, pytest.raises(ValueError, match="grouping"):
        queries._by_group(con, "x", "strategy; drop table x")


@slow
def test_forecast_deciles_of_every_model(real_published: Path) -> None:
    runs = queries.decile_runs(real_published)
    assert {"xgb_direction_5d", "xgb_iv_regime_5d"} <= set(runs.get_column("model_name"))
    for run_id in runs.get_column("run_id"):
        deciles = queries.forecast_deciles(real_published, run_id)
        assert deciles.get_column("decile").to_list() == list(range(1, deciles.height + 1))
        # lift is hit rate over the baseline
        with_lift = deciles.filter(pl.col("lift").is_not_null())
        assert (
            (with_lift["hit_rate"] / with_lift["baseline_hit_rate"] - with_lift["lift"]).abs()
            < 1e-9
        ).all()


# ---- chart builders, SYNTHETIC frames -------------------------------------------------------------

# SYNTHETIC groups: decile 4 lost 700 on 2 trades, decile 5 made 30 on 2 (1 win), 1 trade had no
# forecast (NULL decile) and is left out of the chart.
BY_DECILE = pl.DataFrame(
    {
        "forecast_decile": [4, 5, None],
        "n_trades": [2, 2, 1],
        "n_winning_trades": [0, 1, 1],
        "total_pnl_usd": [-700.0, 30.0, 5.0],
        "win_rate": [0.0, 0.5, 1.0],
    }
)
BY_REGIME = pl.DataFrame(
    {
        "predicted_regime": ["LOW"],
        "n_trades": [4],
        "n_winning_trades": [1],
        "total_pnl_usd": [-670.0],
        "win_rate": [0.25],
    }
)
# SYNTHETIC deciles: baseline 0.5 everywhere; decile 2 hits 0.6, so lift 0.6 / 0.5 = 1.2.
DECILES = pl.DataFrame(
    {
        "decile": [1, 2],
        "hit_rate": [0.4, 0.6],
        "baseline_hit_rate": [0.5, 0.5],
        "n_hit_observations": [10, 10],
        "lift": [0.8, 1.2],
    }
)


def _rows(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]] if "data" in layer else []


def test_pnl_by_decile_chart_fixes_the_decile_axis_and_labels_trades() -> None:
    spec = charts.pnl_by_group_chart(BY_DECILE, "forecast_decile").to_dict()
    bars, labels = spec["layer"]
    assert bars["encoding"]["x"]["scale"]["domain"] == list(range(1, 11))
    assert bars["encoding"]["x"]["type"] == "ordinal"
    assert bars["encoding"]["y"]["axis"]["format"] == "$,.0f"
    assert labels["encoding"]["text"]["field"] == "trade_label"
    rows = next(iter(spec["datasets"].values()))
    assert [row["trade_label"] for row in rows] == ["n=2", "n=2"]  # NULL decile left out


def test_win_rate_by_regime_chart_is_a_percent_axis() -> None:
    spec = charts.win_rate_by_group_chart(BY_REGIME, "predicted_regime").to_dict()
    bars = spec["layer"][0]
    assert bars["encoding"]["x"]["scale"]["domain"] == ["LOW", "NORMAL", "HIGH", "UNKNOWN"]
    assert bars["encoding"]["y"]["axis"]["format"] == "%"
    assert bars["encoding"]["y"]["scale"]["domain"] == [0, 1]


def test_group_must_be_known() -> None:
    with pytest.raises(ValueError, match="group must be one of"):
        charts.pnl_by_group_chart(BY_DECILE, "strategy")


def test_decile_charts_have_baseline_rules() -> None:
    hit = charts.decile_hit_rate_chart(DECILES).to_dict()
    assert hit["layer"][1]["mark"]["type"] == "rule"
    assert hit["layer"][1]["encoding"]["y"]["aggregate"] == "mean"
    lift = charts.decile_lift_chart(DECILES).to_dict()
    assert lift["layer"][1]["mark"]["type"] == "rule"
    assert [row["lift"] for row in _rows(lift, lift["layer"][1])] == [1.0]


@pytest.mark.parametrize(
    ("builder", "args"),
    [
        (charts.pnl_by_group_chart, ("forecast_decile",)),
        (charts.win_rate_by_group_chart, ("predicted_regime",)),
        (charts.decile_hit_rate_chart, ()),
        (charts.decile_lift_chart, ()),
    ],
)
def test_builders_name_a_missing_column(builder, args) -> None:
    with pytest.raises(ValueError, match="needs columns"):
        builder(pl.DataFrame({"unrelated": [1]}), *args)


# ---- the page, real warehouse ---------------------------------------------------------------------


def _titles(at) -> list[str]:
    return [json.loads(c.proto.spec).get("title") for c in at.get("vega_lite_chart")]


DECILE_TITLES = ["Total P&L by forecast decile", "Win rate by forecast decile"]
OTHER_TITLES = [
    "Total P&L by predicted regime",
    "Win rate by predicted regime",
    "Hit rate by decile (dashed: baseline)",
    "Lift by decile (dashed: 1)",
]


@slow
def test_page_says_how_few_trades_there_are(real_published: Path) -> None:
    at = open_app_page("attribution.py")
    assert not at.error, [e.value for e in at.error]
    backtest_run_id = at.selectbox[0].value
    trades = _trade_count(real_published, backtest_run_id)
    assert {m.label: m.value for m in at.metric}["Trades"] == f"{trades:,}"
    if trades < queries.FEW_TRADES:
        assert any(f"Only {trades} trade(s)" in info.value for info in at.info)
    by_decile = queries.strategy_attribution(real_published, backtest_run_id).by_decile
    has_deciles = by_decile["forecast_decile"].drop_nulls().len() > 0
    assert _titles(at) == (DECILE_TITLES if has_deciles else []) + OTHER_TITLES


@slow
def test_ungated_and_gated_runs_explain_or_draw_their_deciles(real_published: Path) -> None:
    """Ungated runs drew two empty decile charts: they now say why there is nothing to draw."""
    backtests = queries.backtest_runs(real_published)
    with_deciles = {
        run_id
        for run_id in backtests["backtest_run_id"]
        if queries.strategy_attribution(real_published, run_id)
        .by_decile["forecast_decile"]
        .drop_nulls()
        .len()
    }
    ungated = backtests.filter(pl.col("forecast_model").is_null())["backtest_run_id"][0]
    at = open_app_page("attribution.py")
    assert "ungated" in at.selectbox[0].format_func(ungated)
    at.selectbox[0].select(ungated).run()
    assert not at.exception and not at.error
    assert any("This backtest is ungated" in info.value for info in at.info)
    assert _titles(at) == OTHER_TITLES
    assert not any("None" in label for label in at.selectbox[0].options)  # shown labels

    gated = sorted(with_deciles)[0]
    at.selectbox[0].select(gated).run()
    assert not at.exception and not at.error
    assert "gated on" in at.selectbox[0].format_func(gated)
    assert _titles(at) == DECILE_TITLES + OTHER_TITLES
    assert not any("ungated" in info.value for info in at.info)


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0
    assert doctest.testmod(charts).failed == 0


def test_no_decile_reason() -> None:
    assert "ungated" in queries.no_decile_reason(None, "none", 0)
    assert "no current model run" in queries.no_decile_reason("m", "none", 0)
    assert "no P(up)" in queries.no_decile_reason("xgb_iv_regime_5d", "model_version", 0)
    assert queries.no_decile_reason("xgb_direction_5d", "model_version", 3) is None


def test_compact_usd_fits_a_tile() -> None:
    # the modeled bfly benchmark's -$796,507,092.96 was clipped to "-$796,5..." in its tile
    assert charts.fmt_usd_compact(-796_507_092.96) == "-$796.5M"
    assert charts.fmt_usd_compact(2_500_000_000) == "$2.5B"
    assert charts.fmt_usd_compact(-9_999.994) == "-$9,999.99"
    assert charts.fmt_usd_compact(12_345) == "$12.35K"
    assert charts.fmt_usd_compact(None) == "n/a"


@slow
def test_another_model_changes_the_decile_tiles(real_published: Path) -> None:
    at = open_app_page("attribution.py")
    model_box = at.selectbox[1]
    runs = queries.decile_runs(real_published)
    assert model_box.value == runs.filter(pl.col("model_name") == "xgb_direction_5d").item(
        0, "run_id"
    )
    before = {m.label: m.value for m in at.metric}
    regime = runs.filter(pl.col("model_name") == "xgb_iv_regime_5d").item(0, "run_id")
    model_box.select(regime).run()
    assert not at.exception and not at.error
    after = {m.label: m.value for m in at.metric}
    assert after["Baseline hit rate"] != before["Baseline hit rate"]
    assert after["Trades"] == before["Trades"]  # the backtest part did not change


# ---- deep links (app.links): backtest run and model in the URL ------------------------------------


def test_model_link_values(warehouse_dir: Path) -> None:
    """SYNTHETIC decile runs: model a has one run, model b two (two underlyings). The page
    module is imported with an empty warehouse directory (``run_page`` only notes it)."""
    page = importlib.import_module("app.app_pages.attribution")
    runs = pl.DataFrame({"run_id": ["a-1", "b-1", "b-2"], "model_name": ["a", "b", "b"]})

    assert page.resolve_model("a", runs) == "a-1"
    assert page.resolve_model("b-2", runs) == "b-2"
    for bad in ("b", "c", ""):
        with pytest.raises(ValueError, match="no decile report"):
            page.resolve_model(bad, runs)
    assert page.model_link_value(runs, "a-1") == "a"
    assert page.model_link_value(runs, "b-1") == "b-1"


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Attribution page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/attribution.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


@slow
def test_the_url_follows_both_choices(real_published: Path) -> None:
    at = open_app_page("attribution.py")
    backtests = queries.backtest_runs(real_published)["backtest_run_id"].to_list()
    assert at.query_params == {"run": backtests[0], "model": "xgb_direction_5d"}

    at.selectbox(key="attribution_run").select(backtests[-1]).run()
    regime = queries.decile_runs(real_published).filter(pl.col("model_name") == "xgb_iv_regime_5d")
    at.selectbox(key="attribution_model").select(regime.item(0, "run_id")).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {"run": backtests[-1], "model": "xgb_iv_regime_5d"}


@slow
def test_a_link_opens_its_backtest_and_model(real_published: Path) -> None:
    gated = (
        queries.backtest_runs(real_published)
        .filter(pl.col("forecast_model").is_not_null())
        .item(-1, "backtest_run_id")
    )
    logit = queries.decile_runs(real_published).filter(pl.col("model_name") == "logit_direction_5d")
    at = _linked_page(run=gated, model=logit.item(0, "run_id"))  # the model by its run id

    assert not _notes(at) and not at.error
    assert at.selectbox(key="attribution_run").value == gated
    assert at.selectbox(key="attribution_model").value == logit.item(0, "run_id")
    trades = _trade_count(real_published, gated)
    assert {m.label: m.value for m in at.metric}["Trades"] == f"{trades:,}"
    assert any("`logit_direction_5d`" in c.value for c in at.caption)
    assert at.query_params == {"run": gated, "model": "logit_direction_5d"}  # by name


@slow
def test_bad_link_values_are_noted_and_replaced_by_defaults(real_published: Path) -> None:
    at = _linked_page(run="deleted-run-123", model="no_such_model")

    notes = _notes(at)
    assert len(notes) == 2, notes
    assert any("`run`" in n and "'deleted-run-123'" in n and "backtest run" in n for n in notes)
    assert any("`model`" in n and "'no_such_model'" in n for n in notes)
    first = queries.backtest_runs(real_published).item(0, "backtest_run_id")
    assert at.query_params == {"run": first, "model": "xgb_direction_5d"}
