"""Research page: ``engine sweep`` and ``engine scan`` from the app, on the published warehouse.

Two tabs, each run with a step-by-step status; nothing is ever written (no save):

- **Sweep**: a config (a YAML file under ``engine/configs/`` or a saved run's configuration),
  one or two exit parameters and their values; the grid runs as one engine computation
  (:func:`app.research_runner.run_sweep_on_published`) and shows as a heatmap of a chosen
  metric with the closed-trade count in each cell (grey below a minimum), the table of every
  cell, and the equity of one chosen cell. A config on the modeled chain carries the
  "Modeled chain" badge.
- **Scan**: every candidate entry of a structure over the real chain, exited at a fixed DTE
  (:func:`app.research_runner.run_scan_on_published`): the DTE × moneyness (or delta) table
  ``python -m engine scan`` prints, and a heatmap of one statistic over one strike leg's buckets.

Work is bounded (:mod:`app.research_runner`: grid size, scan horizon, one job at a time in the
app process). Reads the published warehouse through :mod:`app.research_runner`,
:mod:`app.queries` and :mod:`app.db` only.
"""

from __future__ import annotations

import duckdb
import polars as pl
import streamlit as st

from app import charts, queries
from app import research_runner as runner
from app.charts.research import (
    SCAN_METRICS,
    SWEEP_KEY_TITLES,
    SWEEP_METRICS,
    axis_label,
    scan_heatmap,
    sweep_heatmap,
)
from app.config_picker import run_with_status, saved_run_labels, short_run_label
from app.db import missing_columns
from app.formatting import fmt_int, table_config
from app.page import BUILD_HINT, Published, run_page
from engine.backtest import SWEEP_KEYS
from engine.config import BacktestConfig, ConfigError
from engine.io import MissingTableError
from engine.metrics import MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES
from engine.scan import LEG_RATIOS, SCAN_QUOTE_COLUMNS, ScanConfig, bucket_labels, leg_ratios

SWEEP_OUTCOME_KEY = "research_sweep_outcome"  # the last sweep (runner.SweepOutcome)
SCAN_OUTCOME_KEY = "research_scan_outcome"  # the last scan (runner.ScanOutcome)
FILE_SOURCE, SAVED_SOURCE = "Config file", "Saved run"
NO_AXIS = "(none: one row)"

#: Values an axis starts with when its key is picked (percent, sessions, calendar days).
DEFAULT_AXIS_TEXT: dict[str, str] = {
    "take_profit_pct": "25, 50, 75",
    "stop_loss_pct": "100, 200, 300",
    "holding_days": "3, 5, 10",
    "exit_dte": "none, 7, 14",
}

#: Structures whose ``option_type`` matters (engine.scan.ScanConfig).
_TYPED_STRUCTURES = ("single", "vertical", "butterfly", "calendar")

#: "schema.table" -> columns the Scan tab reads (checked there: a sweep needs other tables).
SCAN_REQUIRED = {"marts.fct_option_quotes_daily": SCAN_QUOTE_COLUMNS}


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_saved_runs(db: str, db_version: str) -> pl.DataFrame:
    runs = runner.saved_runs(db)
    return runs.join(queries.run_chains(db), on="run_id", how="left")


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_scan_universe(db: str, db_version: str) -> pl.DataFrame:
    return runner.scan_universe(db)


def _modeled_badge(chain_source: str | None, chain_model_version: str | None) -> None:
    """The app's "Modeled chain" badge (with the model version once a run has read it)."""
    if chain_source == "modeled":
        st.badge(
            "Modeled chain" + (f" · {chain_model_version}" if chain_model_version else ""),
            icon=":material/science:",
            color="orange",
        )


# ---- sweep --------------------------------------------------------------------------------------


