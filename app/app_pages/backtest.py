"""Backtest page: the saved runs of the warehouse, and new runs from a form over the catalogue.

Two tabs:

- **Saved runs**: pick a run of ``backtest.runs``, and see it as :func:`app.run_views.show_run`
  draws a run (its chain, figures with their sample, charts, skipped entries, trades, legs and
  the config it ran as YAML, to download); **clone** it into the New run form. The pick is in
  the URL (``?run=<run_id>``, :mod:`app.links`): a link opens that run (a run id that is not
  saved is ignored with a note), and the address bar follows the picker.
- **New run**: the form of :mod:`app.run_form_widgets` (each strategy's own defaults, editable
  legs, only the fields that apply); **Run backtest** validates it
  (:func:`app.run_form.build_config`) and runs it read-only on the published warehouse
  (:func:`app.backtest_runner.run_on_published`) with a step-by-step status; the result shows
  the same views and the exact config it ran, and can be saved (build database under the
  pipeline lock, then publish: :func:`app.backtest_runner.save_run`) unless it opened no
  position.

Reads the published warehouse through :mod:`app.queries`, :mod:`app.backtest_runner` and
:mod:`app.run_form` (which read through :mod:`app.db`) only; a missing warehouse or missing
``backtest`` tables is explained on the page by :func:`app.page.run_page`.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app import backtest_runner as runner
from app import links, queries, run_form
from app import run_form_widgets as form_widgets
from app.config_picker import run_with_status, saved_run_labels
from app.db import missing_columns
from app.page import BUILD_HINT, Published, run_page
from app.run_views import RunView, show_run
from engine.config import ConfigError
from engine.io import MissingTableError
from warehouse.paths import WarehousePaths

OUTCOME_KEY = "backtest_outcome"  # the last new run (runner.RunOutcome), until replaced
NOTICE_KEY = "backtest_save_notice"  # a save's success message, shown once after the rerun
PENDING_KEY = "backtest_select_next"  # run id the saved-runs picker selects on the next run
RUN_PICKER_KEY = "saved_run"
RUN_PARAM = "run"  # the URL's query parameter of the saved run (?run=<run_id>)
TAB_KEY = "bt_tab"  # the tabs widget's key: the active tab's label (a clone switches to "New run")
TAB_GENERATION_KEY = "bt_tab_generation"  # bumped when a save switches the tab (see _tab_key)
LAST_TAB_KEY = "bt_tab_last"  # ... as the page was left (tabs lose their state on other pages)
SAVED_TAB, NEW_TAB = "Saved runs", "New run"


def _tab_key() -> str:
    """The tabs widget's key: :data:`TAB_KEY`, suffixed by the number of saves that switched
    the tab. A switch made in a callback (a clone) reaches the browser; one made on the rerun
    that follows a save did not: the browser kept "New run" as the widget's value and sent it
    back on the next click in Saved runs, which jumped to New run. A save therefore switches to
    a new widget (:func:`_open_saved_tab_after_save`), which the browser draws afresh."""
    generation = st.session_state.get(TAB_GENERATION_KEY, 0)
    return TAB_KEY if generation == 0 else f"{TAB_KEY}_{generation}"


def _open_saved_tab_after_save() -> None:
    st.session_state[TAB_GENERATION_KEY] = st.session_state.get(TAB_GENERATION_KEY, 0) + 1
    st.session_state[_tab_key()] = SAVED_TAB


# Results are cached per (database path, file version): a publish os.replace()s the file, which
# changes its inode and mtime and so invalidates the cache. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_backtest_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_backtest_run_detail(db: str, db_version: str, run_id: str) -> queries.RunDetail:
    return queries.run_detail(db, run_id)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run_extras(db: str, db_version: str, run_id: str) -> runner.RunExtras:
    return runner.saved_run_extras(db, run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_backtest_chains(db: str, db_version: str) -> pl.DataFrame:
    return queries.run_chains(db)


# ---- saved runs ---------------------------------------------------------------------------------


def _clone(run_id: str, config_json: str | None) -> None:
    """Callback: fill the New run form with a saved run's config and switch to it."""
    try:
        if not config_json:
            raise ConfigError(f"run {run_id} has no config_json")
        cfg = run_form.config_from_json(config_json)
    except ConfigError as exc:
        st.session_state[form_widgets.FORM_NOTICE_KEY] = ("error", f"Cannot clone {run_id}: {exc}")
        return
    form_widgets.seed(
        run_form.FormValues.from_config(cfg),
        run_form.resolved_mapping(cfg),
        f"saved run `{run_id}` (cloned)",
    )
    st.session_state[form_widgets.FORM_NOTICE_KEY] = (
        "info",
        f"Cloned `{run_id}` into the form: running it unchanged gives the same run id.",
    )
    st.session_state[_tab_key()] = NEW_TAB


