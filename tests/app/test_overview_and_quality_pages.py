"""The Overview and Data quality pages on the real published warehouse, and their builders."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.charts.overview import coverage_chart
from app.charts.quality import dbt_tests_chart
from app.queries import overview, quality
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

pytestmark = pytest.mark.slow


def test_overview_counts_what_the_loaders_landed(real_published: Path) -> None:
    at = open_app_page("overview.py")
    assert not at.error
    tiles = {m.label: m.value for m in at.metric}
    # the embedded vendor files: 1,060,300 rows landed, 18 rejected (tests/test_end_to_end.py)
    assert tiles["Rows landed"] == "1,060,300"
    assert tiles["Rows rejected"] == "18"
    assert tiles["Current models"] == "6"
    assert int(tiles["Backtest runs"]) >= 1
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert specs and specs[0]["mark"]["type"] == "bar"


def test_overview_coverage_has_every_dataset(real_published: Path) -> None:
    coverage = overview.read_overview(real_published).coverage
    assert set(coverage.get_column("dataset")) == {
        "option_quotes",
        "underlying_bars",
        "volatility_indices",
        "rates",
        "option_day_bars",
        "iv_surfaces",
    }
    bars = coverage.filter(pl.col("dataset") == "option_day_bars")
    assert set(bars["symbol"]) == {"SPY", "QQQ", "AAPL", "MSFT", "NVDA", "AMD", "ADBE", "GS"}
    assert bars["n_rows"].sum() == 40_501
    surfaces = coverage.filter(pl.col("dataset") == "iv_surfaces").row(0, named=True)
    assert (surfaces["symbol"], surfaces["n_rows"], surfaces["n_dates"]) == ("AAPL", 2_808, 52)
    spx = coverage.filter(
        (pl.col("dataset") == "option_quotes") & (pl.col("source") == "cboe_eod_chain")
        & (pl.col("symbol") == "SPX")
    ).row(0, named=True)  # fmt: skip
    assert (spx["first_date"], spx["last_date"], spx["n_dates"], spx["n_rows"]) == (
        date(2019, 4, 25),
        date(2019, 7, 22),
        56,
        781_952,
    )


def test_quality_filters_round_trip(real_published: Path) -> None:
    at = open_app_page("data_quality.py")
    assert not at.error
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert [panel["title"]["text"].split(":")[0] for panel in spec["hconcat"]] == [
        "Severity error",
        "Severity warn",
    ]
    assert any("own x scale" in caption.value for caption in at.caption)
    status, severity = at.multiselect
    shown = at.dataframe[1].value.shape[0]
    assert shown == quality.dbt_test_results(real_published, ["fail", "error", "warn"]).height
    status.set_value(["pass"]).run()
    passed = at.dataframe[1].value
    assert set(passed["status"]) == {"pass"} and passed.shape[0] > shown
    severity.set_value(["warn"]).run()
    assert set(at.dataframe[1].value["severity"]) == {"warn"}


def test_rejected_rows_filter_by_rule(real_published: Path) -> None:
    at = open_app_page("data_quality.py")
    rejects = at.dataframe[2].value
    assert rejects.shape[0] == 18  # 17 crossed SPY quotes + 1 Yahoo bar off the NYSE calendar
    rule = "expect_column_pair_values_a_to_be_greater_than_b:ask,bid"
    at.selectbox[0].set_value(rule).run()
    only = at.dataframe[2].value
    assert only.shape[0] == 17 and set(only["rule"]) == {rule}


def test_rule_filter_is_a_parameter_not_sql(real_published: Path) -> None:
    assert quality.rejected_rows(real_published, "x' or '1'='1").height == 0
    assert quality.dbt_test_results(real_published, ["pass') or ('1'='1"]).height == 0


# ---- Data quality deep links (app.links): the filters in the URL ---------------------------------

CROSSED = "expect_column_pair_values_a_to_be_greater_than_b:ask,bid"


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Data quality page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/data_quality.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def test_quality_url_follows_the_filters(real_published: Path) -> None:
    at = open_app_page("data_quality.py")
    assert at.query_params == {}  # every filter at its default

    status, severity = at.multiselect
    status.set_value(["pass"]).run()
    severity.set_value(["warn"]).run()
    at.selectbox[0].set_value(CROSSED).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {"status": "pass", "severity": "warn", "rule": CROSSED}

    at.multiselect[0].set_value([]).run()  # no status filter: all, shared as such
    at.selectbox[0].set_value("(all rules)").run()
    assert at.query_params == {"status": "", "severity": "warn"}


def test_quality_link_reopens_its_filters(real_published: Path) -> None:
    at = _linked_page(status=["pass", "warn"], severity="warn", rule=CROSSED)

    assert not _notes(at) and not at.error
    assert [box.value for box in at.multiselect] == [["pass", "warn"], ["warn"]]
    tests = at.dataframe[1].value
    assert set(tests["status"]) <= {"pass", "warn"} and set(tests["severity"]) == {"warn"}
    assert at.selectbox[0].value == CROSSED and at.dataframe[2].value.shape[0] == 17
    assert at.query_params == {"status": ["pass", "warn"], "severity": "warn", "rule": CROSSED}


def test_quality_bad_link_values_are_noted(real_published: Path) -> None:
    at = _linked_page(status=["fail", "broken"], severity="info", rule="x' or '1'='1")

    notes = _notes(at)
    assert len(notes) == 3, notes
    assert any("`status`" in n and "'broken'" in n for n in notes)
    assert any("`severity`" in n and "'info'" in n for n in notes)
    assert any("`rule`" in n and "landing rule" in n for n in notes)
    # the good status kept; severity and rule back at their defaults
    assert [box.value for box in at.multiselect] == [["fail"], ["error", "warn"]]
    assert at.selectbox[0].value == "(all rules)" and at.dataframe[2].value.shape[0] == 18
    assert at.query_params == {"status": "fail"}


# ---- chart builders, on SYNTHETIC frames -----------------------------------------------------


def test_coverage_chart_names_a_missing_column() -> None:
    with pytest.raises(ValueError, match="last_date"):
        coverage_chart(pl.DataFrame({"dataset": ["x"], "first_date": [date(2020, 1, 1)]}))


def test_tests_chart_labels_each_panel_s_own_scale() -> None:
    """The panels' x scales differ (hundreds of error tests, a dozen warn): each panel says so,
    gives its total and writes every bar's count, so the bars are not read as comparable."""
    counts = pl.DataFrame(  # SYNTHETIC: error 300 + 4 = 304 tests, warn 2 + 1 = 3
        {
            "severity": ["error", "error", "warn", "warn"],
            "status": ["pass", "pass", "warn", "pass"],
            "category": [None, "greeks", "greeks", "greeks"],
            "n_tests": [300, 4, 2, 1],
        }
    )
    spec = dbt_tests_chart(counts).to_dict()
    assert spec["resolve"]["scale"] == {"x": "independent", "color": "shared"}
    error_panel, warn_panel = spec["hconcat"]
    assert error_panel["title"]["text"] == "Severity error: 304 tests"
    assert warn_panel["title"]["text"] == "Severity warn: 3 tests"
    bars, labels = warn_panel["layer"]
    assert "own scale" in bars["encoding"]["x"]["title"]
    assert bars["encoding"]["color"]["scale"]["domain"] == ["pass", "warn", "fail", "error"]
    # the warn panel's greeks bar ends in its count, 2 + 1 = 3
    assert [row["n_total"] for row in spec["datasets"][labels["data"]["name"]]] == [3]
    # a NULL category is named, and the categories keep one order (most tests first)
    assert bars["encoding"]["y"]["sort"] == ["(no category)", "greeks"]
    with pytest.raises(ValueError, match="none"):
        dbt_tests_chart(counts.clear())