def _choose_base(published: Published) -> tuple[dict, str | None, str] | None:
    """The base config mapping, its saved description and a label; ``None`` when none."""
    source = st.radio("Start from", [FILE_SOURCE, SAVED_SOURCE], horizontal=True, key="rs_source")
    if source == FILE_SOURCE:
        files = runner.config_files()
        default = (
            files.index(runner.DEFAULT_SWEEP_CONFIG) if runner.DEFAULT_SWEEP_CONFIG in files else 0
        )
        name = st.selectbox("Config (engine/configs/)", files, index=default, key="rs_config_file")
        try:
            return runner.config_file_mapping(name), None, f"engine/configs/{name}"
        except ConfigError as exc:
            st.error(f"The config cannot be read: {exc}", icon=":material/error:")
            return None
    try:
        runs = _cached_saved_runs(*published.key)
    except duckdb.CatalogException:
        runs = pl.DataFrame()
    if runs.is_empty():
        st.info(f"The warehouse has no saved backtest runs to start from. {BUILD_HINT}")
        return None
    labels = saved_run_labels(runs, describe=short_run_label)
    run_id = st.selectbox(
        "Saved run (its configuration)",
        list(labels),
        format_func=labels.__getitem__,
        key="rs_saved_run",
    )
    config_json = runs.filter(pl.col("run_id") == run_id).item(0, "config_json")
    try:
        mapping, description = runner.saved_config_mapping(config_json)
    except ConfigError as exc:
        st.error(f"The saved configuration cannot be read: {exc}", icon=":material/error:")
        return None
    return mapping, description, f"saved run {run_id}"


def _describe(cfg: BacktestConfig, label: str) -> None:
    e, x = cfg.entry, cfg.exits
    exits = ", ".join(f"{k} {axis_label(getattr(x, k), k)}" for k in SWEEP_KEYS)
    window = f"{cfg.start_date or 'first session'} to {cfg.end_date or 'last session'}"
    _modeled_badge(cfg.chain_source, None)
    st.caption(
        f"{label}: **{cfg.strategy.name}** on {cfg.underlying_symbol} {list(cfg.option_roots)}, "
        f"{cfg.chain_source} chain, {window}; entries {e.schedule}, DTE {e.min_dte}-{e.max_dte}, "
        f"signal {e.signal}; exits now: {exits}. The swept keys replace their exits; every "
        "other key stays."
    )
    if cfg.chain_source == "modeled":
        st.caption(
            queries.MODELED_CHAIN_NOTE.format(version="model of the published warehouse")
            + " A 16-year modeled sweep reads about 16 M quotes: about 25 s and 6 GB here."
        )


def _axis(column, title: str, keys: list[str], default: str, axis: str) -> tuple[str, str]:
    with column:
        key = st.selectbox(
            title,
            keys,
            index=keys.index(default),
            format_func=lambda k: SWEEP_KEY_TITLES.get(k, k),
            key=f"rs_axis_{axis}",
        )
        if key == NO_AXIS:
            return key, ""
        text = st.text_input(
            f"Values of {key}",
            value=DEFAULT_AXIS_TEXT[key],
            key=f"rs_values_{axis}_{key}",
            help="Comma-separated; `none` turns the rule off.",
        )
    return key, text


def _sweep_tab(published: Published) -> None:
    chosen = _choose_base(published)
    if chosen is None:
        return
    base, description, label = chosen
    try:
        cfg = runner.build_config(base, description)
    except ConfigError as exc:
        st.error(f"The config is invalid: {exc}", icon=":material/error:")
        return
    _describe(cfg, label)
    across, down = st.columns(2)
    x_key, x_text = _axis(across, "Across (x)", list(SWEEP_KEYS), "take_profit_pct", "x")
    y_key, y_text = _axis(down, "Down (y)", [NO_AXIS, *SWEEP_KEYS], "stop_loss_pct", "y")
    st.caption(
        f"At most {runner.MAX_AXIS_VALUES} values an axis and {runner.MAX_GRID_CELLS} cells; "
        "positions and marks are built once and every cell's exits resolve in one computation "
        "(`python -m engine sweep`). Nothing is saved."
    )
    if st.button("Run sweep", type="primary", icon=":material/grid_view:", key="rs_run_sweep"):
        _run_sweep(published, base, description, [(x_key, x_text), (y_key, y_text)])
    outcome = st.session_state.get(SWEEP_OUTCOME_KEY)
    if outcome is not None:
        _show_sweep(outcome)


