"""The Compare page, its queries and chart builders.

Most tests run on the SYNTHETIC warehouse of conftest (two runs); :func:`_with_underlying` adds
SYNTHETIC SPY closes and one dividend for the buy-and-hold baseline, and :func:`_writable` the
build database, run manifest and green dbt results that names, tags and deletes write through.
The real-data tests (``real_published``: set ``OPTIONS_TEST_WAREHOUSE=warehouse`` to reuse a
built one) only read.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app import backtest_runner
from app.charts import compare as compare_charts
from app.queries import compare
from tests.app.conftest import (
    APP,
    PAGE_TIMEOUT_S,
    RUN_WITH_TRADES,
    RUN_WITHOUT_TRADES,
    SYNTHETIC_INVOCATION,
    open_app_page,
    record_complete_run,
)
from warehouse.paths import WarehousePaths

HOLD_SPY = "Buy and hold SPY (total return)"
DAYS = [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]


def _chart_data(chart) -> pl.DataFrame:
    """The rows a chart element sends to the browser (its one Arrow dataset)."""
    (dataset,) = chart.proto.datasets
    return pl.from_arrow(pa.ipc.open_stream(dataset.data.data).read_all())


def _with_underlying(db: Path) -> Path:
    """SYNTHETIC SPY closes 100, 102, 99, 101 on the runs' four days and a 1.00 USD dividend
    going ex on 2024-01-04 (run 1 trades SPY; run 2's QQQ has no closes)."""
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "create schema marts;"
            "create table marts.fct_underlying_daily as select 'SPY' as underlying_symbol, "
            "trade_date, close from (values (date '2023-12-29', 98.0), (date '2024-01-02', 100.0),"
            " (date '2024-01-03', 102.0), (date '2024-01-04', 99.0), (date '2024-01-05', 101.0)) "
            "as t(trade_date, close);"
            "create table marts.fct_dividends as select 'SPY' as underlying_symbol, "
            "date '2024-01-04' as ex_date, 1.0 as dividend_usd, 'synthetic' as source;"
        )
    finally:
        con.close()
    return db


def _texts(at) -> list[str]:
    return [e.value for e in (*at.caption, *at.markdown)]


def _page(**params: str | list[str]) -> AppTest:
    """The Compare page opened from a link with ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _unexpected_warnings(at) -> list[str]:
    """Warnings other than the Delete tab's explanation (always drawn, in its tab)."""
    return [w.value for w in at.warning if not w.value.startswith("Deleting **")]


# ---- queries --------------------------------------------------------------------------------


def test_doctests() -> None:
    assert doctest.testmod(compare).failed == 0
    assert doctest.testmod(compare_charts).failed == 0


def test_compare_runs_by_hand(published_db: Path) -> None:
    comparison = compare.compare_runs(published_db, [RUN_WITH_TRADES, RUN_WITHOUT_TRADES])

    run1 = comparison.equity.filter(pl.col("run_id") == RUN_WITH_TRADES)
    # conftest: returns (NaN -> 0), 0.01, -0.01, 0.0201020102 compound to
    #   0, 0.01, 1.01 x 0.99 - 1 = -0.0001, 0.9999 x 1.0201020102 - 1 = 0.02 (= total_return)
    assert run1["cumulative_return"].to_list() == pytest.approx([0.0, 0.01, -0.0001, 0.02])
    assert run1["drawdown"].to_list() == pytest.approx([0.0, 0.0, -0.01, 0.0])
    run2 = comparison.equity.filter(pl.col("run_id") == RUN_WITHOUT_TRADES)
    assert run2["cumulative_return"].to_list() == [0.0, 0.0, 0.0, 0.0]
    assert comparison.metrics["run_id"].to_list() == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert comparison.metrics["n_sessions"].to_list() == [4, 4]
    assert comparison.metrics.schema["sharpe_ratio"] == pl.Float64


