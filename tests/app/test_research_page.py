"""The Research page (AppTest) and its chart builders (app/charts/research.py).

Chart-builder tests and the ``synthetic`` page tests use hand-written frames or the SYNTHETIC
warehouse of conftest; the page's round trips run a small sweep and scans on the real published
warehouse (``warehouse/options.duckdb``, or the directory in ``OPTIONS_TEST_WAREHOUSE``),
read-only, and skip when it is absent.
"""

from __future__ import annotations

import doctest
import json
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app import config_picker
from app import research_runner as runner
from app.charts import research as charts
from app.charts.research import GREY, axis_label, scan_heatmap, sweep_heatmap
from tests.app.conftest import open_app_page

PAGE = "research.py"


# ---- chart builders (SYNTHETIC frames) ----------------------------------------------------------


def _sweep_table() -> pl.DataFrame:
    # SYNTHETIC 2 x 3 grid: take-profit 25 / 50 across, stop-loss 100 / 200 / off down.
    return pl.DataFrame(
        {
            "take_profit_pct": [25.0, 25.0, 25.0, 50.0, 50.0, 50.0],
            "stop_loss_pct": [100.0, 200.0, None, 100.0, 200.0, None],
            "sharpe_ratio": [0.5, -0.25, float("nan"), 1.0, 0.1, -0.5],
            "total_return": [0.01, -0.02, 0.0, 0.03, 0.002, -0.01],
            "n_closed_trades": [25, 30, 40, 5, 20, 21],
        }
    )


def _layers(chart) -> tuple[dict, list[dict], list[dict]]:
    spec = chart.to_dict()
    data = next(iter(spec["datasets"].values()))
    return spec, spec["layer"], data


def test_doctests() -> None:
    assert doctest.testmod(charts).failed == 0


def test_axis_labels_synthetic() -> None:
    assert axis_label(25.0, "take_profit_pct") == "25%"
    assert axis_label(5, "holding_days") == "5 sessions"
    assert axis_label(7, "exit_dte") == "7 DTE"
    assert axis_label(None, "stop_loss_pct") == axis_label(float("nan")) == "off"


def test_sweep_heatmap_layers_and_grey_cells_synthetic() -> None:
    chart = sweep_heatmap(_sweep_table(), "sharpe_ratio", "take_profit_pct", "stop_loss_pct")
    spec, layers, data = _layers(chart)
    marks = [layer["mark"]["type"] for layer in layers]
    assert marks == ["rect", "rect", "text", "text"]
    grey, coloured, value_text, n_text = layers
    assert grey["mark"]["color"] == GREY
    assert coloured["transform"] == [{"filter": "datum.is_coloured"}]
    assert coloured["encoding"]["color"]["field"] == "value"
    assert coloured["encoding"]["color"]["type"] == "quantitative"
    assert coloured["encoding"]["color"]["scale"]["domainMid"] == 0  # diverging at 0
    x, y = grey["encoding"]["x"], grey["encoding"]["y"]
    assert (x["field"], x["type"], x["sort"]) == ("x_label", "ordinal", ["25%", "50%"])
    # ascending, the rule switched off last
    assert (y["field"], y["type"], y["sort"]) == ("y_label", "ordinal", ["100%", "200%", "off"])
    assert value_text["encoding"]["text"]["field"] == "value_text"
    assert n_text["encoding"]["text"]["field"] == "n_text"
    # the width fits the page, the height is the cells' (3 rows of 44 px)
    assert spec["autosize"]["type"] == "fit-x" and spec["height"] == 3 * charts.CELL_PX
    rows = {(d["x_label"], d["y_label"]): d for d in data}
    # 25 / 100: 25 closed trades >= 20 and a value: coloured, "0.50" over "n=25"
    assert rows[("25%", "100%")]["is_coloured"] is True
    assert (rows[("25%", "100%")]["value_text"], rows[("25%", "100%")]["n_text"]) == (
        "0.50",
        "n=25",
    )
    # 50 / 100: 5 closed trades: grey, its value still written
    assert rows[("50%", "100%")]["is_coloured"] is False
    assert rows[("50%", "100%")]["value_text"] == "1.00"
    # 25 / off: NaN Sharpe: null value, grey, "n/a"
    assert rows[("25%", "off")]["value"] is None
    assert rows[("25%", "off")]["is_coloured"] is False
    assert rows[("25%", "off")]["value_text"] == "n/a"
    # 50 / 200: exactly 20 trades is enough
    assert rows[("50%", "200%")]["is_coloured"] is True