def _run_sweep(
    published: Published,
    base: dict,
    description: str | None,
    texts: list[tuple[str, str]],
) -> None:
    st.session_state.pop(SWEEP_OUTCOME_KEY, None)
    texts = [(key, text) for key, text in texts if key != NO_AXIS]
    if len({key for key, _ in texts}) < len(texts):
        st.error(
            f"Across and down sweep the same key ({texts[0][0]}): pick two different keys.",
            icon=":material/error:",
        )
        return
    try:
        axes = {key: runner.parse_axis_values(key, text) for key, text in texts}
        configs = runner.sweep_configs(base, axes, description=description)
    except ConfigError as exc:  # GridError included
        st.error(f"Invalid sweep: {exc}", icon=":material/error:")
        return
    outcome = run_with_status(
        f"Sweeping {len(configs)} cells of {configs[0].strategy.name}",
        runner.SWEEP_STEPS,
        lambda report: runner.run_sweep_on_published(
            configs, axes, published.path, progress=report
        ),
        done=lambda outcome: (
            f"Swept {len(configs)} cells in {outcome.timings_s['total']:.2f} s "
            f"(load {outcome.timings_s['load']:.2f} s, sweep {outcome.timings_s['sweep']:.2f} s)"
        ),
        failures=[
            (runner.ResearchBusyError, "Busy: the sweep did not start", "{exc}"),
            (
                (MissingTableError, ValueError),
                "The sweep could not run",
                "The sweep could not run: {exc}",
            ),
        ],
    )
    if outcome is not None:
        st.session_state[SWEEP_OUTCOME_KEY] = outcome


def _sample_caption(table: pl.DataFrame) -> str:
    """The cells' sample: sessions, closed trades, and how many the engine flags."""
    sessions = sorted(set(table["n_sessions"].to_list()))
    trades = table["n_closed_trades"]
    text = (
        f"{'/'.join(map(str, sessions))} sessions; {trades.min()} to {trades.max()} closed "
        "trades a cell."
    )
    flagged = int((~table["is_meaningful"].fill_null(False)).sum())
    if flagged:
        short_sessions = int((table["n_sessions"] < MIN_MEANINGFUL_SESSIONS).sum())
        short_trades = int((trades < MIN_MEANINGFUL_TRADES).sum())
        text += (
            f" The engine flags {flagged} of {table.height} cells as not meaningful "
            f"({short_sessions} with fewer than {MIN_MEANINGFUL_SESSIONS} sessions, "
            f"{short_trades} with fewer than {MIN_MEANINGFUL_TRADES} closed trades): their "
            "annualised figures (Sharpe, CAGR) say little (`sample_note` in the table)."
        )
    return text


def _sweep_display(table: pl.DataFrame, axes: dict) -> pl.DataFrame:
    labelled = [
        pl.Series(k, [axis_label(v, k) for v in table[k].to_list()], dtype=pl.String)
        for k in SWEEP_KEYS
    ]
    return table.with_columns(labelled).select(
        [k for k in axes] + [c for c in runner.SWEEP_COLUMNS if c not in axes and c != "cell_no"]
    )