def test_compare_runs_binds_the_ids(published_db: Path) -> None:
    comparison = compare.compare_runs(published_db, ["x' or '1'='1"])

    assert comparison.equity.is_empty()
    assert comparison.metrics.is_empty()


def test_side_by_side_has_one_column_per_run(published_db: Path) -> None:
    metrics = compare.compare_runs(published_db, [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]).metrics

    table = compare.side_by_side(metrics, {RUN_WITH_TRADES: "Straddle"}).to_dicts()
    by_metric = {row["metric"]: row for row in table}

    assert list(table[0]) == ["metric", "Straddle", RUN_WITHOUT_TRADES]
    assert by_metric["Total return"]["Straddle"] == "2.00%"
    assert by_metric["Sharpe"][RUN_WITHOUT_TRADES] == "n/a"  # NaN, never "nan"
    assert by_metric["Trades"]["Straddle"] == "2"
    assert by_metric["Sessions"]["Straddle"] == "4"
    assert by_metric["Calmar"]["Straddle"] == "350.00"
    assert by_metric["Period"]["Straddle"] == "2024-01-02 to 2024-01-05"
    assert by_metric["Sample"]["Straddle"] == "too few: 4 sessions, 2 trades"


def test_list_runs_without_labels_table_and_display_names(published_db: Path) -> None:
    runs = compare.list_runs(published_db)

    assert runs["run_id"].to_list() == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert runs["name"].to_list() == [None, None]
    assert runs["tags"].to_list() == [[], []]
    assert runs["chain_source"].to_list() == ["real", "real"]  # a table before chain sources
    # not engine ids (<strategy>-<hash>): unnamed runs show their run id
    assert compare.display_names(runs) == {r: r for r in runs["run_id"]}


def test_display_names_fall_back_to_strategy_and_hash_and_stay_unique() -> None:
    runs = pl.DataFrame(
        {
            "run_id": ["bxm-432d1583d6e2", "bxm-432d15aaaaaa", "put-03b97b663b32", "put-1"],
            "strategy": ["bxm", "bxm", "put", "put"],
            "name": [None, None, "Mine", "Mine"],
        }
    )
    names = compare.display_names(runs)
    assert names == {
        "bxm-432d1583d6e2": "bxm 432d15 (432d1583)",  # same 6 hex: 8 shown
        "bxm-432d15aaaaaa": "bxm 432d15 (432d15aa)",
        "put-03b97b663b32": "Mine (03b97b66)",
        "put-1": "Mine (1)",
    }
    assert len(set(names.values())) == len(names)


def test_config_diff_shows_the_keys_that_differ() -> None:
    left = json.dumps({"exits": {"holding_days": 5, "stop_loss_pct": None}, "legs": [{"d": 0.3}]})
    right = json.dumps({"exits": {"holding_days": None, "stop_loss_pct": None}, "x": 1})

    diff = compare.config_diff(left, right, left="A", right="B")

    assert diff.columns == ["key", "A", "B", "differs"]
    assert diff.rows() == [
        ("exits.holding_days", "5", "null", True),
        ("legs[1].d", "0.3", compare.ABSENT, True),
        ("x", compare.ABSENT, "1", True),
    ]
    every = compare.config_diff(left, right, all_keys=True, left="A", right="B")
    assert ("exits.stop_loss_pct", "null", "null", False) in every.rows()
    assert compare.config_diff(left, left).is_empty()
    with pytest.raises(ValueError, match="config_json of B is not JSON"):
        compare.config_diff(left, "{bad", left="A", right="B")