def _saved_view(published: Published, run_id: str) -> RunView:
    detail = _cached_backtest_run_detail(*published.key, run_id)
    extras = _cached_run_extras(*published.key, run_id)
    config, error = None, None
    if detail.config_json:
        try:
            config = run_form.config_from_json(detail.config_json)
        except ConfigError as exc:
            error = str(exc)
    return RunView(
        run_id=run_id,
        detail=detail,
        metrics=extras.metrics,
        skipped=extras.skipped,
        config=config,
        config_error=error,
        chain_source=detail.chain_source,
        chain_model_version=detail.chain_model_version,
        key="saved",
    )


def _pick_saved_run(labels: dict[str, str]) -> str:
    """The saved-run picker, in step with the URL's ``?run=`` (:mod:`app.links`).

    In order: a run just saved is picked (:data:`PENDING_KEY`); a pick no longer offered (a
    deleted run, a republished warehouse) is forgotten; when the picker has no state (the page
    visit's first draw, or back from the New run tab: Streamlit drops an undrawn widget's
    state), the URL's run is picked, a run id that is not saved ignored with a note (the first
    run instead); the pick is written back to the URL, so it is also what the URL restores.
    """
    options = list(labels)
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending in labels:
        st.session_state[RUN_PICKER_KEY] = pending
    elif st.session_state.get(RUN_PICKER_KEY, options[0]) not in labels:
        del st.session_state[RUN_PICKER_KEY]
    links.seed_value(
        RUN_PICKER_KEY, RUN_PARAM, options[0], valid=labels.__contains__, what="saved run"
    )
    run_id = st.selectbox(
        "Run",
        options=options,
        format_func=labels.__getitem__,
        key=RUN_PICKER_KEY,
        help="Saved runs of backtest.runs, by run id. The address bar keeps the pick (?run=): "
        "copy it to share this run.",
    )
    links.write({RUN_PARAM: run_id})
    return run_id


def _saved_runs(published: Published, runs: pl.DataFrame) -> None:
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs. {BUILD_HINT}")
        return
    labels = saved_run_labels(runs, _cached_backtest_chains(*published.key))
    run_id = _pick_saved_run(labels)
    view = _saved_view(published, run_id)
    st.button(
        "Clone into the New run form",
        icon=":material/content_copy:",
        key="bt_clone",
        on_click=_clone,
        args=(run_id, view.detail.config_json),
        disabled=view.config is None,
        help="Fill the New run form with this run's config, to change and run it again.",
    )
    show_run(view)


# ---- new runs -----------------------------------------------------------------------------------


def _run(published: Published, values: run_form.FormValues, base: dict[str, Any]) -> None:
    """Validate, run with a step-by-step status, and keep the outcome in the session."""
    st.session_state.pop(OUTCOME_KEY, None)
    try:
        cfg = run_form.build_config(values, base)
    except ConfigError as exc:
        st.error(f"Invalid setting: {exc}", icon=":material/error:")
        return
    outcome = run_with_status(
        f"Backtesting {cfg.run_id}",
        runner.STEPS,
        lambda report: runner.run_on_published(cfg, published.path, progress=report),
        done=lambda outcome: (
            f"Ran {cfg.run_id} in {outcome.timings_s['total']:.2f} s "
            f"(load {outcome.timings_s['load']:.2f} s, run {outcome.timings_s['run']:.2f} s)"
        ),
        failures=[
            (
                (MissingTableError, ValueError),
                "The backtest could not run",
                "The backtest could not run: {exc}",
            )
        ],
    )
    if outcome is not None:
        st.session_state[OUTCOME_KEY] = outcome


