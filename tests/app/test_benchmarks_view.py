"""The Benchmarks page, its queries and its chart, on the SYNTHETIC warehouse of conftest plus
SYNTHETIC ``forecasts.rpt_benchmark_replication*`` rows (hand-written below, the arithmetic in
comments): BXM replicated on a modeled chain (``ssvi-1``) against its published level, and PUT
on the real chain with no published history loaded."""

from __future__ import annotations

import datetime as dt
import doctest
import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import benchmarks as charts
from app.queries import benchmarks
from tests.app.browser import CHROMIUM, require_browser
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

BXM_RUN, PUT_RUN = "synthetic-bxm", "synthetic-put"

_DDL = """
alter table backtest.runs add column chain_source varchar;
alter table backtest.runs add column chain_model_version varchar;
update backtest.runs set chain_source = 'real';
insert into backtest.runs (run_id, strategy, underlying_symbol, first_date, last_date,
                           chain_source, chain_model_version) values
    ('synthetic-bxm', 'bxm', 'SPX', '2024-01-19', '2024-02-29', 'modeled', 'ssvi-1'),
    ('synthetic-put', 'put', 'SPX', '2024-01-19', '2024-01-23', 'real', null);
create schema forecasts;
create table forecasts.rpt_benchmark_replication (
    benchmark_symbol varchar, chain_source varchar, quote_date date, run_id varchar,
    is_normalised_to_published boolean, replicated_level {level}, published_level {level},
    replicated_daily_return double, published_daily_return double
);
create table forecasts.rpt_benchmark_replication_summary (
    benchmark_symbol varchar, chain_source varchar, period varchar, calendar_year integer,
    run_id varchar, has_published_history boolean, first_month_end_date date,
    last_month_end_date date, n_months bigint, replicated_return double,
    published_return double, return_difference double, monthly_return_correlation double,
    tracking_error_annualised double
);
create table forecasts.rpt_benchmark_replication_cycles (
    benchmark_symbol varchar, chain_source varchar, cycle_start_date date, cycle_end_date date,
    run_id varchar, cycle_no bigint, is_complete_cycle boolean, n_sessions bigint,
    replicated_start_level double, replicated_end_level double, published_start_level double,
    published_end_level double, replicated_return double, published_return double,
    return_difference double, is_within_target boolean, daily_tracking_error_annualised double
);
"""