def _show_sweep(outcome: runner.SweepOutcome) -> None:
    base = outcome.configs[0]
    keys = list(outcome.axes)
    x_key, y_key = keys[0], (keys[1] if len(keys) > 1 else None)
    st.subheader(f"Sweep: {base.strategy.name} {base.underlying_symbol}, {len(keys)} axes")
    _modeled_badge(outcome.chain_source, outcome.chain_model_version)
    st.caption(
        queries.chain_caption(outcome.chain_source, outcome.chain_model_version)
        + f" Computed in {outcome.timings_s['total']:.2f} s on the published warehouse, "
        "not saved: run a cell from the Backtest page to save it."
    )
    metric_col, floor_col = st.columns(2)
    metric = metric_col.selectbox(
        "Metric",
        list(SWEEP_METRICS),
        format_func=lambda m: SWEEP_METRICS[m].title,
        key="rs_sweep_metric",
    )
    min_trades = floor_col.number_input(
        "Grey out cells with fewer closed trades than",
        min_value=0,
        value=runner.DEFAULT_MIN_TRADES,
        step=1,
        key="rs_sweep_min_trades",
        help="20 is the engine's floor for a meaningful sample (engine.metrics).",
    )
    table = outcome.table
    st.altair_chart(
        sweep_heatmap(table, metric, x_key, y_key, min_trades=int(min_trades)), width="stretch"
    )
    st.caption(_sample_caption(table))
    if int(table["n_closed_trades"].max() or 0) < int(min_trades):
        st.info(
            f"Every cell is grey: none has {int(min_trades)} closed trades. Lower the floor to "
            "colour them, knowing the sample is thin.",
            icon=":material/info:",
        )
    display = _sweep_display(table, outcome.axes)
    st.dataframe(
        display,
        hide_index=True,
        column_config={
            **table_config(display),
            **{
                c: st.column_config.NumberColumn(c, format="percent")
                for c in ("total_return", "cagr", "max_drawdown", "win_rate")
            },
            **{
                c: st.column_config.NumberColumn(c, format="%.2f")
                for c in ("sharpe_ratio", "sharpe_ratio_ci_low", "sharpe_ratio_ci_high")
            },
            "avg_trade_pnl_usd": st.column_config.NumberColumn(
                "avg_trade_pnl_usd", format="dollar"
            ),
        },
    )
    cells = {
        row["run_id"]: ", ".join(f"{k} {axis_label(row[k], k)}" for k in keys)
        + f" ({fmt_int(row['n_closed_trades'])} closed trades)"
        for row in table.iter_rows(named=True)
    }
    run_id = st.selectbox(
        "Equity of one cell", list(cells), format_func=cells.__getitem__, key="rs_sweep_cell"
    )
    equity = outcome.equity.filter(pl.col("run_id") == run_id)
    if equity.is_empty():
        st.info("This cell has no equity rows.")
        return
    left, right = st.columns(2)
    left.altair_chart(charts.equity_chart(equity), width="stretch")
    right.altair_chart(charts.drawdown_chart(equity), width="stretch")


# ---- scan ---------------------------------------------------------------------------------------