def test_hold_path_reinvests_dividends_by_hand() -> None:
    closes = pl.DataFrame({"trade_date": DAYS, "close": [100.0, 102.0, 99.0, 101.0]})
    dividends = pl.DataFrame({"ex_date": [dt.date(2024, 1, 4)], "dividend_usd": [1.0]})

    path = compare.hold_path(DAYS[::-1], closes, dividends)  # order of sessions is irrelevant

    # 102 / 100 = 1.02; (99 + 1) / 102 = 0.980392; 101 / 99 = 1.020202
    # wealth 1, 1.02, 1.00, 1.020202; drawdown 1.00 / 1.02 - 1 = -0.019608
    assert path["quote_date"].to_list() == DAYS
    assert path["cumulative_return"].to_list() == pytest.approx([0, 0.02, 0.0, 0.020202], abs=1e-6)
    assert path["drawdown"].to_list() == pytest.approx([0, 0, -0.019608, 0], abs=1e-6)
    price_only = compare.hold_path(DAYS, closes, dividends.clear())
    assert price_only["cumulative_return"][-1] == pytest.approx(0.01)  # 101 / 100 - 1


def test_hold_path_marks_a_missing_close_with_the_last_one_and_skips_dividends_before() -> None:
    closes = pl.DataFrame({"trade_date": [DAYS[0], DAYS[2]], "close": [100.0, 110.0]})
    # ex-date on the first session: bought at its close, not entitled
    dividends = pl.DataFrame({"ex_date": [DAYS[0]], "dividend_usd": [5.0]})

    path = compare.hold_path(DAYS, closes, dividends)

    assert path["cumulative_return"].to_list() == pytest.approx([0.0, 0.0, 0.1, 0.1])


def test_path_metrics_match_the_engine_on_the_returns() -> None:
    closes = pl.DataFrame({"trade_date": DAYS, "close": [100.0, 102.0, 99.0, 101.0]})
    path = compare.hold_path(
        DAYS, closes, pl.DataFrame(schema={"ex_date": pl.Date, "dividend_usd": pl.Float64})
    )

    metrics = compare.path_metrics(path)

    assert metrics["n_sessions"] == 4
    assert metrics["total_return"] == pytest.approx(0.01)
    assert metrics["max_drawdown"] == pytest.approx(99 / 102 - 1)


def test_real_buy_and_hold_of_spx_over_a_real_run(real_published: Path) -> None:
    """SPX over the real 2019 chain's sessions: a price return (no SPX dividends recorded),
    equal to the ratio of the closes of the last and first session."""
    runs = compare.list_runs(real_published)
    run = runs.filter(
        (pl.col("chain_source") == "real") & (pl.col("underlying_symbol") == "SPX")
    ).row(0, named=True)
    equity = compare.compare_runs(real_published, [run["run_id"]]).equity
    days = equity["quote_date"].to_list()
    options = compare.baseline_options(real_published, ["SPX"])
    hold = next(b for b in options if b.key == "hold:SPX")
    assert hold.label == "Buy and hold SPX (price return)" and not hold.has_dividends

    inputs = compare.baseline_inputs(real_published, [hold], days[0], days[-1])
    baselines = compare.compute_baselines([(days, ["SPX"])], [hold], inputs)

    closes = dict(inputs.closes.select("trade_date", "close").iter_rows())
    path = baselines.paths
    assert path["quote_date"][0] == days[0]
    assert path["cumulative_return"][-1] == pytest.approx(closes[days[-1]] / closes[days[0]] - 1)
    assert path["drawdown"].max() == 0.0 and path["drawdown"].min() < 0
    assert any("price return" in note for note in baselines.notes)


def test_real_published_bxm_is_rebased_over_a_run(real_published: Path) -> None:
    options = {b.key: b for b in compare.baseline_options(real_published, ["SPX"])}
    if "published:BXM" not in options:
        pytest.skip("the published warehouse has no BXM history loaded")
    days = [dt.date(2019, 6, 21), dt.date(2019, 6, 24), dt.date(2019, 7, 19)]
    inputs = compare.baseline_inputs(real_published, [options["published:BXM"]], *days[::2])

    baselines = compare.compute_baselines([(days, ["SPX"])], [options["published:BXM"]], inputs)

    levels = dict(inputs.levels.select("quote_date", "level").iter_rows())
    assert baselines.paths["cumulative_return"].to_list() == pytest.approx(
        [levels[d] / levels[days[0]] - 1 for d in days]
    )
    assert baselines.metrics["chain_text"].to_list() == ["published index"]