# SYNTHETIC rows.
# BXM modeled: replicated 1000 -> 1010 -> 1020 -> 1030.6, published 1000 -> 1005 -> 1012 ->
#   1020 (normalised on the first session, 2024-01-19). Published daily return NULL on the
#   first session. Whole run: 1030.6 / 1000 - 1 = 3.06 % against 2.00 %, difference 1.06 %;
#   two months give no correlation or tracking error.
#   Cycles: 01-19 -> 02-16 (complete): 1020 / 1000 - 1 = 2 % vs 1.2 %, +0.80 pp, off the
#   0.5 pp target; 02-16 -> 02-29 (to date): 1030.6 / 1020 - 1 = 1.0392 % vs 1020 / 1012 - 1 =
#   0.7905 %, +0.25 pp, within it.
# PUT real: no PUT history, level 100 on its first session -> 101 -> 100.5; no roll cycle.
_ROWS = """
insert into forecasts.rpt_benchmark_replication values
    ('BXM', 'modeled', '2024-01-19', 'synthetic-bxm', true, 1000.00, 1000.00, null, null),
    ('BXM', 'modeled', '2024-01-31', 'synthetic-bxm', true, 1010.00, 1005.00, 0.01, 0.005),
    ('BXM', 'modeled', '2024-02-16', 'synthetic-bxm', true, 1020.00, 1012.00, 0.0099009901, 0.0069651741),
    ('BXM', 'modeled', '2024-02-29', 'synthetic-bxm', true, 1030.60, 1020.00, 0.0103921569, 0.0079051383),
    ('PUT', 'real', '2024-01-19', 'synthetic-put', false, 100.00, null, null, null),
    ('PUT', 'real', '2024-01-22', 'synthetic-put', false, 101.00, null, 0.01, null),
    ('PUT', 'real', '2024-01-23', 'synthetic-put', false, 100.50, null, -0.0049504950, null);
insert into forecasts.rpt_benchmark_replication_summary values
    ('BXM', 'modeled', '2024', 2024, 'synthetic-bxm', true, '2024-01-31', '2024-02-29', 2,
     0.0306, 0.02, 0.0106, null, null),
    ('BXM', 'modeled', 'all', null, 'synthetic-bxm', true, '2024-01-31', '2024-02-29', 2,
     0.0306, 0.02, 0.0106, null, null),
    ('PUT', 'real', '2024', 2024, 'synthetic-put', false, '2024-01-23', '2024-01-23', 1,
     0.005, null, null, null, null),
    ('PUT', 'real', 'all', null, 'synthetic-put', false, '2024-01-23', '2024-01-23', 1,
     0.005, null, null, null, null);
insert into forecasts.rpt_benchmark_replication_cycles values
    ('BXM', 'modeled', '2024-01-19', '2024-02-16', 'synthetic-bxm', 1, true, 2,
     1000.0, 1020.0, 1000.0, 1012.0, 0.02, 0.012, 0.008, false, null),
    ('BXM', 'modeled', '2024-02-16', '2024-02-29', 'synthetic-bxm', 2, false, 1,
     1020.0, 1030.6, 1012.0, 1020.0, 0.0103921569, 0.0079051383, 0.0024870186, true, null);
"""


def _with_benchmarks(db: Path, level_type: str = "double") -> Path:
    con = duckdb.connect(str(db))
    try:
        con.execute(_DDL.format(level=level_type))
        con.execute(_ROWS)
    finally:
        con.close()
    return db


@pytest.fixture
def benchmarks_db(published_db: Path) -> Path:
    """conftest's SYNTHETIC published warehouse with the SYNTHETIC benchmark marts."""
    return _with_benchmarks(published_db)


def _chart_data(chart) -> pl.DataFrame:
    """The rows a chart element sends to the browser (its one Arrow dataset)."""
    (dataset,) = chart.proto.datasets
    return pl.from_arrow(pa.ipc.open_stream(dataset.data.data).read_all())


def _texts(at) -> list[str]:
    return [e.value for e in (*at.caption, *at.markdown, *at.info)]


def test_doctests() -> None:
    assert doctest.testmod(benchmarks).failed == 0
    assert doctest.testmod(charts).failed == 0


def test_replications_by_hand(benchmarks_db: Path) -> None:
    rows = benchmarks.replications(benchmarks_db)

    assert rows.select("benchmark_symbol", "chain_source", "run_id").rows() == [
        ("BXM", "modeled", BXM_RUN),
        ("PUT", "real", PUT_RUN),
    ]
    bxm, put = rows.iter_rows(named=True)
    assert (bxm["first_date"], bxm["last_date"], bxm["n_sessions"]) == (
        dt.date(2024, 1, 19),
        dt.date(2024, 2, 29),
        4,
    )
    assert bxm["has_published_history"] and not put["has_published_history"]
    assert bxm["replicated_return"] == pytest.approx(0.0306)
    assert bxm["return_difference"] == pytest.approx(0.0106)
    assert put["published_return"] is None and put["monthly_return_correlation"] is None


def test_replication_reads_doubles_from_decimal_levels(published_db: Path) -> None:
    """A DECIMAL level would plot 10^scale too large (FIELD_NOTES): the query casts it."""
    _with_benchmarks(published_db, level_type="decimal(18, 2)")

    detail = benchmarks.replication(published_db, "BXM", "modeled")

    assert detail.levels.schema["replicated_level"] == pl.Float64
    assert detail.levels["replicated_level"].to_list() == [1000.0, 1010.0, 1020.0, 1030.6]
    assert detail.years["period"].to_list() == ["2024", "all"]
    assert detail.cycles["cycle_no"].to_list() == [1, 2]


