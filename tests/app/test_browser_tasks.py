"""A researcher's day in a real browser (product issue 19, "Tests"): Debian Chromium driven by
Playwright builds a 20-delta bull put spread in the Backtest page's New run form (every leg's
Value shown whole), runs it on the real 2019 SPX chain, saves it, opens one of its trades from
the saved run's trade link on the Trades page, finds it on Compare and names it there (every run
picker then shows the name, in the same session and after a reload).

It runs on a throwaway copy of the real published warehouse (:func:`copy_warehouse`: its inputs
and ``backtest`` tables, the real chain only), which the app's Save and Compare's name write into
and publish. The Trades page reads saved runs only, so the run is saved before its drill-down.

Each task is timed from its click to its result drawn with the app idle
(:func:`tests.app.browser.time_until`); the times are printed (``pytest -s``), never asserted
(timing targets live in ``bench/``). A screenshot of each step goes to the test's tmp dir, and to
``$SCREENSHOTS_DIR`` when set. Without Chromium the test skips, or fails under CI
(:func:`tests.app.browser.require_browser`).

Streamlit keeps a keyed picker's shown label when only its ``format_func`` output changes
(streamlit/streamlit#13788): Compare re-sets its run pickers after a rename
(app/app_pages/compare.py ``_relabel``), and this test checks that they show the new name at once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from tests.app.browser import (
    chromium_context,
    copy_screenshots,
    full_screenshot,
    page_errors,
    require_browser,
    serve,
    time_until,
    wait_rendered,
)
from tests.app.conftest import SYNTHETIC_INVOCATION, record_complete_run

pytestmark = pytest.mark.slow

STRATEGY = "bull_put_spread"
SHORT_PUT_DELTA = 0.20  # leg 1; leg 2 stays the catalogue's long put 2 % of spot below leg 1
RUN_NAME = "20-delta bull put spread (browser test)"
TASK_TIMEOUT_S = 180  # a click's result; a save rebuilds the attribution models (dbt) and publishes
PAGE_TIMEOUT_S = 120

#: The tables a copy keeps: what the engine reads for a real-chain run, the ``backtest`` tables
#: the pages read, what the attribution models (``tag:forecasts``, rebuilt by a save) read, and
#: the baselines Compare draws (underlying closes, dividends, benchmark levels).
_COPIED_TABLES_SQL = """
select table_schema, table_name
from information_schema.tables
where table_catalog = 'src' and (
    table_schema = 'backtest'
    or (table_schema = 'marts' and (
        table_name in ('fct_option_features', 'fct_option_chain', 'fct_underlying_daily',
                       'fct_option_targets', 'fct_underlying_targets', 'fct_dividends',
                       'fct_benchmark_index_levels')
        or table_name like 'fct_option_%universe%'))
    or (table_schema = 'ml' and table_name <> 'prediction_contributions')
    or (table_schema = 'forecasts' and table_name = 'fct_strategy_signals'))