def _scan_form(published: Published) -> tuple[ScanConfig, str, list[str]] | None:
    """The scan settings when Run scan was pressed and they are valid, else ``None``."""
    universe = _cached_scan_universe(*published.key)
    if universe.is_empty():
        st.info(f"`marts.fct_option_quotes_daily` has no quotes. {BUILD_HINT}")
        return None
    symbols = universe["underlying_symbol"].unique(maintain_order=True).to_list()
    what, horizon, buckets = st.columns(3)
    with what:
        symbol = st.selectbox("Underlying", symbols, key="rs_scan_underlying")
        of_symbol = universe.filter(pl.col("underlying_symbol") == symbol)
        roots = of_symbol["option_root"].to_list()
        chosen_roots = st.multiselect(
            "Option roots",
            roots,
            default=roots,
            key=f"rs_scan_roots_{symbol}",
            help="Legs of one trade share a root (an AM monthly never pairs with a PM weekly).",
        )
        structure = st.selectbox("Structure", list(LEG_RATIOS), index=0, key="rs_scan_structure")
    with horizon:
        side = st.radio(
            "Side",
            ["long", "short"],
            horizontal=True,
            key="rs_scan_side",
            help="Long is the debit version (a short iron condor is the usual credit one).",
        )
        option_type = st.radio(
            "Option type",
            ["call", "put"],
            horizontal=True,
            key="rs_scan_option_type",
            disabled=structure not in _TYPED_STRUCTURES,
            help="For single, vertical, butterfly and calendar.",
        )
        max_entry_dte = st.number_input(
            "Max entry DTE (calendar days)",
            min_value=2,
            max_value=runner.MAX_SCAN_ENTRY_DTE,
            value=45,
            step=1,
            key="rs_scan_max_entry_dte",
        )
        exit_dte = st.number_input(
            "Exit at DTE (calendar days)",
            min_value=0,
            max_value=runner.MAX_SCAN_ENTRY_DTE - 1,
            value=7,
            step=1,
            key="rs_scan_exit_dte",
        )
    with buckets:
        bucket_by = st.radio(
            "Bucket strikes by",
            ["moneyness", "delta"],
            format_func={"moneyness": "Moneyness S / K", "delta": "Delta"}.__getitem__,
            key="rs_scan_bucket_by",
        )
        rows = of_symbol.select(
            pl.col("n_quotes").sum(), pl.col("first_date").min(), pl.col("last_date").max()
        ).row(0)
        st.caption(
            f"Real market quotes of {symbol} (`marts.fct_option_quotes_daily`): "
            f"{fmt_int(rows[0])} quotes, {rows[1]} to {rows[2]}. Every candidate entry with "
            "bids and asks above 0.05 is a trade, held to the exit DTE at mid (optopsy's "
            f"semantics, `engine/scan.py`). Horizon at most {runner.MAX_SCAN_ENTRY_DTE} days."
        )
    if not st.button("Run scan", type="primary", icon=":material/query_stats:", key="rs_run_scan"):
        return None
    try:
        cfg = runner.scan_config(
            {
                "structure": structure,
                "side": side,
                "option_type": option_type,
                "max_entry_dte": int(max_entry_dte),
                "exit_dte": int(exit_dte),
                "bucket_by": bucket_by,
            }
        )
    except ConfigError as exc:
        st.error(f"Invalid scan: {exc}", icon=":material/error:")
        return None
    if not chosen_roots:
        st.error("Choose at least one option root.", icon=":material/error:")
        return None
    return cfg, symbol, chosen_roots


def _run_scan(published: Published, cfg: ScanConfig, symbol: str, roots: list[str]) -> None:
    st.session_state.pop(SCAN_OUTCOME_KEY, None)
    outcome = run_with_status(
        f"Scanning {cfg.side} {cfg.structure} on {symbol}",
        runner.SCAN_STEPS,
        lambda report: runner.run_scan_on_published(
            cfg, published.path, symbol, roots, progress=report
        ),
        done=lambda outcome: (
            f"Scanned {fmt_int(outcome.n_trades)} trades in {outcome.timings_s['total']:.2f} s "
            f"(read {outcome.timings_s['load']:.2f} s, scan {outcome.timings_s['scan']:.2f} s)"
        ),
        failures=[
            (runner.ResearchBusyError, "Busy: the scan did not start", "{exc}"),
            (ValueError, "The scan could not run", "The scan could not run: {exc}"),
        ],
    )
    if outcome is not None:
        st.session_state[SCAN_OUTCOME_KEY] = outcome


def _leg_label(cfg: ScanConfig, leg: int) -> str:
    kind, ratio = leg_ratios(cfg)[leg - 1]
    side = "long" if ratio > 0 else "short"
    return (
        f"leg {leg}: {side} {abs(ratio)} {kind}" if abs(ratio) != 1 else f"leg {leg}: {side} {kind}"
    )