def test_replication_binds_its_parameters(benchmarks_db: Path) -> None:
    detail = benchmarks.replication(benchmarks_db, "BXM' or '1'='1", "modeled")

    assert detail.levels.is_empty() and detail.years.is_empty() and detail.cycles.is_empty()


def test_cycles_table_in_percentage_points(benchmarks_db: Path) -> None:
    cycles = benchmarks.replication(benchmarks_db, "BXM", "modeled").cycles

    table = benchmarks.cycles_table(cycles)

    assert table["Cycle"].to_list() == ["1", "2 (to date)"]
    # 0.008 -> 0.80 pp; 0.0024870186 -> 0.25 pp
    assert table["Difference (pp)"].to_list() == ["0.80", "0.25"]
    assert table[benchmarks.WITHIN_TARGET].to_list() == ["no", "yes"]
    assert table["Daily tracking error"].to_list() == ["n/a", "n/a"]


def test_levels_chart_draws_both_series_and_skips_missing_levels() -> None:
    levels = pl.DataFrame(
        {
            "quote_date": [dt.date(2024, 1, 19), dt.date(2024, 1, 22)],
            "replicated_level": [100.0, 101.0],
            "published_level": [None, 99.0],
        },
        schema_overrides={"published_level": pl.Float64},
    )

    spec = charts.benchmark_levels_chart(levels, "PUT").to_dict()

    assert spec["encoding"]["y"]["field"] == "level"
    assert spec["encoding"]["y"]["scale"]["zero"] is False
    assert spec["encoding"]["color"]["scale"]["domain"] == list(charts.SERIES.values())
    (values,) = spec["datasets"].values()
    assert sorted((row["series"], row["level"]) for row in values) == [
        ("Published (Cboe)", 99.0),
        ("Replicated (engine)", 100.0),
        ("Replicated (engine)", 101.0),
    ]
    with pytest.raises(ValueError, match="published_level"):
        charts.benchmark_levels_chart(levels.drop("published_level"), "PUT")


def test_page_shows_the_modeled_bxm_replication(benchmarks_db: Path) -> None:
    at = open_app_page("benchmarks.py")

    assert at.title[0].value == "Benchmarks"
    assert at.selectbox(key="benchmark_replication").value == ("BXM", "modeled")
    texts = _texts(at)
    assert any("Modeled chain · ssvi-1" in text for text in texts)  # the badge
    assert any("Quotes are MODELED (model ssvi-1)" in text for text in texts)
    overview, years, cycles = at.dataframe
    assert overview.value["Chain"].to_list() == ["MODELED chain ssvi-1", "real chain"]
    assert overview.value["Published history"].to_list() == ["loaded", "none (level 100 at start)"]
    assert years.value["Period"].to_list() == ["2024", "all"]
    assert cycles.value["Difference (pp)"].to_list() == ["0.80", "0.25"]
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert "MODELED chain" in json.dumps(spec["title"])
    rows = _chart_data(chart)
    assert rows.group_by("series").len().sort("series").rows() == [
        ("Published (Cboe)", 4),
        ("Replicated (engine)", 4),
    ]
    assert [m.value for m in at.metric] == ["3.06%", "2.00%", "n/a", "n/a"]
    assert not at.error
    assert not at.warning


def test_page_explains_a_benchmark_without_published_history(benchmarks_db: Path) -> None:
    at = open_app_page("benchmarks.py")

    at.selectbox(key="benchmark_replication").set_value(("PUT", "real")).run()

    assert not at.exception
    texts = _texts(at)
    assert any("No published PUT history is loaded" in text for text in texts)
    assert any("PUT_History.csv" in text for text in texts)
    assert not any("Modeled chain" in text for text in texts)
    rows = _chart_data(at.get("vega_lite_chart")[0])
    assert rows["series"].unique().to_list() == ["Replicated (engine)"]
    assert any("no roll cycle" in info.value for info in at.info)
    assert not at.error