# ---- charts ---------------------------------------------------------------------------------


def _paths() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series": ["a", "a", "b", "b", "hold", "hold"],
            "quote_date": DAYS[:2] * 3,
            "cumulative_return": [0.0, 0.01, 0.0, -0.02, 0.0, 0.005],
            "drawdown": [0.0, 0.0, 0.0, -0.02, 0.0, 0.0],
        }
    )


def test_compare_charts_overlay_runs_and_baselines() -> None:
    for builder, field in (
        (compare_charts.compare_equity_chart, "cumulative_return"),
        (compare_charts.compare_drawdown_chart, "drawdown"),
    ):
        spec = builder(_paths(), ["a", "b"], ["hold"]).to_dict()
        encoding = spec["encoding"]
        assert encoding["y"]["field"] == field
        assert encoding["y"]["axis"]["format"] == "%"
        assert encoding["x"]["field"] == "quote_date"
        assert encoding["x"]["timeUnit"] == "yearmonthdate"
        assert encoding["color"]["field"] == encoding["strokeDash"]["field"] == "series"
        assert encoding["color"]["scale"]["domain"] == ["a", "b", "hold"]
        assert encoding["strokeDash"]["scale"]["range"] == [[1, 0], [1, 0], [6, 3]]


def test_series_colours_are_distinct_hues_and_baselines_never_share_them() -> None:
    runs = [f"run {i}" for i in range(compare_charts.MAX_RUNS)]
    baselines = [f"base {i}" for i in range(9)]

    styles = compare_charts.series_styles(runs, baselines)

    run_colours = [styles[r][0] for r in runs]
    assert len(set(run_colours)) == len(runs)  # one hue per run
    assert not set(run_colours) & {styles[b][0] for b in baselines}
    assert len({styles[b] for b in baselines}) == len(baselines)  # colour or dash differs
    assert all(styles[b][1] != compare_charts.SOLID for b in baselines)

    def rgb(hex_colour: str) -> tuple[int, ...]:
        return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))

    # no near-identical pair (Streamlit's theme paired each hue with its tint): every two run
    # colours at least 60 apart in RGB space
    for i, a in enumerate(run_colours):
        for b in run_colours[i + 1 :]:
            assert sum((x - y) ** 2 for x, y in zip(rgb(a), rgb(b), strict=True)) ** 0.5 > 60


def test_chart_refusals_name_the_problem() -> None:
    with pytest.raises(ValueError, match="at most 8 runs"):
        compare_charts.series_styles([str(i) for i in range(9)])
    with pytest.raises(ValueError, match=r"\['a'\] more than once"):
        compare_charts.series_styles(["a"], ["a"])
    with pytest.raises(ValueError, match=r"series \['hold'\] are neither"):
        compare_charts.compare_equity_chart(_paths(), ["a", "b"])
    with pytest.raises(ValueError, match="needs columns"):
        compare_charts.compare_drawdown_chart(_paths().drop("drawdown"), ["a", "b"], ["hold"])


# ---- the page -------------------------------------------------------------------------------