def _show_scan(outcome: runner.ScanOutcome) -> None:
    cfg = outcome.config
    st.subheader(
        f"Scan: {cfg.side} {cfg.structure}"
        + (f" ({cfg.option_type})" if cfg.structure in _TYPED_STRUCTURES else "")
        + f", {outcome.underlying_symbol} {list(outcome.option_roots)}"
    )
    st.caption(
        f"Real market quotes: {fmt_int(outcome.n_quotes)} read; {fmt_int(outcome.n_trades)} "
        f"trades entered at {cfg.min_entry_dte}-{cfg.max_entry_dte} DTE and exited at "
        f"{cfg.exit_dte} DTE ({fmt_int(outcome.n_exact_exit)} on the exact day, the rest on the "
        f"next quoted day within {cfg.exit_tolerance_days}); returns are P&L over the entry "
        f"premium, mid fills, no costs. Computed in {outcome.timings_s['total']:.2f} s."
    )
    if outcome.summary.is_empty():
        st.info("No candidate entry: widen the horizon or pick other roots.")
        return
    legs = runner.scan_bucket_legs(cfg)
    metric_col, leg_col, floor_col = st.columns(3)
    metrics = [m for m in SCAN_METRICS if m != "return_median" or len(legs) == 1]
    metric = metric_col.selectbox(
        "Statistic",
        metrics,
        format_func=lambda m: SCAN_METRICS[m].title,
        key="rs_scan_metric",
        help="Medians do not pool across the other legs' buckets: offered for one-bucket "
        "structures only.",
    )
    leg = leg_col.selectbox(
        "Buckets of",
        list(legs),
        format_func=lambda i: _leg_label(cfg, i),
        key=f"rs_scan_leg_{cfg.structure}",
        disabled=len(legs) == 1,
    )
    min_trades = floor_col.number_input(
        "Grey out cells with fewer trades than",
        min_value=0,
        value=runner.DEFAULT_MIN_TRADES,
        step=1,
        key="rs_scan_min_trades",
    )
    cells = runner.scan_cells(outcome.summary, cfg, leg)
    axis = "Moneyness S / K" if cfg.bucket_by == "moneyness" else "Delta"
    chart = scan_heatmap(
        cells,
        metric,
        bucket_title=f"{axis} at entry, {_leg_label(cfg, leg)}",
        bucket_order=[*bucket_labels(cfg.bucket_edges, left_closed=True), runner.NO_BUCKET],
        dte_order=bucket_labels(cfg.dte_bucket_edges, left_closed=False),
        min_trades=int(min_trades),
    )
    st.altair_chart(chart, width="stretch")
    pooled = (
        " Each cell pools the other legs' buckets (means weighted by trades)."
        if len(legs) > 1
        else ""
    )
    st.caption(
        "Entry DTE buckets are right-closed `(a, b]`, moneyness (S / K) and delta buckets "
        f"left-closed `[a, b)`; empty cells are not drawn.{pooled}"
    )
    st.markdown(f"**The scan table** ({outcome.summary.height} rows, as `engine scan` prints it)")
    st.dataframe(
        outcome.summary,
        hide_index=True,
        column_config={
            **{
                c: st.column_config.NumberColumn(c, format="percent")
                for c in outcome.summary.columns
                if c.startswith("return_") or c == "win_rate"
            },
            "pnl_points_mean": st.column_config.NumberColumn("pnl_points_mean", format="%.3f"),
        },
    )


def _scan_tab(published: Published) -> None:
    problems = missing_columns(published.path, SCAN_REQUIRED)
    if problems:
        st.info(f"The scan reads `marts.fct_option_quotes_daily`, which is missing. {BUILD_HINT}")
        return
    form = _scan_form(published)
    if form is not None:
        _run_scan(published, *form)
    outcome = st.session_state.get(SCAN_OUTCOME_KEY)
    if outcome is not None:
        _show_scan(outcome)


def body(published: Published) -> None:
    """Draw the page for the published warehouse."""
    st.caption(
        "Parameter sweeps and chain scans on the published warehouse, read-only: "
        "`python -m engine sweep` and `python -m engine scan` from the browser. Results stay in "
        "this session; nothing is written."
    )
    sweep, scan = st.tabs(["Sweep", "Scan"])
    with sweep:
        _sweep_tab(published)
    with scan:
        _scan_tab(published)


run_page("Research", None, body)