def test_page_without_the_benchmark_marts_explains(published_db: Path) -> None:
    at = open_app_page("benchmarks.py")

    assert not at.error
    assert any("forecasts.rpt_benchmark_replication" in w.value for w in at.warning)
    assert not at.selectbox


def test_page_without_replications_explains(benchmarks_db: Path) -> None:
    con = duckdb.connect(str(benchmarks_db))
    con.execute("delete from forecasts.rpt_benchmark_replication")
    con.close()

    at = open_app_page("benchmarks.py")

    assert any("No benchmark replication" in info.value for info in at.info)
    assert not at.selectbox


# ---- deep link (app.links): the replication in the URL, SYNTHETIC warehouse -----------------------


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Benchmarks page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/benchmarks.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def test_the_url_follows_the_replication(benchmarks_db: Path) -> None:
    at = open_app_page("benchmarks.py")
    assert at.query_params == {"benchmark": "BXM", "chain_source": "modeled"}

    at.selectbox(key="benchmark_replication").set_value(("PUT", "real")).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {"benchmark": "PUT", "chain_source": "real"}


@pytest.mark.parametrize(
    "link",
    [
        {"benchmark": "PUT", "chain_source": "real"},
        {"benchmark": "put"},  # any case; alone: PUT's only replication
        {"chain_source": "REAL"},  # alone: the first real-chain replication
    ],
)
def test_a_link_opens_its_replication(benchmarks_db: Path, link: dict[str, str]) -> None:
    at = _linked_page(**link)

    assert not _notes(at) and not at.error
    assert at.selectbox(key="benchmark_replication").value == ("PUT", "real")
    assert any("No published PUT history is loaded" in text for text in _texts(at))
    assert at.query_params == {"benchmark": "PUT", "chain_source": "real"}


def test_bad_link_values_are_noted(benchmarks_db: Path) -> None:
    at = _linked_page(benchmark="VIX", chain_source="real")  # no VIX: the real chain's PUT

    (note,) = _notes(at)
    assert "`benchmark`" in note and "'VIX'" in note and "BXM, PUT" in note
    assert at.selectbox(key="benchmark_replication").value == ("PUT", "real")

    at = _linked_page(benchmark="BXM", chain_source="real")  # BXM is replicated on modeled only
    (note,) = _notes(at)
    assert "`chain_source`" in note and "'real'" in note and "chain source of BXM (modeled)" in note
    assert at.selectbox(key="benchmark_replication").value == ("BXM", "modeled")
    assert at.query_params == {"benchmark": "BXM", "chain_source": "modeled"}


@pytest.mark.slow
def test_page_renders_in_chromium(benchmarks_db: Path, tmp_path: Path) -> None:
    """The page in headless Debian Chromium: no error element, a chart drawn (a screenshot of
    some size); saved to ``$APP_SCREENSHOTS_DIR`` when set."""
    require_browser()  # fails in CI without Chromium, skips with the reason elsewhere
    from playwright.sync_api import sync_playwright

    from tests.app.browser import ERROR_SELECTOR, _wait_rendered, serve

    out = Path(os.environ.get("APP_SCREENSHOTS_DIR") or tmp_path) / "benchmarks_synthetic.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(benchmarks_db.parent) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2000})
            page.goto(f"{base}/benchmarks", wait_until="domcontentloaded")
            _wait_rendered(page, 90)
            # the chart mounts after the script run ends: wait for it, then for its drawing
            page.wait_for_selector(
                '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg',
                timeout=30_000,
            )
            page.wait_for_timeout(500)
            errors = [e.inner_text() for e in page.locator(ERROR_SELECTOR).all()]
            n_charts = page.locator('[data-testid="stVegaLiteChart"]').count()
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert n_charts == 1
    assert out.stat().st_size > 10_000