def test_page_compares_two_runs(published_db: Path) -> None:
    at = open_app_page("compare.py")

    assert at.title[0].value == "Compare"
    picker = at.multiselect(key="compare_runs")
    assert picker.value == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]  # default: all (up to 5)
    assert at.multiselect(key="compare_baselines").value == []  # no closes in this warehouse
    equity_chart, drawdown_chart = at.get("vega_lite_chart")
    for chart, field in ((equity_chart, "cumulative_return"), (drawdown_chart, "drawdown")):
        spec = json.loads(chart.proto.spec)
        assert spec["encoding"]["y"]["field"] == field
        assert spec["encoding"]["y"]["axis"]["format"] == "%"
        rows = _chart_data(chart)
        assert sorted(rows["series"].unique().to_list()) == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    # metrics, then the config diff: static tables (every column shows, none scrolls away)
    assert not at.dataframe
    table, _ = at.table
    assert list(table.value.columns) == ["metric", RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert at.query_params["runs"] == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert not at.error
    assert not _unexpected_warnings(at)


def test_page_follows_the_selection(published_db: Path) -> None:
    at = open_app_page("compare.py")

    at.multiselect(key="compare_runs").set_value([RUN_WITH_TRADES]).run()

    assert not at.exception
    rows = _chart_data(at.get("vega_lite_chart")[0])
    assert rows["series"].unique().to_list() == [RUN_WITH_TRADES]
    assert list(at.table[0].value.columns) == ["metric", RUN_WITH_TRADES]
    assert at.query_params["runs"] == RUN_WITH_TRADES  # the URL follows

    at.multiselect(key="compare_runs").set_value([]).run()
    assert any("Pick one or more runs" in info.value for info in at.info)
    assert not at.get("vega_lite_chart")
    assert at.query_params["runs"] == ""


def test_a_link_opens_its_runs_and_notes_a_deleted_one(published_db: Path) -> None:
    at = _page(runs=[RUN_WITHOUT_TRADES, "deleted-run"])

    assert at.multiselect(key="compare_runs").value == [RUN_WITHOUT_TRADES]
    (note,) = _unexpected_warnings(at)
    assert "`runs`" in note and "'deleted-run'" in note and "not a saved run" in note
    assert at.query_params["runs"] == RUN_WITHOUT_TRADES


def test_page_draws_buy_and_hold_and_its_metrics(published_db: Path) -> None:
    _with_underlying(published_db)
    at = open_app_page("compare.py")

    baselines = at.multiselect(key="compare_baselines")
    assert baselines.value == ["hold:SPY"]  # run 1's SPY; run 2's QQQ has no closes
    assert baselines.format_func("hold:SPY") == HOLD_SPY
    rows = _chart_data(at.get("vega_lite_chart")[0])
    hold = rows.filter(pl.col("series") == HOLD_SPY).sort("quote_date")
    # as test_hold_path_reinvests_dividends_by_hand
    assert hold["cumulative_return"].to_list() == pytest.approx([0, 0.02, 0, 0.020202], abs=1e-6)
    by_metric = {row["metric"]: row for row in at.table[0].value.to_dict("records")}
    assert by_metric["Total return"][HOLD_SPY] == "2.02%"
    assert by_metric["Trades"][HOLD_SPY] == "n/a"
    assert by_metric["Chain"][HOLD_SPY] == "no options (underlying)"
    assert any("total return, 1 dividends (synthetic)" in text for text in _texts(at))
    assert at.query_params["baselines"] == "hold:SPY"

    baselines.set_value([]).run()  # round trip: no baseline
    rows = _chart_data(at.get("vega_lite_chart")[0])
    assert HOLD_SPY not in rows["series"].to_list()
    assert at.query_params["baselines"] == ""


def test_config_diff_widgets_round_trip(published_db: Path) -> None:
    at = open_app_page("compare.py")

    assert at.selectbox(key="compare_diff_left").value == RUN_WITH_TRADES
    assert at.selectbox(key="compare_diff_right").value == RUN_WITHOUT_TRADES
    _metrics, diff = at.table
    # conftest: {"holding_days": 5} against {"holding_days": 3}
    assert diff.value.to_dict("records") == [
        {"key": "holding_days", f"A: {RUN_WITH_TRADES}": "5", f"B: {RUN_WITHOUT_TRADES}": "3"}
    ]

    at.toggle(key="compare_diff_all").set_value(True).run()
    assert "differs" in at.table[-1].value.columns

    at.selectbox(key="compare_diff_right").set_value(RUN_WITH_TRADES).run()
    assert any("two different runs" in info.value for info in at.info)
    assert len(at.table) == 1  # the metrics alone


def _writable(published_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the SYNTHETIC warehouse writable the way the app writes: a build database (a copy
    of the published one), the manifest of a complete pipeline run and a green dbt build."""
    paths = WarehousePaths.from_env()
    paths.build_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(published_db, paths.build_db)
    record_complete_run(paths.root)
    target = tmp_path / "target"
    target.mkdir()
    (target / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {"invocation_id": SYNTHETIC_INVOCATION},
                "args": {"which": "build"},
                "results": [{"unique_id": "model.options.synthetic", "status": "success"}],
            }
        )
    )
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    return paths.build_db


def test_name_and_tags_round_trip(
    published_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _writable(published_db, tmp_path, monkeypatch)
    at = open_app_page("compare.py")
    assert at.selectbox(key="compare_manage_run").value == RUN_WITH_TRADES
    assert at.text_input(key="compare_label_name").value == ""

    at.text_input(key="compare_label_name").set_value("Earnings straddle")
    at.multiselect(key="compare_label_tags").set_value(["Q1", "earnings"])
    at.button(key="bt_compare_save_label").click().run()

    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"Named `{RUN_WITH_TRADES}`" in s.value for s in at.success)
    picker = at.multiselect(key="compare_runs")
    assert picker.format_func(RUN_WITH_TRADES).startswith("Earnings straddle · SPY")
    assert picker.format_func(RUN_WITH_TRADES).endswith("#earnings #q1")
    assert list(at.table[0].value.columns)[1] == "Earnings straddle"
    assert at.multiselect(key="compare_label_tags").value == ["Q1", "earnings"]

    at.selectbox(key="compare_manage_run").set_value(RUN_WITHOUT_TRADES).run()
    assert at.text_input(key="compare_label_name").value == ""  # the other run's (none)
    at.selectbox(key="compare_manage_run").set_value(RUN_WITH_TRADES).run()
    assert at.text_input(key="compare_label_name").value == "Earnings straddle"


def test_a_rename_shows_the_new_name_in_every_run_picker(
    published_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """streamlit#13788: a keyed picker whose labels change keeps showing the old label unless
    its state is set again; after a rename each run picker is re-sent its value (run ids kept)
    with the new label (``set_value`` and the label on the wire), and only after a change."""
    _writable(published_db, tmp_path, monkeypatch)
    at = open_app_page("compare.py")
    at.selectbox(key="compare_diff_right").set_value(RUN_WITHOUT_TRADES).run()
    pickers = ("compare_runs", "compare_manage_run", "compare_diff_left", "compare_diff_right")
    assert not at.multiselect(key="compare_runs").proto.set_value  # nothing changed: not re-sent

    at.text_input(key="compare_label_name").set_value("Earnings straddle")
    at.button(key="bt_compare_save_label").click().run()

    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = at.multiselect(key="compare_runs")
    assert runs.value == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]  # the selection is kept
    assert runs.proto.set_value
    assert list(runs.proto.raw_values) == [
        runs.format_func(RUN_WITH_TRADES),
        runs.format_func(RUN_WITHOUT_TRADES),
    ]
    assert runs.proto.raw_values[0].startswith("Earnings straddle · SPY")
    shown = {
        key: (at.selectbox(key=key).value, at.selectbox(key=key).proto.raw_value)
        for key in pickers[1:]
    }
    assert shown == {
        "compare_manage_run": (RUN_WITH_TRADES, "Earnings straddle"),
        "compare_diff_left": (RUN_WITH_TRADES, "Earnings straddle"),
        "compare_diff_right": (RUN_WITHOUT_TRADES, RUN_WITHOUT_TRADES),
    }
    assert all(at.selectbox(key=key).proto.set_value for key in pickers[1:])

    at.run()  # the labels drawn are current: nothing is re-sent
    assert not at.multiselect(key="compare_runs").proto.set_value
    assert not at.selectbox(key="compare_manage_run").proto.set_value


def test_a_bad_tag_is_refused_and_nothing_is_written(
    published_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_db = _writable(published_db, tmp_path, monkeypatch)
    before = build_db.stat().st_mtime_ns
    at = open_app_page("compare.py")

    at.multiselect(key="compare_label_tags").set_value(["semi;colon"])
    at.button(key="bt_compare_save_label").click().run()

    assert any("'semi;colon'" in e.value for e in at.error)
    assert build_db.stat().st_mtime_ns == before


def test_delete_round_trip_needs_the_typed_run_id(
    published_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _writable(published_db, tmp_path, monkeypatch)
    # no dbt models in the SYNTHETIC warehouse: the report rebuild is a no-op here
    # (run_admin writes through app.backtest_runner's locked path, which calls it)
    monkeypatch.setattr(backtest_runner, "refresh_reports", lambda paths, target: None)
    at = open_app_page("compare.py")
    at.selectbox(key="compare_manage_run").set_value(RUN_WITHOUT_TRADES).run()
    assert at.button(key="bt_compare_delete").disabled

    at.text_input(key="compare_delete_confirm").set_value("synthetic-run").run()
    assert at.button(key="bt_compare_delete").disabled  # not the run id
    at.text_input(key="compare_delete_confirm").set_value(RUN_WITHOUT_TRADES).run()
    assert not at.button(key="bt_compare_delete").disabled
    at.button(key="bt_compare_delete").click().run()

    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"Deleted `{RUN_WITHOUT_TRADES}`" in s.value for s in at.success)
    assert at.multiselect(key="compare_runs").value == [RUN_WITH_TRADES]
    assert len(at.multiselect(key="compare_runs").options) == 1  # the deleted run is gone
    assert at.query_params["runs"] == RUN_WITH_TRADES
    assert at.text_input(key="compare_delete_confirm").value == ""
    con = duckdb.connect(str(published_db), read_only=True)
    assert con.sql("select run_id from backtest.runs").fetchall() == [(RUN_WITH_TRADES,)]
    con.close()


def test_export_button_offers_the_runs_archive(published_db: Path) -> None:
    at = open_app_page("compare.py")

    (button,) = at.get("download_button")
    assert button.label == "Download the run (ZIP)"
    assert any(f"backtest-{RUN_WITH_TRADES}.zip" in text for text in _texts(at))

    at.selectbox(key="compare_manage_run").set_value(RUN_WITHOUT_TRADES).run()
    assert any(f"backtest-{RUN_WITHOUT_TRADES}.zip" in text for text in _texts(at))
    button = at.get("download_button")[0]
    button.click().run()  # on_click="ignore": the page stays as it is
    assert not at.exception


def test_page_without_runs_explains(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("delete from backtest.runs")
    con.close()

    at = open_app_page("compare.py")

    assert any("no backtest runs" in info.value for info in at.info)
    assert not at.multiselect


def test_page_names_a_missing_column(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("alter table backtest.metrics drop column calmar_ratio")
    con.close()

    at = open_app_page("compare.py")

    assert len(at.error) == 1
    assert "backtest.metrics" in at.error[0].value and "calmar_ratio" in at.error[0].value


def test_page_on_the_real_warehouse_with_a_baseline(real_published: Path) -> None:
    at = _page(
        runs=["iron_condor-56dc87d1f0a3", "bxm-d51c038d9803"],
        baselines=["hold:SPX", "published:BXM"],
    )
    runs = at.multiselect(key="compare_runs").value
    if not runs:
        pytest.skip("the published warehouse lacks the runs of this link")
    assert not at.error
    series = set(_chart_data(at.get("vega_lite_chart")[0])["series"].to_list())
    assert any(s.startswith("Buy and hold SPX (price return)") for s in series)
    table = at.table[0].value
    assert "Sample" in table["metric"].to_list()
