"""Compare page: saved backtest runs side by side, against baselines, and their management.

- **Runs**: a multiselect of ``backtest.runs`` (newest first; default: the first
  :data:`DEFAULT_RUNS`; at most :data:`~app.charts.compare.MAX_RUNS`), each shown by the name the
  user gave it (else its strategy and short hash), its underlying, period, chain and tags.
- **Baselines** over the same sessions (:mod:`app.queries.compare`): buy and hold of the runs'
  underlying (total return where the warehouse has its dividends, else price return, said which)
  and the Cboe benchmark indices, published and replicated, where they exist.
- Cumulative returns and drawdowns overlaid (runs solid in distinct hues, baselines dashed), and
  a metrics table with one column per run and baseline, sessions included.
- **Config diff** of two runs (the ``config_json`` keys that differ, side by side).
- **Manage a saved run**: name and tags, export (one ZIP: config YAML, trades, legs, equity and
  metrics as CSV and Parquet), delete (after typing its run id). Names, tags and deletes go
  through the locked build-database-then-publish path of a save (:mod:`app.run_admin`).

The selection (``runs``, ``baselines``) lives in the URL (:mod:`app.links`), so a link reopens
it. Every run or baseline on the modeled chain carries the "Modeled chain" badge and caption.
Reads the published warehouse through :mod:`app.queries` and :mod:`app.queries.compare` only.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

import app.queries as backtest_queries
from app import export, links, run_admin
from app.charts import compare as compare_charts
from app.page import BUILD_HINT, Published, run_page
from app.queries import compare as queries
from engine.metrics import MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES
from warehouse.paths import WarehousePaths

DEFAULT_RUNS = 5  # runs selected when the page opens without a link
RUNS_KEY = "compare_runs"
BASELINES_KEY = "compare_baselines"
MANAGE_KEY = "compare_manage_run"
NAME_KEY = "compare_label_name"
TAGS_KEY = "compare_label_tags"
CONFIRM_KEY = "compare_delete_confirm"
NOTICE_KEY = "compare_notice"  # a change's success message, shown once after the rerun
PENDING_KEY = "compare_pending_state"  # widget state to set before the widgets of the next run
DIFF_LEFT_KEY = "compare_diff_left"
DIFF_RIGHT_KEY = "compare_diff_right"
LABELS_KEY = "compare_labels_drawn"  # the run pickers' labels as last drawn (see _relabel)
#: The pickers whose option labels are run names (re-set by :func:`_relabel` on a rename).
RUN_PICKER_KEYS = (RUNS_KEY, DIFF_LEFT_KEY, DIFF_RIGHT_KEY, MANAGE_KEY)

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = {
    f"backtest.{table}": columns for table, columns in queries.EXPECTED_COLUMNS.items()
}


# st.cache_data keys a function by its name and source, not its page: a loader named and written
# like another page's (``_cached_runs``: ``return queries.list_runs(db)`` on the Backtest page)
# shared that page's cache and got its frame. Hence the ``_compare_`` prefix.
@st.cache_data(show_spinner=False, max_entries=32)
def _compare_cached_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_cached_comparison(
    db: str, db_version: str, run_ids: tuple[str, ...]
) -> queries.Comparison:
    return queries.compare_runs(db, run_ids)


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_cached_baseline_options(
    db: str, db_version: str, underlyings: tuple[str, ...]
) -> list[queries.Baseline]:
    return queries.baseline_options(db, underlyings)


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_cached_baselines(
    db: str,
    db_version: str,
    run_ids: tuple[str, ...],
    underlying_of: tuple[tuple[str, str], ...],
    chosen: tuple[queries.Baseline, ...],
) -> queries.Baselines:
    sessions = queries.sessions_of(_compare_cached_comparison(db, db_version, run_ids).equity)
    windows = queries.run_windows(sessions, underlying_of)
    if not windows:
        return queries.compute_baselines([], chosen, queries.BaselineInputs(*[pl.DataFrame()] * 4))
    first = min(days[0] for days, _ in windows)
    last = max(days[-1] for days, _ in windows)
    return queries.compute_baselines(
        windows, chosen, queries.baseline_inputs(db, chosen, first, last)
    )


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_cached_configs(
    db: str, db_version: str, run_ids: tuple[str, ...]
) -> dict[str, str | None]:
    return queries.run_configs(db, run_ids)


def _archive(db: str, db_version: str, run_id: str, name: str | None) -> bytes:
    """The export of ``run_id`` (built when the download button is clicked)."""
    return export.run_archive(
        queries.run_export(db, run_id), name=name, published_version=db_version
    )


def _apply_pending() -> None:
    """Set the widget state a change asked for (before any widget of this run exists)."""
    for key, value in st.session_state.pop(PENDING_KEY, {}).items():
        if value is None:
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = value


def _relabel(runs: pl.DataFrame, names: dict[str, str]) -> None:
    """Make the run pickers show the runs' current labels after a name or tags changed.

    A keyed selectbox or multiselect whose options stay the same while their ``format_func``
    labels change keeps showing the old label in the browser (streamlit/streamlit#13788, open
    in 1.67): its value travels as the label, and the frontend adopts a new one only when
    the widget's state is set through ``st.session_state`` before the widget is drawn. So when
    the labels differ from those of the previous rerun (a rename or retag here, or in another
    session, then published), every run picker that has state gets its own value (run ids,
    unchanged) written back; a value that is no longer offered (a deleted run) is dropped and
    re-seeded by its picker. Call before any picker is drawn.
    """
    labels = {
        row["run_id"]: (names[row["run_id"]], queries.run_option_label(row, names[row["run_id"]]))
        for row in runs.iter_rows(named=True)
    }
    drawn = st.session_state.get(LABELS_KEY)
    st.session_state[LABELS_KEY] = labels
    if drawn is None or drawn == labels:
        return
    for key in RUN_PICKER_KEYS:
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        if isinstance(value, list):
            st.session_state[key] = [run_id for run_id in value if run_id in labels]
        elif value in labels:
            st.session_state[key] = value
        else:
            del st.session_state[key]


def _modeled_notice(runs: pl.DataFrame, chosen: list[str], modeled_baselines: list[str]) -> None:
    modeled = runs.filter(pl.col("run_id").is_in(chosen) & (pl.col("chain_source") == "modeled"))
    if not modeled.height and not modeled_baselines:
        return
    versions = sorted({v or "model unknown" for v in modeled["chain_model_version"]})
    if modeled_baselines and not versions:
        versions = ["model of the replication"]
    st.badge(f"Modeled chain · {', '.join(versions)}", icon=":material/science:", color="orange")
    named = list(modeled["run_id"]) + modeled_baselines
    st.caption(
        f"{', '.join(named)}: "
        + backtest_queries.MODELED_CHAIN_NOTE.format(version=f"model {', '.join(versions)}")
        + " Compare them with real-chain runs as model against market, not like for like."
    )


def _pick_runs(runs: pl.DataFrame, names: dict[str, str]) -> list[str]:
    options = runs["run_id"].to_list()
    by_id = {row["run_id"]: row for row in runs.iter_rows(named=True)}
    links.keep_only(RUNS_KEY, options)
    links.seed_list(
        RUNS_KEY,
        "runs",
        options[:DEFAULT_RUNS],
        allowed=options,
        what="saved run",
        max_values=compare_charts.MAX_RUNS,
    )
    chosen = st.multiselect(
        "Runs",
        options,
        format_func=lambda run_id: queries.run_option_label(by_id[run_id], names[run_id]),
        key=RUNS_KEY,
        max_selections=compare_charts.MAX_RUNS,
        help="Saved runs of backtest.runs, newest first; name them below. Save a new one from "
        "the Backtest page. The address bar keeps this selection: copy it to share the view.",
    )
    links.write({"runs": chosen})
    return chosen


def _pick_baselines(
    published: Published, runs: pl.DataFrame, chosen: list[str]
) -> list[queries.Baseline]:
    underlyings = sorted(set(runs.filter(pl.col("run_id").is_in(chosen))["underlying_symbol"]))
    options = _compare_cached_baseline_options(*published.key, tuple(underlyings))
    by_key = {b.key: b for b in options}
    keys = list(by_key)
    default = [b.key for b in options if b.kind == "hold"]
    links.keep_only(BASELINES_KEY, keys)
    links.seed_list(BASELINES_KEY, "baselines", default, allowed=keys, what="baseline")
    keys_chosen = st.multiselect(
        "Baselines",
        keys,
        format_func=lambda key: by_key[key].label,
        key=BASELINES_KEY,
        help="Drawn over each run's own sessions: buy and hold of its underlying "
        "(marts.fct_underlying_daily closes, dividends of marts.fct_dividends reinvested where "
        "the warehouse has them), and the Cboe benchmark indices: published levels and the "
        "engine's replications of their rules (forecasts.rpt_benchmark_replication).",
    )
    links.write({"baselines": keys_chosen})
    return [by_key[key] for key in keys_chosen]


def _charts(
    comparison: queries.Comparison,
    baselines: queries.Baselines,
    chosen: list[str],
    names: dict[str, str],
) -> None:
    if comparison.equity.is_empty():
        st.warning("The chosen runs have no rows in `backtest.equity_daily`.")
        return
    shown = [run_id for run_id in chosen if run_id in set(comparison.equity["run_id"])]
    runs_paths = comparison.equity.filter(pl.col("run_id").is_in(shown)).select(
        pl.col("run_id").replace_strict(names).alias("series"),
        "quote_date",
        "cumulative_return",
        "drawdown",
    )
    series_runs = [names[run_id] for run_id in shown]
    series_baselines = baselines.paths["series"].unique(maintain_order=True).to_list()
    paths = pl.concat([runs_paths, baselines.paths.select(runs_paths.columns)])
    st.altair_chart(
        compare_charts.compare_equity_chart(paths, series_runs, series_baselines),
        width="stretch",
    )
    st.caption(
        "Cumulative return of each run and baseline from its own start: the product of "
        "(1 + daily return) so far, less one; its last point is the total return. Runs are "
        "solid, baselines dashed; runs over different periods share the date axis, and each "
        "baseline is drawn over the sessions of the runs of its period."
    )
    st.altair_chart(
        compare_charts.compare_drawdown_chart(paths, series_runs, series_baselines),
        width="stretch",
    )
    for note in baselines.notes:
        st.caption(note)


def _metrics(
    comparison: queries.Comparison,
    baselines: queries.Baselines,
    runs: pl.DataFrame,
    names: dict[str, str],
    chosen: list[str],
) -> None:
    st.subheader("Metrics")
    if comparison.metrics.is_empty():
        st.warning("The chosen runs have no rows in `backtest.metrics`.")
        return
    metrics = comparison.metrics.join(
        runs.select("run_id", "chain_source", "chain_model_version"), on="run_id", how="left"
    )
    order = {run_id: i for i, run_id in enumerate(chosen)}  # the picker's order
    metrics = metrics.sort(pl.col("run_id").replace_strict(order, default=len(order)))
    table = queries.side_by_side(
        pl.concat([metrics, baselines.metrics], how="diagonal_relaxed"), names
    )
    # a static table: with several runs and baselines a dataframe scrolled sideways and cut
    # the last columns (issue 19); here every value shows, long ones wrapping
    st.table(table, hide_index=True)
    st.caption(
        "Returns, CAGR, volatility, drawdown and win rate in percent; Sharpe, Sortino and "
        "Calmar annualised (252 trading days, risk-free rate 0) over the Sessions row's "
        "sessions; the Sample row says when there are too few for them to mean much (under "
        f"{MIN_MEANINGFUL_SESSIONS} sessions or {MIN_MEANINGFUL_TRADES} closed trades). "
        "Baselines have no trades; n/a where a metric is undefined (e.g. no trades)."
    )


def _config_diff(
    published: Published, runs: pl.DataFrame, chosen: list[str], names: dict[str, str]
) -> None:
    st.subheader("Config diff")
    options = runs["run_id"].to_list()
    if len(options) < 2:
        st.info("A config diff needs two saved runs.")
        return
    defaults = (chosen + [r for r in options if r not in chosen])[:2]
    left_col, right_col, all_col = st.columns([3, 3, 1], vertical_alignment="bottom")
    # seeded through the session state, not ``index``, so _relabel can re-set them
    for key, default in ((DIFF_LEFT_KEY, defaults[0]), (DIFF_RIGHT_KEY, defaults[1])):
        if st.session_state.get(key, default) not in names:
            del st.session_state[key]
        links.seed_widget(key, default)
    with left_col:
        left = st.selectbox("Run A", options, format_func=names.__getitem__, key=DIFF_LEFT_KEY)
    with right_col:
        right = st.selectbox("Run B", options, format_func=names.__getitem__, key=DIFF_RIGHT_KEY)
    with all_col:
        all_keys = st.toggle(
            "Every key", key="compare_diff_all", help="Show the keys that are the same too."
        )
    if left == right:
        st.info("Pick two different runs.")
        return
    configs = _compare_cached_configs(*published.key, (left, right))
    a, b = f"A: {names[left]}", f"B: {names[right]}"
    try:
        diff = queries.config_diff(
            configs.get(left), configs.get(right), all_keys=all_keys, left=a, right=b
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    n_differ = int(diff["differs"].sum()) if all_keys else diff.height
    if diff.is_empty():
        st.success("The two runs have the same config (their data or engine version differs).")
        return
    st.caption(
        f"{n_differ} key(s) differ. Values are JSON (null: not set, {queries.ABSENT}: the "
        "key is not in that run's config); legs are numbered from 1."
    )
    # a static table: long JSON values wrap instead of being cut
    st.table(diff if all_keys else diff.drop("differs"), hide_index=True)


def _change(action: str, call, pending: dict) -> None:
    """Run a change of :mod:`app.run_admin`, show its refusal, or rerun with a notice."""
    try:
        with st.spinner(
            f"{action}: writing to the build database"
            + (", rebuilding the attribution models" if action == "Deleting" else "")
            + ", then publishing"
        ):
            report = call()
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
    except run_admin.WarehouseBusyError as exc:
        st.warning(str(exc), icon=":material/autorenew:")
    except run_admin.AdminError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        t = report.timings_s
        done = "Named" if report.action == "label" else "Deleted"
        st.session_state[NOTICE_KEY] = (
            f"{done} `{report.run_id}` and published the warehouse in {t['total']:.1f} s "
            f"(write {t['write']:.2f} s"
            + (f", attribution models {t['reports']:.1f} s" if "reports" in t else "")
            + f", publish {t['publish']:.1f} s)."
        )
        st.session_state[PENDING_KEY] = pending
        st.rerun()


def _label_form(run: dict, all_tags: list[str]) -> None:
    links.seed_widget(NAME_KEY, run["name"] or "")
    links.seed_widget(TAGS_KEY, list(run["tags"] or []))
    name = st.text_input(
        "Name",
        key=NAME_KEY,
        max_chars=run_admin.MAX_NAME_CHARS,
        placeholder=f"{run['strategy']} (unnamed)",
        help="Shown instead of the run id on this page. Empty name and no tags: the label is "
        "removed.",
    )
    tags = st.multiselect(
        "Tags",
        sorted(set(all_tags) | set(st.session_state.get(TAGS_KEY) or [])),
        key=TAGS_KEY,
        accept_new_options=True,
        max_selections=run_admin.MAX_TAGS,
        help="Pick existing tags or type a new one (letters, digits, _ . + - /).",
    )
    if st.button("Save name and tags", key="bt_compare_save_label", icon=":material/label:"):
        _change(
            "Saving the name",
            lambda: run_admin.set_run_label(WarehousePaths.from_env(), run["run_id"], name, tags),
            {},
        )


def _export(published: Published, run: dict, names: dict[str, str]) -> None:
    run_id = run["run_id"]
    st.download_button(
        "Download the run (ZIP)",
        data=lambda: _archive(*published.key, run_id, run["name"]),
        file_name=export.archive_name(run_id),
        mime="application/zip",
        on_click="ignore",
        icon=":material/download:",
        key="compare_export",
    )
    st.caption(
        f"`{export.archive_name(run_id)}`: config.yaml (rerun it with `python -m engine run "
        "--config config.yaml`), trades, legs, equity_daily and metrics as CSV and Parquet, "
        "and a README with the run's provenance"
        + (" (MODELED chain: said in the README)." if run["chain_source"] == "modeled" else ".")
    )


def _delete(run: dict, names: dict[str, str], chosen: list[str]) -> None:
    run_id = run["run_id"]
    st.warning(
        f"Deleting **{names[run_id]}** removes its rows from every `backtest` table (runs, "
        "trades, legs, positions, equity, metrics, skipped entries, its name and tags), "
        "rebuilds the attribution reports and publishes. A run of `make all`'s configs comes "
        "back at the next `make all`; a run saved from the Backtest page does not.",
        icon=":material/delete:",
    )
    typed = st.text_input(f"Type `{run_id}` to confirm", key=CONFIRM_KEY)
    if st.button(
        "Delete run",
        key="bt_compare_delete",
        type="primary",
        icon=":material/delete_forever:",
        disabled=typed.strip() != run_id,
    ):
        _change(
            "Deleting",
            lambda: run_admin.delete_run(WarehousePaths.from_env(), run_id),
            {
                RUNS_KEY: [r for r in chosen if r != run_id],
                CONFIRM_KEY: "",
                MANAGE_KEY: None,
                NAME_KEY: None,
                TAGS_KEY: None,
            },
        )


def _reset_label_fields() -> None:
    st.session_state.pop(NAME_KEY, None)
    st.session_state.pop(TAGS_KEY, None)
    st.session_state.pop(CONFIRM_KEY, None)


def _manage(
    published: Published, runs: pl.DataFrame, chosen: list[str], names: dict[str, str]
) -> None:
    st.subheader("Manage a saved run")
    options = runs["run_id"].to_list()
    by_id = {row["run_id"]: row for row in runs.iter_rows(named=True)}
    if st.session_state.get(MANAGE_KEY) not in options:
        st.session_state.pop(MANAGE_KEY, None)
        _reset_label_fields()
        links.seed_widget(MANAGE_KEY, chosen[0] if chosen else options[0])
    run_id = st.selectbox(
        "Run",
        options,
        format_func=names.__getitem__,
        key=MANAGE_KEY,
        on_change=_reset_label_fields,
    )
    run = by_id[run_id]
    all_tags = sorted({tag for tags in runs["tags"].to_list() for tag in (tags or [])})
    name_tab, export_tab, delete_tab = st.tabs(["Name and tags", "Export", "Delete"])
    with name_tab:
        _label_form(run, all_tags)
    with export_tab:
        _export(published, run, names)
    with delete_tab:
        _delete(run, names, chosen)


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    _apply_pending()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    runs = _compare_cached_runs(*published.key)
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs to compare. {BUILD_HINT}")
        return
    names = queries.display_names(runs)
    _relabel(runs, names)
    chosen = _pick_runs(runs, names)
    if not chosen:
        st.info("Pick one or more runs to compare.")
    else:
        baselines_chosen = _pick_baselines(published, runs, chosen)
        comparison = _compare_cached_comparison(*published.key, tuple(chosen))
        underlying_of = tuple(
            runs.filter(pl.col("run_id").is_in(chosen)).select("run_id", "underlying_symbol").rows()
        )
        baselines = _compare_cached_baselines(
            *published.key, tuple(chosen), underlying_of, tuple(baselines_chosen)
        )
        _modeled_notice(runs, chosen, baselines.modeled)
        _charts(comparison, baselines, chosen, names)
        _metrics(comparison, baselines, runs, names, chosen)
    _config_diff(published, runs, chosen, names)
    _manage(published, runs, chosen, names)


run_page("Compare", REQUIRED, body)