"""


def copy_warehouse(source: Path, root: Path) -> Path:
    """A writable warehouse at ``root`` made from the published warehouse of ``source`` (opened
    read-only): the tables of :data:`_COPIED_TABLES_SQL`, the marts' real chain only (the modeled
    one would make the copy ~4 GB), as published file and build database; a SYNTHETIC green dbt
    ``target/run_results.json`` and the run manifest of a complete pipeline run recording it, as
    a save's publish checks (app/backtest_runner.py ``save_run``). About 170 MB, a few seconds.
    """
    (root / "build").mkdir(parents=True)
    con = duckdb.connect(str(root / "options.duckdb"))
    try:
        con.execute(f"attach '{source / 'options.duckdb'}' as src (read_only)")
        for schema, table in con.sql(_COPIED_TABLES_SQL).fetchall():
            con.execute(f"create schema if not exists {schema}")
            columns = con.execute(
                "select column_name from information_schema.columns where table_catalog = 'src' "
                "and table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
            real_only = (
                " where chain_source = 'real'"
                if schema == "marts" and ("chain_source",) in columns
                else ""
            )
            con.execute(
                f"create table {schema}.{table} as select * from src.{schema}.{table}{real_only}"
            )
        con.execute("detach src")
        con.execute("checkpoint")
    finally:
        con.close()
    shutil.copy(root / "options.duckdb", root / "build" / "build.duckdb")
    target = root / "target"
    target.mkdir()
    # SYNTHETIC: the run results of a green `dbt build` of one model
    results = [{"unique_id": "model.options.synthetic", "status": "success"}]
    metadata = {"invocation_id": SYNTHETIC_INVOCATION}
    (target / "run_results.json").write_text(
        json.dumps({"metadata": metadata, "args": {"which": "build"}, "results": results})
    )
    record_complete_run(root)
    return root


def _published_run(root: Path, run_id: str) -> tuple[int, str | None, dict]:
    """(trades of ``run_id``, its name, its config) in the copy's published file."""
    con = duckdb.connect(str(root / "options.duckdb"), read_only=True)
    try:
        (n_trades,) = con.execute(
            "select count(*) from backtest.trades where run_id = ?", [run_id]
        ).fetchone()
        # backtest.run_labels exists once a run was named (app/run_admin.py)
        has_labels = con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'backtest' and table_name = 'run_labels'"
        ).fetchone()[0]
        names = (
            con.execute(
                "select name from backtest.run_labels where run_id = ?", [run_id]
            ).fetchall()
            if has_labels
            else []
        )
        configs = con.execute(
            "select config_json from backtest.runs where run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    assert len(configs) == 1, f"{run_id} is not once in backtest.runs of {root}"
    return n_trades, names[0][0] if names else None, json.loads(configs[0][0])


def _leg(leg: dict) -> tuple:
    return leg["leg_type"], leg["side"], leg["rule"], leg["value"], leg["of"]


def _pick(page, key: str, option: str) -> None:
    """Choose ``option`` (its exact text) in the selectbox of widget key ``key`` (a combobox:
    typing filters its options)."""
    box = page.locator(f".st-key-{key} [role=combobox]")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def _options(page, key: str):
    """Open the selectbox of widget key ``key``; its options' locator, once one is visible. A
    click does not always open the list (a rerun may still be settling): ArrowDown then does."""
    box = page.locator(f".st-key-{key} [role=combobox]")
    box.click()
    if box.get_attribute("aria-expanded") != "true":
        box.press("ArrowDown")
    options = page.get_by_role("option")
    options.first.wait_for()
    return options


def _shown(page, key: str) -> str:
    """What the selectbox of widget key ``key`` shows (its combobox's text)."""
    return page.locator(f".st-key-{key} [role=combobox]").input_value()


def _active_tab(page) -> str:
    return page.locator("[role=tab][aria-selected=true]").inner_text()


def _text(page, key: str) -> str:
    return page.locator(f".st-key-{key}").inner_text()


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Skip (fail under CI) before the real warehouse is built when there is no browser."""
    require_browser()


@pytest.fixture
def task_warehouse(chromium_ready: None, real_warehouse: Path, tmp_path: Path) -> Path:
    """A throwaway copy of the real warehouse (:func:`copy_warehouse`) for the app to save into."""
    return copy_warehouse(real_warehouse, tmp_path / "warehouse")


def test_a_researcher_runs_saves_drills_into_and_names_a_20_delta_bull_put_spread(
    task_warehouse: Path, tmp_path: Path
) -> None:
    out = tmp_path / "screenshots"
    shots: list[Path] = []
    timings: dict[str, float] = {}
    run_id = "(not run)"
    env = {
        "DBT_TARGET_PATH": str(task_warehouse / "target"),
        "DBT_LOG_PATH": str(task_warehouse / "logs"),
    }

    def shot(page, name: str) -> None:
        assert page_errors(page) == (), f"{name}: {page_errors(page)}"
        shots.append(full_screenshot(page, out / f"{len(shots) + 1:02d}_{name}.png"))

    try:
        with serve(task_warehouse, env=env) as base, chromium_context() as context:
            page = context.new_page()
            page.goto(f"{base}/backtest", wait_until="domcontentloaded")
            wait_rendered(page, PAGE_TIMEOUT_S)

            # 1. the New run form: the catalogue's bull put spread, leg 1 moved to delta 0.20
            timings["open the New run tab"] = time_until(
                page,
                lambda: page.get_by_role("tab", name="New run").click(),
                page.locator(".st-key-bt_submit button"),
                "the New run form",
                PAGE_TIMEOUT_S,
            )
            timings["pick the strategy (form re-seeded)"] = time_until(
                page,
                lambda: _pick(page, "bt_strategy", STRATEGY),
                page.locator(".st-key-bt_strategy [role=combobox][value='bull_put_spread']"),
                "the bull put spread's form",
                PAGE_TIMEOUT_S,
            )
            value = page.locator(".st-key-bt_leg1_value input")
            value.fill(f"{SHORT_PUT_DELTA:.2f}")
            value.press("Enter")
            wait_rendered(page, PAGE_TIMEOUT_S)
            legs = {
                part: (_shown(page, f"bt_leg1_{part}"), _shown(page, f"bt_leg2_{part}"))
                for part in ("type", "side", "rule")
            }
            assert legs["type"] == ("put", "put")
            assert legs["side"] == ("short", "long")
            assert legs["rule"] == ("delta: target |Δ|", "% of spot from leg")
            assert value.input_value() == "0.20"
            assert page.locator(".st-key-bt_leg2_value input").input_value() == "-2.00"
            assert page.locator(".st-key-bt_leg2_of input").input_value() == "1"
            # each Value field shows its number whole (the text fits its box, 1440 px window)
            for i in (1, 2):
                box = page.locator(f".st-key-bt_leg{i}_value input")
                fits = box.evaluate("e => [e.scrollWidth <= e.clientWidth, e.clientWidth]")
                assert fits[0], f"leg {i}'s Value is cut: {fits[1]} px for {box.input_value()!r}"
            shot(page, "backtest_form_20_delta_bull_put")

            # 2. run it: a result with trades, under the run id the engine gives this config
            timings["run the backtest"] = time_until(
                page,
                lambda: page.locator(".st-key-bt_submit button").click(),
                page.get_by_role("heading", name=re.compile(r"^Trades \(\d+\)")),
                "the backtest's result",
                TASK_TIMEOUT_S,
            )
            result = page.get_by_role("heading", name=re.compile(r"^Result: ")).inner_text()
            run_id = result.strip().removeprefix("Result: ")
            assert re.fullmatch(rf"{STRATEGY}-[0-9a-f]{{12}}", run_id), result
            trades = page.get_by_role("heading", name=re.compile(r"^Trades \(\d+\)")).inner_text()
            n_trades = int(re.search(r"\((\d+)\)", trades).group(1))
            assert n_trades > 0, trades
            shot(page, "backtest_result")

            # 3. save it: published in the copy, shown in the Saved runs tab
            timings["save the run (write, attribution models, publish)"] = time_until(
                page,
                lambda: page.locator(".st-key-bt_save button").click(),
                page.locator('[data-testid="stAlertContentSuccess"]', has_text="Saved"),
                "the save's notice",
                TASK_TIMEOUT_S,
            )
            assert _shown(page, "saved_run").startswith(run_id)
            saved_trades, saved_name, config = _published_run(task_warehouse, run_id)
            assert (saved_trades, saved_name) == (n_trades, None)
            # what ran is what the form showed: the 20-delta short put, the long put 2 % of spot
            # below it, and no holding period slipped in (issue 19's silent 5-day hold)
            assert config["strategy"]["name"] == STRATEGY
            assert [_leg(leg) for leg in config["strategy"]["legs"]] == [
                ("put", "short", "delta", SHORT_PUT_DELTA, None),
                ("put", "long", "width_pct", -2.0, 1),
            ]
            assert config["exits"]["holding_days"] is None
            shot(page, "backtest_saved")
            # the next clicks in Saved runs stay there (the first one used to jump to New run:
            # the browser kept the tabs' pre-save value, app/app_pages/backtest.py _tab_key)
            saved_label = _shown(page, "saved_run")
            options = _options(page, "saved_run")
            options.nth(0 if options.nth(0).inner_text() != saved_label else 1).click()
            wait_rendered(page, PAGE_TIMEOUT_S)
            assert _active_tab(page) == "Saved runs"
            _pick(page, "saved_run", saved_label)
            wait_rendered(page, PAGE_TIMEOUT_S)
            assert _active_tab(page) == "Saved runs"
            assert _shown(page, "saved_run") == saved_label

            # 4. from the saved run, one trade's drill-down on the Trades page: every row of the
            # trades table links to it (a new tab), and the trade picker's link opens it here
            link_key = f"bt_trade_link_saved_{run_id}"
            options = _options(page, link_key)
            # the second trade: a pick that changes the link
            option = options.nth(min(1, options.count() - 1))
            trade_id = re.search(r"· trade (\d+) ·", option.inner_text()).group(1)
            option.click()
            wait_rendered(page, PAGE_TIMEOUT_S)
            shot(page, "backtest_saved_trade_link")
            link = page.get_by_role("link", name=f"Open trade {trade_id} on the Trades page")
            timings["open a trade's drill-down from the saved run"] = time_until(
                page,
                link.click,
                page.get_by_role("heading", name=f"Trade {trade_id}", exact=True),
                f"trade {trade_id}'s drill-down",
                PAGE_TIMEOUT_S,
            )
            query = parse_qs(urlparse(page.url).query)
            assert urlparse(page.url).path.endswith("/trades"), page.url
            assert (query["run"], query["trade"]) == ([run_id], [trade_id]), page.url
            assert _shown(page, "trades_run").endswith(run_id)
            for part in ("P&L path", "Payoff", "Greeks P&L attribution by session"):
                assert page.get_by_text(part, exact=True).count() == 1, part
            assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 4
            shot(page, f"trades_drill_down_trade_{trade_id}")

            # 5. Compare: the saved run is among the newest runs picked; name it there
            nav = page.locator('[data-testid="stSidebarNav"]')
            timings["open the Compare page"] = time_until(
                page,
                lambda: nav.get_by_role("link", name="Compare", exact=True).click(),
                page.locator(".st-key-compare_manage_run"),
                "the Compare page",
                PAGE_TIMEOUT_S,
            )
            short_name = f"{STRATEGY} {run_id.rsplit('-', 1)[1][:6]}"
            assert short_name in _text(page, "compare_runs")
            assert _shown(page, "compare_manage_run") == short_name
            shot(page, "compare_with_the_run")
            name = page.locator(".st-key-compare_label_name input")
            name.fill(RUN_NAME)
            name.press("Enter")
            wait_rendered(page, PAGE_TIMEOUT_S)
            timings["name the run (write, publish)"] = time_until(
                page,
                lambda: page.locator(".st-key-bt_compare_save_label button").click(),
                page.locator('[data-testid="stAlertContentSuccess"]', has_text="Named"),
                "the name's notice",
                TASK_TIMEOUT_S,
            )
            assert _published_run(task_warehouse, run_id)[:2] == (n_trades, RUN_NAME)
            # the config diff (run A: the newest) and every run picker name it at once
            assert page.get_by_role("columnheader", name=f"A: {RUN_NAME}").count() == 1
            shown = {
                "compare_runs": _text(page, "compare_runs"),
                "compare_diff_left": _shown(page, "compare_diff_left"),
                "compare_manage_run": _shown(page, "compare_manage_run"),
            }
            stale = {key: text for key, text in shown.items() if RUN_NAME not in text}
            assert not stale, f"after naming, these pickers show the old label: {stale}"
            shot(page, "compare_named")
            # the address keeps the selection: reopened from it, every picker shows the name
            timings["reopen Compare from its address"] = time_until(
                page,
                page.reload,
                page.locator(f".st-key-compare_manage_run [role=combobox][value='{RUN_NAME}']"),
                "the name after a reload",
                PAGE_TIMEOUT_S,
            )
            assert RUN_NAME in _text(page, "compare_runs")
            shot(page, "compare_named_reopened")
    finally:
        copy_screenshots(shots, os.environ.get("SCREENSHOTS_DIR"))
        print(f"\n20-delta bull put spread {run_id}, click to result in Chromium:")
        for task, seconds in timings.items():
            print(f"  {task:<52} {seconds:6.2f} s")
        for path in shots:
            print(f"  screenshot {path}")
    assert len(shots) == 8