def _save(outcome: runner.RunOutcome) -> None:
    try:
        with st.spinner(
            "Saving: writing to the build database, rebuilding the attribution models, "
            "then publishing"
        ):
            report = runner.save_run(outcome, WarehousePaths.from_env())
    except runner.WarehouseBusyError as exc:
        st.warning(str(exc), icon=":material/autorenew:")
    except runner.SaveError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        t = report.timings_s
        st.session_state[NOTICE_KEY] = (
            f"Saved `{report.run_id}` and published the warehouse in {t['total']:.1f} s "
            f"(write {t['write']:.2f} s, attribution models {t.get('reports', 0.0):.1f} s, "
            f"publish {t['publish']:.1f} s). It is now in `backtest.runs`, the Saved runs tab, "
            "Compare, Attribution and the SQL page."
        )
        st.session_state[PENDING_KEY] = report.run_id
        st.rerun()


def _show_outcome(outcome: runner.RunOutcome, saved_ids: set[str]) -> None:
    run_id = outcome.result.run_id
    t = outcome.timings_s
    st.subheader(f"Result: {run_id}")
    refusal = runner.save_refusal(outcome)
    if refusal is not None:
        st.warning(
            f"{refusal} Not offered for saving: a run without a position adds a flat line to "
            "Compare and nothing to attribute.",
            icon=":material/block:",
        )
    else:
        st.caption(
            f"Computed in {t['total']:.2f} s on the published warehouse (not saved yet). "
            + (
                "A saved run has this run_id (same strategy and configuration): saving replaces it."
                if run_id in saved_ids
                else "Save it to see it in Saved runs, the SQL page and Compare."
            )
        )
        if st.button("Save run to the warehouse", key="bt_save", icon=":material/save:"):
            _save(outcome)
    runs = outcome.result.runs
    chain = runs.row(0, named=True) if runs.height else {}
    show_run(
        RunView(
            run_id=run_id,
            detail=runner.detail_of(outcome.result),
            metrics=outcome.result.metrics.drop("run_id"),
            skipped=outcome.result.skipped_entries,
            config=outcome.config,
            config_error=None,
            chain_source=chain.get("chain_source", outcome.config.chain_source),
            chain_model_version=chain.get("chain_model_version"),
            key="new",
        )
    )


def _new_run(published: Published, saved_ids: set[str]) -> None:
    try:
        values, base = form_widgets.draw_form(published)
    except ConfigError as exc:
        st.error(f"The strategy's default config is invalid: {exc}")
        return
    if st.button("Run backtest", type="primary", icon=":material/play_arrow:", key="bt_submit"):
        _run(published, values, base)
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome is not None:
        _show_outcome(outcome, saved_ids)


#: What the Saved runs tab reads, checked there: a warehouse without any saved run can still
#: run its first one in the New run tab.
SAVED_RUNS_REQUIRED = {
    f"backtest.{table}": columns for table, columns in queries.EXPECTED_COLUMNS.items()
}


def body(published: Published) -> None:
    """Draw the page for the published warehouse."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    problems = missing_columns(published.path, SAVED_RUNS_REQUIRED)
    runs = _cached_backtest_runs(*published.key) if not problems else pl.DataFrame({"run_id": []})
    if PENDING_KEY in st.session_state:  # a save just published: show the saved run
        _open_saved_tab_after_save()
    elif _tab_key() not in st.session_state:  # back from another page: the tab it was left on
        st.session_state[_tab_key()] = st.session_state.get(LAST_TAB_KEY, SAVED_TAB)
    # Only the open tab runs (a long saved run's charts, or the form's widgets, are not drawn
    # behind the other tab); switching tabs reruns the page.
    saved, new = st.tabs([SAVED_TAB, NEW_TAB], key=_tab_key(), on_change="rerun")
    if saved.open:
        with saved:
            _saved_tab(published, runs, problems)
    if new.open:
        with new:
            # the engine names any input table it lacks when the form is run (MissingTableError)
            _new_run(published, set(runs["run_id"].to_list()))
    st.session_state[LAST_TAB_KEY] = st.session_state[_tab_key()]


def _saved_tab(
    published: Published, runs: pl.DataFrame, problems: dict[str, tuple[str, ...]]
) -> None:
    if problems and all(
        len(lacking) == len(SAVED_RUNS_REQUIRED[name]) for name, lacking in problems.items()
    ):
        st.info(
            "No backtest has been saved in this warehouse yet: run one in the New run tab "
            "and save it, or run `make backtest`."
        )
    elif problems:
        details = "; ".join(f"`{name}` lacks {list(cols)}" for name, cols in problems.items())
        st.error(f"The backtest tables lack columns this page reads: {details}. {BUILD_HINT}")
    else:
        _saved_runs(published, runs)


run_page("Backtest", None, body)