def test_sweep_heatmap_one_axis_floor_and_formats_synthetic() -> None:
    table = _sweep_table().filter(pl.col("stop_loss_pct") == 100.0)
    chart = sweep_heatmap(table, "total_return", "take_profit_pct", min_trades=0)
    spec, layers, data = _layers(chart)
    assert [d["y_label"] for d in data] == ["", ""]
    assert all(d["is_coloured"] for d in data)
    assert [d["value_text"] for d in data] == ["1.00%", "3.00%"]
    assert layers[1]["encoding"]["color"]["legend"]["format"] == ".2%"
    assert spec["height"] == 2 * charts.CELL_PX  # at least two rows high
    # no coloured cell: no legend (an empty one reads "NaN")
    grey_only = sweep_heatmap(table, "total_return", "take_profit_pct", min_trades=1000)
    assert grey_only.to_dict()["layer"][1]["encoding"]["color"]["legend"] is None
    # a drawdown runs from red (deep) to white (none): two colours, no midpoint
    drawdown = _sweep_table().with_columns(max_drawdown=pl.lit(-0.1))
    scale = sweep_heatmap(drawdown, "max_drawdown", "take_profit_pct", "stop_loss_pct").to_dict()
    assert "domainMid" not in scale["layer"][1]["encoding"]["color"]["scale"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"metric": "sortino"}, "metric must be one of"),
        ({"x_key": "delta"}, "sweep key must be one of"),
        ({"y_key": "take_profit_pct"}, "must differ"),
        ({"min_trades": -1}, "min_trades must be an integer >= 0, got -1"),
    ],
)
def test_sweep_heatmap_refuses_synthetic(kwargs: dict, named: str) -> None:
    args = {"metric": "sharpe_ratio", "x_key": "take_profit_pct", "y_key": "stop_loss_pct"}
    with pytest.raises(ValueError, match=named):
        sweep_heatmap(_sweep_table(), **{**args, **kwargs})


def test_sweep_heatmap_names_a_missing_column_synthetic() -> None:
    with pytest.raises(ValueError, match=r"sweep_heatmap needs columns \['n_closed_trades'\]"):
        sweep_heatmap(_sweep_table().drop("n_closed_trades"), "sharpe_ratio", "take_profit_pct")


def _scan_cells() -> pl.DataFrame:
    # SYNTHETIC cells in the shape of runner.scan_cells (rows deliberately out of order).
    return pl.DataFrame(
        {
            "dte_bucket": ["(14, 21]", "(7, 14]", "(7, 14]"],
            "bucket": ["[1.0, 1.05)", "[1.05, 1.1)", "[1.0, 1.05)"],
            "n_trades": [50, 10, 200],
            "return_mean": [0.125, None, -0.5],
            "win_rate": [0.5, 0.1, 0.25],
        }
    )


def test_scan_heatmap_orders_buckets_synthetic() -> None:
    order = ["(-inf, 1.0)", "[1.0, 1.05)", "[1.05, 1.1)", "[1.1, inf)"]
    dte = ["(-inf, 0]", "(0, 7]", "(7, 14]", "(14, 21]"]
    chart = scan_heatmap(
        _scan_cells(),
        "return_mean",
        bucket_title="Moneyness S / K at entry, leg 1",
        bucket_order=order,
        dte_order=dte,
    )
    _, layers, data = _layers(chart)
    grey = layers[0]["encoding"]
    # only the labels present, in axis order
    assert grey["x"]["sort"] == ["[1.0, 1.05)", "[1.05, 1.1)"]
    assert grey["y"]["sort"] == ["(7, 14]", "(14, 21]"]
    assert grey["x"]["title"] == "Moneyness S / K at entry, leg 1"
    cells = {(d["dte_bucket"], d["bucket"]): d for d in data}
    assert cells[("(7, 14]", "[1.0, 1.05)")]["value_text"] == "-50.0%"
    assert cells[("(7, 14]", "[1.0, 1.05)")]["is_coloured"] is True
    # 10 trades < 20: grey; no mean return: "n/a"
    assert cells[("(7, 14]", "[1.05, 1.1)")]["is_coloured"] is False
    assert cells[("(7, 14]", "[1.05, 1.1)")]["value_text"] == "n/a"
    assert [layer["mark"]["type"] for layer in layers] == ["rect", "rect", "text", "text"]
    with pytest.raises(ValueError, match=r"bucket labels \['\[1.05, 1.1\)'\] are not in"):
        scan_heatmap(
            _scan_cells(), "win_rate", bucket_title="", bucket_order=order[:2], dte_order=dte
        )
    with pytest.raises(ValueError, match="metric must be one of"):
        scan_heatmap(_scan_cells(), "sharpe_ratio", bucket_title="", bucket_order=order,
                     dte_order=dte)  # fmt: skip


def test_scan_heatmap_drops_text_on_wide_grids_synthetic() -> None:
    labels = [f"[{i}, {i + 1})" for i in range(charts.MAX_TEXT_COLUMNS + 1)]
    cells = pl.DataFrame(
        {
            "dte_bucket": ["(7, 14]"] * len(labels),
            "bucket": labels,
            "n_trades": [30] * len(labels),
            "win_rate": [0.5] * len(labels),
        }
    )
    chart = scan_heatmap(
        cells, "win_rate", bucket_title="Delta", bucket_order=labels, dte_order=["(7, 14]"]
    )
    layers = chart.to_dict()["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["rect", "rect"]
    assert layers[0]["encoding"]["x"]["axis"]["labelAngle"] == -40  # slanted, none dropped


# ---- app.config_picker: the status and the saved-run labels both pages use (SYNTHETIC) -------


def test_config_picker_doctests() -> None:
    assert doctest.testmod(config_picker).failed == 0


def _status_app() -> None:
    """A SYNTHETIC job of steps load, run: it reports both, then returns 42, or raises what
    session state ``raise`` names (a ``ValueError`` is expected, a ``KeyError`` is not)."""
    import streamlit as st

    from app.config_picker import run_with_status

    def job(report):
        report("load", "Loading")
        report("run", "Running")
        kind = st.session_state.get("raise")
        if kind == "value":
            raise ValueError("no trading day in the window")
        if kind == "key":
            raise KeyError("a bug")
        return 42

    outcome = run_with_status(
        "Working",
        ("load", "run"),
        job,
        done=lambda n: f"Done: {n}",
        failures=[(ValueError, "The job could not run", "The job could not run: {exc}")],
    )
    st.write(f"outcome={outcome}")


def _run_status(kind: str | None) -> AppTest:
    at = AppTest.from_function(_status_app, default_timeout=30)
    at.session_state["raise"] = kind
    return at.run()


def test_run_with_status_completes_synthetic() -> None:
    at = _run_status(None)
    assert not at.exception, [e.message for e in at.exception]
    (status,) = at.status
    assert (status.label, status.state) == ("Done: 42", "complete")
    (bar,) = at.get("progress")
    assert (bar.value, bar.text) == (100, "done")
    assert "outcome=42" in at.markdown[0].value
    assert not at.error


def test_run_with_status_names_an_expected_failure_synthetic() -> None:
    at = _run_status("value")
    assert not at.exception, [e.message for e in at.exception]
    (status,) = at.status
    assert (status.label, status.state) == ("The job could not run", "error")
    (bar,) = at.get("progress")
    assert (bar.value, bar.text) == (50, "run: Running")  # step 2 of 2 started: 1 / 2
    assert [e.value for e in at.error] == ["The job could not run: no trading day in the window"]
    assert "outcome=None" in at.markdown[0].value


def test_run_with_status_lets_an_unexpected_error_through_synthetic() -> None:
    at = _run_status("key")
    assert len(at.exception) == 1  # raised, not named as an expected failure
    assert not at.error
    (status,) = at.status
    assert status.state == "error"


def test_saved_run_labels_name_the_chain_synthetic() -> None:
    runs = pl.DataFrame(
        {
            "run_id": ["a-1", "b-2"],
            "strategy": ["iron_condor", "long_call"],
            "underlying_symbol": ["SPX", "SPY"],
            "forecast_model": [None, "xgb_direction_5d"],
            "model_version": [None, "v3"],
        }
    )
    chains = pl.DataFrame(
        {"run_id": ["b-2"], "chain_source": ["real"], "chain_model_version": [None]},
        schema_overrides={"chain_model_version": pl.String},
    )
    assert config_picker.saved_run_labels(runs, chains) == {
        "a-1": "a-1 · iron_condor · SPX · no forecast gate · chain unknown",
        "b-2": "b-2 · long_call · SPY · xgb_direction_5d v3 · real chain",
    }
    joined = runs.join(chains, on="run_id", how="left")
    assert config_picker.saved_run_labels(joined, describe=config_picker.short_run_label) == {
        "a-1": "a-1 · SPX · chain unknown",
        "b-2": "b-2 · SPY · real chain",
    }


# ---- the page on the SYNTHETIC warehouse -------------------------------------------------------


def test_page_on_a_warehouse_without_the_marts_synthetic(published_db: Path) -> None:
    """The SYNTHETIC warehouse holds backtest tables only: the scan tab says what is missing,
    a sweep names the missing input table instead of raising."""
    at = open_app_page(PAGE)
    assert at.title[0].value == "Research"
    assert [t.label for t in at.tabs] == ["Sweep", "Scan"]
    assert any("marts.fct_option_quotes_daily" in i.value for i in at.tabs[1].info)
    at.button(key="rs_run_sweep").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("could not run" in e.value and "fct_option_chain" in e.value for e in at.error)
    assert "research_sweep_outcome" not in at.session_state


def test_invalid_axes_are_named_not_raised_synthetic(published_db: Path) -> None:
    at = open_app_page(PAGE)
    at.text_input(key="rs_values_x_take_profit_pct").set_value("25, fifty").run()
    at.button(key="rs_run_sweep").click().run()
    assert not at.exception
    assert any("take_profit_pct: 'fifty' is not a number" in e.value for e in at.error)
    at.text_input(key="rs_values_x_take_profit_pct").set_value("1,2,3,4,5,6,7,8").run()
    at.button(key="rs_run_sweep").click().run()
    assert any("8 values, at most 7" in e.value for e in at.error)
    at.text_input(key="rs_values_x_take_profit_pct").set_value("25, -5").run()
    at.button(key="rs_run_sweep").click().run()
    assert any("grid cell take_profit_pct=-5.0" in e.value for e in at.error)
    # the same key across and down
    at.text_input(key="rs_values_x_take_profit_pct").set_value("25").run()
    at.selectbox(key="rs_axis_y").select("take_profit_pct").run()
    at.button(key="rs_run_sweep").click().run()
    assert any("the same key" in e.value for e in at.error)
    assert not at.get("vega_lite_chart")


def test_a_modeled_config_carries_the_badge_synthetic(published_db: Path) -> None:
    at = open_app_page(PAGE)
    texts = [e.value for e in (*at.caption, *at.markdown)]
    assert not any("Modeled chain" in t for t in texts)
    at.selectbox(key="rs_config_file").select("iron_condor_spx_modeled.yaml").run()
    texts = [e.value for e in (*at.caption, *at.markdown)]
    assert any("Modeled chain" in t for t in texts)  # the badge
    assert any("MODELED" in t for t in texts)


# ---- the page on the real published warehouse --------------------------------------------------


@pytest.fixture
def real_db(real_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real published warehouse (read-only) as the active one: the session's end-to-end
    build (tests/conftest.py ``real_warehouse``), or ``OPTIONS_TEST_WAREHOUSE``'s."""
    monkeypatch.setenv("WAREHOUSE_DIR", str(real_warehouse))
    return real_warehouse / "options.duckdb"


def _specs(block) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in block.get("vega_lite_chart")]


def _heatmap_data(block) -> list[dict]:
    """Rows of the first chart of ``block`` (a heatmap): Streamlit ships its data as Arrow."""
    (dataset,) = block.get("vega_lite_chart")[0].proto.datasets
    return pl.from_arrow(pa.ipc.open_stream(dataset.data.data).read_all()).to_dicts()


@pytest.mark.slow
def test_sweep_round_trip_on_the_real_chain(real_db: Path) -> None:
    before = real_db.stat().st_mtime_ns
    at = open_app_page(PAGE)
    assert at.selectbox(key="rs_config_file").value == "iron_condor_spx.yaml"
    assert at.selectbox(key="rs_axis_x").value == "take_profit_pct"
    assert at.selectbox(key="rs_axis_y").value == "stop_loss_pct"
    assert at.text_input(key="rs_values_x_take_profit_pct").value == "25, 50, 75"
    started = time.perf_counter()
    at.button(key="rs_run_sweep").click().run()
    elapsed = time.perf_counter() - started
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert elapsed < 60
    status = at.status[0]
    assert status.label.startswith("Swept 9 cells in")
    heatmap, equity, drawdown = _specs(at.tabs[0])
    assert [layer["mark"]["type"] for layer in heatmap["layer"]] == ["rect", "rect", "text", "text"]
    cells = _heatmap_data(at.tabs[0])
    assert len(cells) == 9
    assert {c["y_label"] for c in cells} == {"100%", "200%", "300%"}
    assert all(c["n_text"].startswith("n=") for c in cells)
    table = at.tabs[0].dataframe[0].value
    assert len(table) == 9
    assert list(table["take_profit_pct"]) == ["25%"] * 3 + ["50%"] * 3 + ["75%"] * 3
    assert equity["encoding"]["y"]["field"] == "equity_usd"
    assert drawdown["encoding"]["y"]["field"] == "drawdown"

    # another metric and a floor of 0: every cell with a value is coloured
    at.selectbox(key="rs_sweep_metric").select("total_return").run()
    at.number_input(key="rs_sweep_min_trades").set_value(0).run()
    heatmap = _specs(at.tabs[0])[0]
    assert heatmap["layer"][1]["encoding"]["color"]["title"] == "Total return"
    assert all(c["is_coloured"] for c in _heatmap_data(at.tabs[0]))
    # another cell's equity
    outcome = at.session_state["research_sweep_outcome"]
    last = outcome.table["run_id"][-1]
    at.selectbox(key="rs_sweep_cell").select(last).run()
    assert not at.exception
    assert real_db.stat().st_mtime_ns == before  # nothing written


@pytest.mark.slow
def test_one_axis_sweep_of_a_saved_run(real_db: Path) -> None:
    at = open_app_page(PAGE)
    at.radio(key="rs_source").set_value("Saved run").run()
    picker = at.selectbox(key="rs_saved_run")
    real_condors = [o for o in picker.options if o.startswith("iron_condor-") and "real chain" in o]
    if not real_condors:
        pytest.skip("no saved real-chain iron condor run")
    run_id = real_condors[0].split(" · ")[0]
    picker.select(run_id).run()
    assert any(f"saved run {run_id}" in c.value for c in at.caption)
    at.selectbox(key="rs_axis_x").select("exit_dte").run()
    at.selectbox(key="rs_axis_y").select("(none: one row)").run()
    at.text_input(key="rs_values_x_exit_dte").set_value("none, 7, 14").run()
    at.button(key="rs_run_sweep").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    cells = _heatmap_data(at.tabs[0])
    assert sorted(c["x_label"] for c in cells) == ["14 DTE", "7 DTE", "off"]
    assert {c["y_label"] for c in cells} == {""}


@pytest.mark.slow
def test_a_busy_slot_is_explained(real_db: Path) -> None:
    at = open_app_page(PAGE)
    with runner.exclusive_job("a test holding the slot"):
        at.button(key="rs_run_sweep").click().run()
    assert not at.exception
    assert any("a test holding the slot" in e.value for e in at.error)
    assert "research_sweep_outcome" not in at.session_state


@pytest.mark.slow
def test_scan_round_trip_on_the_real_chain(real_db: Path) -> None:
    at = open_app_page(PAGE)
    assert at.selectbox(key="rs_scan_underlying").value == "SPX"
    at.button(key="rs_run_scan").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    scan_tab = at.tabs[1]
    assert any(s.label.startswith("Scanned ") for s in at.status)
    table = scan_tab.dataframe[0].value
    assert list(table.columns[:3]) == ["dte_bucket", "moneyness_bucket_leg1", "n_trades"]
    cells = _heatmap_data(scan_tab)
    assert sum(c["n"] for c in cells) == table["n_trades"].sum()
    assert at.selectbox(key="rs_scan_metric").options == [
        "Mean return",
        "Median return",
        "Win rate",
        "Mean P&L (index points)",
        "Trades",
    ]

    # a short iron condor by delta: four legs to bucket by, no pooled median
    at.selectbox(key="rs_scan_structure").select("iron_condor").run()
    at.radio(key="rs_scan_side").set_value("short").run()
    at.radio(key="rs_scan_bucket_by").set_value("delta").run()
    at.button(key="rs_run_scan").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    leg = at.selectbox(key="rs_scan_leg_iron_condor")
    assert leg.options == [
        "leg 1: long put",
        "leg 2: short put",
        "leg 3: short call",
        "leg 4: long call",
    ]
    assert "Median return" not in at.selectbox(key="rs_scan_metric").options
    leg.select(2).run()
    heatmap = _specs(at.tabs[1])[0]
    assert "leg 2: short put" in heatmap["layer"][0]["encoding"]["x"]["title"]
    assert at.tabs[1].dataframe[0].value.columns[1:5].tolist() == [
        f"delta_bucket_leg{i}" for i in range(1, 5)
    ]
