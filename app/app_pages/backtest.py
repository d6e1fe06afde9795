"""Backtest page: the saved runs of the warehouse, and new runs from a form over the catalogue.

Two tabs:

- **Saved runs**: pick a run of ``backtest.runs``; the option chain it traded (a run on the
  modeled chain carries a "Modeled chain" badge and says its quotes are model prices), its
  figures with their sample, equity and drawdown, rolling Sharpe (long runs only), greeks
  exposure, the entries it skipped by reason, trades, legs, and the config it ran as YAML (to
  download, or to **clone** into the New run form).
- **New run**: the strategy picker fills the form with *that strategy's* defaults
  (:func:`app.backtest_runner.strategy_form`: its own engine config, or a preset from its legs);
  the legs are editable (type, side, ratio, expiry, strike rule and value, up to four), so are
  the market (chain source, underlying, roots, universe, dates) and every entry, sizing,
  execution and exit setting. Fields that do not apply to the chosen strategy, signal, sizing or
  fill are hidden; an empty optional field means off and reaches the config as ``null``. The run
  (read-only on the published warehouse, :mod:`app.backtest_runner`) shows the same views and
  the exact config it ran; it can be saved (build database under the pipeline lock, then
  publish) unless it opened no position.

The form is not an ``st.form``: hiding what does not apply needs a rerun per change. Its state
is a :class:`app.backtest_runner.FormValues` in the session (``bt_form``) plus the base mapping
the values are laid over (``bt_base``); each widget is seeded from them when it (re)appears
(:func:`_ensure`) and keeps its value across pages (``persist_state="session"``), so a field
hidden and shown again, or the whole form after a visit to another page, shows what it held;
a strategy change, a reset or a clone re-seeds every widget at once (callbacks).

Reads the published warehouse through :mod:`app.queries` and :mod:`app.backtest_runner` (which
reads through :mod:`app.db`) only; a missing warehouse or missing ``backtest`` tables is
explained on the page by :func:`app.page.run_page`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, get_args

import polars as pl
import streamlit as st

from app import backtest_runner as runner
from app import charts, queries
from app.db import missing_columns
from app.formatting import (
    LEG_COLUMNS,
    SAMPLE_RULE,
    TRADE_COLUMNS,
    fmt_usd,
    numbered_legs,
    numbered_trades,
    run_label,
    run_sample,
    stat_tiles,
    table_config,
)
from app.page import BUILD_HINT, Published, run_page
from engine.config import (
    REGIMES,
    BacktestConfig,
    ChainSource,
    ConfigError,
    FillModel,
    Schedule,
    SignalKind,
    SizingMode,
)
from engine.io import MissingTableError
from engine.strategies import STRIKE_RULES, LegSpec
from warehouse.paths import WarehousePaths

OUTCOME_KEY = "backtest_outcome"  # the last new run (runner.RunOutcome), until replaced
NOTICE_KEY = "backtest_save_notice"  # a save's success message, shown once after the rerun
PENDING_KEY = "backtest_select_next"  # run id the saved-runs picker selects on the next run
RUN_PICKER_KEY = "saved_run"
TAB_KEY = "bt_tab"  # the active tab's label (a clone switches to "New run")
LAST_TAB_KEY = "bt_tab_last"  # ... as the page was left (tabs lose their state on other pages)
FORM_KEY = "bt_form"  # runner.FormValues: the form's values, hidden fields included
LEGS_KEY = "bt_legs_all"  # MAX_LEGS LegSpecs: legs beyond the count keep their values
BASE_KEY = "bt_base"  # the mapping the form's values are laid over
SOURCE_KEY = "bt_source"  # where the base came from (shown under the form)
FORM_NOTICE_KEY = "bt_form_notice"  # a clone's message, shown once above the form
DRAWN_KEY = "bt_drawn"  # the form's widget keys drawn on the previous rerun
_DRAWN: set[str] = set()  # ... and on this one (the page module runs afresh on every rerun)
SAVED_TAB, NEW_TAB = "Saved runs", "New run"
MAX_LEGS = 4

# Labels of the engine's choices (engine/config.py); the options themselves come from the
# engine's types, so a choice it adds shows up here (under its own name until labelled).
_LABELS = {
    "daily": "Daily",
    "weekly": "Weekly (on a weekday)",
    "monthly_expiration": "Monthly (after each 3rd-Friday expiration)",
    "monthly_expiration_day": "Monthly (on each 3rd-Friday expiration)",
    "none": "None: every scheduled day",
    "prob_up_at_least": "p_up at least the threshold",
    "prob_up_at_most": "p_up at most the threshold",
    "regime_in": "IV-regime model: probability of the chosen regimes at least the threshold",
    "selector": "Strategy selector picks this strategy",
    "top_k": "Top k contracts by model score (single leg)",
    "fixed": "Fixed lots",
    "premium_fraction": "Fraction of equity (premium)",
    "risk_fraction": "Capital at risk (fraction of equity)",
    "mid": "Mid",
    "touch": "Touch (ask to buy, bid to sell)",
    "mid_slippage": "Mid ± slippage bps",
    "spread_fraction": "Mid ± fraction of the half spread",
    "real": "Real market quotes",
    "modeled": "MODELED quotes (model prices)",
}
RULE_LABELS = {
    "delta": "delta: target |Δ|",
    "moneyness": "moneyness: S/K",
    "strike_offset_pct": "ATM + % of spot",
    "strike_at_or_above_pct": "first strike ≥ spot·(1+%)",
    "strike_at_or_below_pct": "last strike ≤ spot·(1+%)",
    "width_pct": "% of spot from leg",
    "same_strike_as": "same strike as leg",
}
#: The value a strike rule starts at when a leg switches to it (engine/strategies.yaml header).
RULE_DEFAULTS: dict[str, float | None] = {
    "delta": 0.30,
    "moneyness": 1.0,
    "strike_offset_pct": 0.0,
    "strike_at_or_above_pct": 0.0,
    "strike_at_or_below_pct": -5.0,
    "width_pct": -2.0,
    "same_strike_as": None,
}
_RELATIVE_RULES = ("width_pct", "same_strike_as")
_NEW_LEG = LegSpec("put", "long", 1, "front", "width_pct", -2.0, 1)


def _choices(kind: object) -> dict[str, str]:
    return {value: _LABELS.get(value, value) for value in get_args(kind)}


SCHEDULES = _choices(Schedule)
SIGNALS = _choices(SignalKind)
SIZING = _choices(SizingMode)
FILLS = _choices(FillModel)
CHAIN_SOURCES = _choices(ChainSource)

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


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_choices(db: str, db_version: str, underlying: str) -> queries.BacktestChoices:
    return queries.backtest_choices(db, underlying)


@st.cache_data(show_spinner="Reading what the chain holds", max_entries=8)
def _cached_coverage(db: str, db_version: str, chain_source: str) -> pl.DataFrame:
    return runner.chain_coverage(db, chain_source)


# ---- one run, saved or new ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """One run as the page shows it (saved, or new and unsaved).

    ``metrics`` holds every column the engine wrote (the sample included where it did);
    ``skipped`` is ``None`` when the warehouse has no ``backtest.skipped_entries``; ``key`` tells
    the widgets of the two tabs apart.
    """

    run_id: str
    detail: queries.RunDetail
    metrics: pl.DataFrame
    skipped: pl.DataFrame | None
    config: BacktestConfig | None
    config_error: str | None
    chain_source: str | None
    chain_model_version: str | None
    key: str


def _show_chain(chain_source: str | None, chain_model_version: str | None) -> None:
    """Which option chain the run traded; a modeled one is flagged with a badge."""
    if chain_source == "modeled":
        st.badge(
            f"Modeled chain · {chain_model_version or 'model unknown'}",
            icon=":material/science:",
            color="orange",
        )
    st.caption(queries.chain_caption(chain_source, chain_model_version))


#: The figures' tiles: values a size smaller than st.metric's (five tiles a row keep "-68.48%"
#: whole at 1280 px), and greyed out in a container keyed ``bt_nm_*`` (an annualised figure whose
#: sample is too small). st.html with only a style tag takes no space.
_TILE_CSS = (
    "<style>[class*='st-key-bt_nm_'] [data-testid='stMetricValue'], "
    "[class*='st-key-bt_ok_'] [data-testid='stMetricValue'] {font-size: 1.6rem;} "
    "[class*='st-key-bt_nm_'] [data-testid='stMetricValue'] "
    "{color: #9aa0a6; opacity: 0.75;}</style>"
)


def _show_metrics(view: RunView) -> None:
    if view.metrics.is_empty():
        st.warning("This run has no row in `backtest.metrics`. " + BUILD_HINT)
        return
    row = view.metrics.row(0, named=True)
    n_sessions = view.detail.equity.height or None
    sample = run_sample(row, n_sessions)
    tiles = stat_tiles(row, n_sessions)
    st.html(_TILE_CSS)
    per_row = 5  # at 1280 px beside the sidebar, five tiles keep their values whole
    for start in range(0, len(tiles), per_row):
        columns = st.columns(per_row)
        for i, (column, tile) in enumerate(
            zip(columns, tiles[start : start + per_row], strict=False)
        ):
            grey = tile.annualised and not tile.meaningful
            # the sample goes under the value as a caption, which wraps (a delta is cut short)
            holder = column.container(
                border=True,
                height="stretch",
                key=f"bt_{'nm' if grey else 'ok'}_{view.key}_{start + i}",
            )
            holder.metric(
                tile.label,
                tile.value,
                delta="not meaningful" if grey else None,
                delta_color="off",
                delta_arrow="off",
                help=SAMPLE_RULE if tile.annualised else None,
            )
            if tile.note:
                holder.caption(tile.note)
    verdict = (
        "Annualised figures are meaningful on this sample"
        if sample.is_meaningful
        else f"**Annualised figures are not meaningful here** ({sample.shortfall})"
    )
    st.caption(
        f"{verdict}. {SAMPLE_RULE} Sample: {sample.text}; {row['first_date']} → "
        f"{row['last_date']}; average closed-trade P&L {fmt_usd(row['avg_trade_pnl_usd'])}. "
        "The Sharpe interval is the engine's 95 % interval under IID returns (Lo 2002, "
        "'The Statistics of Sharpe Ratios', eq. 8), where the run recorded one."
    )


def _show_equity(equity: pl.DataFrame) -> None:
    if equity.is_empty():
        st.warning("This run has no rows in `backtest.equity_daily`.")
        return
    st.altair_chart(charts.equity_chart(equity), width="stretch")
    st.altair_chart(charts.drawdown_chart(equity), width="stretch")


def _show_rolling_sharpe(equity: pl.DataFrame) -> None:
    window = runner.rolling_window(equity.height)
    if window is None:
        shortest = min(runner.ROLLING_WINDOWS)
        st.info(
            f"No rolling Sharpe: this run has {equity.height} sessions, and a rolling Sharpe "
            f"needs at least {2 * shortest} (a {shortest}-session window, twice). Over fewer "
            f"sessions it is noise: the standard error of an annualised Sharpe over 21 sessions "
            f"is ±{runner.rolling_sharpe_se(21):.1f} (Lo 2002), so a 21-day rolling Sharpe "
            "swings by ±6 with no change in the strategy.",
            icon=":material/info:",
        )
        return
    sharpe = runner.rolling_sharpe(equity, window)
    st.altair_chart(charts.rolling_sharpe_chart(sharpe, window), width="stretch")
    st.caption(
        f"Sharpe ratio of the last {window} sessions' returns, annualised with √252 (risk-free "
        f"rate 0), the engine's formula on a moving window. Window: the longest of "
        f"{', '.join(map(str, runner.ROLLING_WINDOWS))} sessions that fits twice in the run's "
        f"{equity.height}; each point's standard error is about "
        f"±{runner.rolling_sharpe_se(window):.1f} (√(252 / {window}), Lo 2002)."
    )


def _show_greeks(equity: pl.DataFrame) -> None:
    if equity.is_empty():
        return
    st.markdown("**Greeks exposure** (open positions, USD)")
    columns = st.columns(2)
    for i, greek in enumerate(charts.GREEKS):
        columns[i % 2].altair_chart(charts.greek_chart(equity, greek), width="stretch")
    st.caption(
        "Sums over the open positions at each day's close: delta as USD of underlying, gamma "
        "as the change of dollar delta for a 1 % move, vega per volatility point, theta per "
        "calendar day."
    )


def _show_skipped(view: RunView) -> None:
    skipped = view.skipped
    if skipped is None:
        st.caption(
            "Skipped entries: this warehouse has no `backtest.skipped_entries` (written by "
            "engines since issue 13)."
        )
        return
    st.subheader(f"Skipped entries ({skipped.height})")
    if skipped.is_empty():
        st.caption("Every scheduled entry opened a position.")
        return
    counts = runner.skipped_by_reason(skipped)
    st.caption(
        "Scheduled entries that opened nothing, and why (`backtest.skipped_entries`; "
        "engine/entries.py and the sizing caps of engine/portfolio.py)."
    )
    st.dataframe(
        counts,
        hide_index=True,
        column_config={
            **table_config(counts),
            "reason": st.column_config.TextColumn("reason", width=190),
            "n_skipped": st.column_config.NumberColumn("n", width=60),
            "meaning": st.column_config.TextColumn("meaning", width=520),
        },
    )
    box = _lazy_expander(f"Every skipped entry ({skipped.height})", f"bt_all_skips_{view.key}")
    if box is not None:
        each = skipped.drop("run_id", strict=False)
        box.dataframe(each, hide_index=True, column_config=table_config(each))


_MONEY = {"format": "dollar"}


def _lazy_expander(label: str, key: str) -> Any:
    """An expander whose content is drawn only while it is open (opening it reruns the page):
    a long run's every-column tables reach the browser only when asked for. The expander when
    open, else ``None``."""
    box = st.expander(label, key=key, on_change="rerun")
    return box if box.open else None


def _trade_config(frame: pl.DataFrame) -> dict[str, Any]:
    return {
        **table_config(frame),
        "#": st.column_config.NumberColumn("#", width=40, help="Display number, 1, 2, 3 ..."),
        "trade_id": st.column_config.NumberColumn(
            "trade_id", width=60, help="The engine's candidate-position number (see below)"
        ),
        "entry_date": st.column_config.DateColumn("entry", format="YYYY-MM-DD", width=90),
        "exit_date": st.column_config.DateColumn("exit", format="YYYY-MM-DD", width=90),
        "expiration": st.column_config.DateColumn("expiration", format="YYYY-MM-DD", width=90),
        "lots": st.column_config.NumberColumn("lots", width=55),
        "exit_reason": st.column_config.TextColumn("exit_reason", width=105),
        "entry_value": st.column_config.NumberColumn("entry_value", format="%.2f", width=80),
        "exit_value": st.column_config.NumberColumn("exit_value", format="%.2f", width=80),
        "pnl_usd": st.column_config.NumberColumn("pnl_usd", width=115, **_MONEY),
        "trade_return": st.column_config.NumberColumn("trade_return", format="percent", width=80),
        "signal_value": st.column_config.NumberColumn("signal_value", format="%.3f"),
        "commission_usd": st.column_config.NumberColumn("commission_usd", **_MONEY),
    }


def _show_trades(view: RunView) -> None:
    trades = view.detail.trades
    st.subheader(f"Trades ({trades.height})")
    if trades.is_empty():
        st.info("This run made no trades: the skipped entries above say why.")
        return
    shown = numbered_trades(trades)
    st.dataframe(
        shown.select(TRADE_COLUMNS),
        hide_index=True,
        column_config=_trade_config(shown),
    )
    missing = runner.missing_trade_ids(trades["trade_id"])
    gaps = (
        f" Here ids {_id_list(missing)} are missing: {len(missing)} candidate(s) sized to zero "
        "or over `max_open_positions` (see Skipped entries: `sized_to_zero`, "
        "`max_open_positions`)."
        if missing
        else " No id is missing here."
    )
    st.caption(
        "`trade_id` is the engine's number of each candidate position (one per entry session "
        "whose legs all filled, in entry order), given before sizing; a candidate sized to zero "
        "lots becomes a skipped entry, not a trade, so its number never appears. `#` counts the "
        "trades shown. `entry_value` / `exit_value`: net premium per lot in index points "
        "(+ debit, − credit); the expiration, `exit_value` (an open trade's last mark) and the "
        "costs are in All trade columns." + gaps
    )
    box = _lazy_expander("All trade columns", f"bt_all_trades_{view.key}")
    if box is not None:
        box.dataframe(shown, hide_index=True, column_config=_trade_config(shown))


def _id_list(ids: list[int], limit: int = 12) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _show_legs(view: RunView) -> None:
    legs = view.detail.legs
    if legs.is_empty():
        return
    shown = numbered_legs(legs, view.detail.trades)
    st.subheader(f"Legs ({legs.height})")
    config = {
        **table_config(shown),
        "#": st.column_config.NumberColumn("#", width=40),
        "trade_id": st.column_config.NumberColumn("trade_id", width=60),
        "leg_no": st.column_config.NumberColumn("leg", width=40),
        "contract_symbol": st.column_config.TextColumn("contract_symbol", width=160),
        "leg_type": st.column_config.TextColumn("type", width=50),
        "strike": st.column_config.NumberColumn("strike", format="%.2f", width=70),
        "quantity": st.column_config.NumberColumn("qty", width=60),
        "entry_price": st.column_config.NumberColumn("entry_price", format="%.2f", width=80),
        "exit_date": st.column_config.DateColumn("exit", format="YYYY-MM-DD", width=90),
        "exit_price": st.column_config.NumberColumn("exit_price", format="%.2f", width=75),
        "exit_kind": st.column_config.TextColumn("exit_kind", width=125),
    }
    st.dataframe(shown.select(LEG_COLUMNS), hide_index=True, column_config=config)
    box = _lazy_expander("All leg columns", f"bt_all_legs_{view.key}")
    if box is not None:
        box.dataframe(shown, hide_index=True, column_config=config)


def _show_config(view: RunView) -> None:
    st.subheader("Config it ran")
    if view.config is None:
        if view.config_error:
            st.warning(
                f"This run's config cannot be read back by the current engine: {view.config_error}",
                icon=":material/warning:",
            )
        if view.detail.config_json:
            with st.expander("Run configuration (JSON as stored)"):
                st.code(view.detail.config_json, language="json")
        return
    text = runner.config_yaml(view.config, run_id=view.run_id)
    st.download_button(
        "Download YAML",
        text,
        file_name=f"{view.run_id}.yaml",
        mime="application/x-yaml",
        icon=":material/download:",
        key=f"bt_download_{view.key}",
    )
    with st.expander(f"{view.run_id}.yaml: every key, defaults included", expanded=False):
        st.code(text, language="yaml")
    st.caption(
        "`python -m engine run --config <file>` runs it again to the same run id; "
        "`backtest.runs.config_json` holds the same settings as JSON."
    )


def _show_run(view: RunView) -> None:
    _show_chain(view.chain_source, view.chain_model_version)
    _show_metrics(view)
    _show_equity(view.detail.equity)
    if not view.detail.equity.is_empty():
        _show_rolling_sharpe(view.detail.equity)
        _show_greeks(view.detail.equity)
    _show_skipped(view)
    _show_trades(view)
    _show_legs(view)
    _show_config(view)


# ---- saved runs ---------------------------------------------------------------------------------


def _clone(run_id: str, config_json: str | None) -> None:
    """Callback: fill the New run form with a saved run's config and switch to it."""
    try:
        if not config_json:
            raise ConfigError(f"run {run_id} has no config_json")
        cfg = runner.config_from_json(config_json)
    except ConfigError as exc:
        st.session_state[FORM_NOTICE_KEY] = ("error", f"Cannot clone {run_id}: {exc}")
        return
    _seed(
        runner.FormValues.from_config(cfg),
        runner.resolved_mapping(cfg),
        f"saved run `{run_id}` (cloned)",
    )
    st.session_state[FORM_NOTICE_KEY] = (
        "info",
        f"Cloned `{run_id}` into the form: running it unchanged gives the same run id.",
    )
    st.session_state[TAB_KEY] = NEW_TAB


def _saved_view(published: Published, run_id: str) -> RunView:
    detail = _cached_backtest_run_detail(*published.key, run_id)
    extras = _cached_run_extras(*published.key, run_id)
    config, error = None, None
    if detail.config_json:
        try:
            config = runner.config_from_json(detail.config_json)
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


def _saved_runs(published: Published, runs: pl.DataFrame) -> None:
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs. {BUILD_HINT}")
        return
    runs = runs.join(_cached_backtest_chains(*published.key), on="run_id", how="left")
    labels = {
        run["run_id"]: run_label(
            run, queries.chain_label(run.get("chain_source"), run.get("chain_model_version"))
        )
        for run in runs.iter_rows(named=True)
    }
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending in labels:
        st.session_state[RUN_PICKER_KEY] = pending
    run_id = st.selectbox(
        "Run", options=list(labels), index=0, format_func=labels.__getitem__, key=RUN_PICKER_KEY
    )
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
    _show_run(view)


# ---- the form's state ---------------------------------------------------------------------------

_FIELDS = tuple(f.name for f in dataclasses.fields(runner.FormValues) if f.name != "legs")
_LEG_PARTS = ("type", "side", "ratio", "expiry", "rule", "value", "of")


def _key(field: str) -> str:
    return f"bt_{field}"


def _leg_key(i: int, part: str) -> str:
    return f"bt_leg{i}_{part}"


def _widget_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _leg_state(leg: LegSpec) -> dict[str, Any]:
    rule = leg.rule or "delta"
    return {
        "type": leg.leg_type,
        "side": leg.side,
        "ratio": leg.ratio,
        "expiry": leg.expiry,
        "rule": rule,
        "value": None if rule == "same_strike_as" else float(leg.value),
        "of": leg.of,
    }


def _seed(values: runner.FormValues, base: dict[str, Any], source: str) -> None:
    """Put ``values`` into every widget of the form (callbacks and first visits only)."""
    legs = list(values.legs[:MAX_LEGS])
    legs += [_NEW_LEG] * (MAX_LEGS - len(legs))
    st.session_state[FORM_KEY] = values
    st.session_state[LEGS_KEY] = legs
    st.session_state[BASE_KEY] = base
    st.session_state[SOURCE_KEY] = source
    for field in _FIELDS:
        st.session_state[_key(field)] = _widget_value(getattr(values, field))
    st.session_state["bt_n_legs"] = max(1, min(len(values.legs), MAX_LEGS))
    for i, leg in enumerate(legs, start=1):
        for part, value in _leg_state(leg).items():
            st.session_state[_leg_key(i, part)] = value


def _ensure(key: str, value: Any) -> None:
    """Set a widget's value through the session state just before it is drawn.

    A widget left undrawn loses its state (Streamlit drops it), while a value once set through
    the session state outlives it: a hidden field shown again would come back empty, or with a
    value seeded long ago. So a widget not drawn on the previous rerun is set from
    :data:`FORM_KEY` / :data:`LEGS_KEY` (``value``: what it showed when it was hidden), and one
    that was drawn gets its own current value written back, so what outlives it (another page
    visited, then this one again) is always its latest value.
    """
    drawn_before = st.session_state.get(DRAWN_KEY, frozenset())
    if key in st.session_state and key in drawn_before:
        st.session_state[key] = st.session_state[key]
    else:
        st.session_state[key] = _widget_value(value)
    _DRAWN.add(key)


def _on_strategy() -> None:
    strategy = st.session_state[_key("strategy")]
    try:
        values, base, source = runner.strategy_form(strategy)
    except ConfigError as exc:
        st.session_state[FORM_NOTICE_KEY] = ("error", f"The defaults of {strategy}: {exc}")
        return
    _seed(values, base, source)


def _on_reset() -> None:
    _on_strategy()


def _set(field: str, value: Any) -> None:
    """Callback helper: change a field in its widget and in the form's state."""
    st.session_state[_key(field)] = _widget_value(value)
    st.session_state[FORM_KEY] = dataclasses.replace(st.session_state[FORM_KEY], **{field: value})


def _on_rule(i: int) -> None:
    """A leg switched strike rule: start its value at the rule's default (a width goes up for
    a call, down for a put) and point a relative rule at the leg before."""
    rule = st.session_state[_leg_key(i, "rule")]
    value = RULE_DEFAULTS.get(rule)
    if rule == "width_pct" and st.session_state.get(_leg_key(i, "type")) == "call":
        value = 2.0
    legs = list(st.session_state[LEGS_KEY])
    of = legs[i - 1].of
    if rule in _RELATIVE_RULES and of is None:
        of = max(1, i - 1)
    legs[i - 1] = dataclasses.replace(
        legs[i - 1], rule=rule, value=0.0 if value is None else value, of=of
    )
    st.session_state[LEGS_KEY] = legs
    st.session_state[_leg_key(i, "value")] = value
    st.session_state[_leg_key(i, "of")] = of


def _on_chain_source() -> None:
    if st.session_state[_key("chain_source")] == "modeled":
        # a modeled quote has no open interest: only the wide universe holds modeled quotes
        _set("universe", "wide")


class _Form:
    """Draws the widgets of one rerun and collects their values (hidden ones from the state)."""

    def __init__(self, values: runner.FormValues) -> None:
        self.values = values
        self.changes: dict[str, Any] = {}

    def widget(self, field: str, draw: Any, *args: Any, **kwargs: Any) -> Any:
        _ensure(_key(field), getattr(self.values, field))
        value = draw(*args, key=_key(field), persist_state="session", **kwargs)
        self.changes[field] = tuple(value) if isinstance(value, list) else value
        return value

    def number(self, field: str, label: str, *, step: float | int, **kwargs: Any) -> Any:
        if isinstance(step, int):
            kwargs.setdefault("format", "%d")
        return self.widget(field, st.number_input, label, value=None, step=step, **kwargs)

    def select(self, field: str, label: str, options: dict[str, str], **kwargs: Any) -> Any:
        current = getattr(self.values, field)
        if current not in options and current is not None:
            options = {**options, current: str(current)}
        return self.widget(
            field, st.selectbox, label, list(options), format_func=options.__getitem__, **kwargs
        )

    def result(self, legs: tuple[LegSpec, ...]) -> runner.FormValues:
        return dataclasses.replace(self.values, legs=legs, **self.changes)


def _options(values: list[str], current: str | None) -> dict[str, str]:
    out = {v: v for v in values}
    if current is not None and current not in out:
        out[current] = current
    return out


# ---- the form -----------------------------------------------------------------------------------


def _legs_editor() -> tuple[LegSpec, ...]:
    """The legs: a row of widgets per leg, up to :data:`MAX_LEGS`."""
    stored: list[LegSpec] = st.session_state[LEGS_KEY]
    _ensure("bt_n_legs", len(st.session_state[FORM_KEY].legs))
    n_legs = st.selectbox(
        "Number of legs",
        list(range(1, MAX_LEGS + 1)),
        key="bt_n_legs",
        width=160,
        persist_state="session",
    )
    widths = [1, 1, 0.8, 0.9, 1.7, 1.0, 0.8]
    header = st.columns(widths)
    titles = ("Type", "Side", "Ratio", "Expiry", "Strike rule", "Value", "Of leg")
    for column, title in zip(header, titles, strict=True):
        column.markdown(f"**{title}**")
    legs: list[LegSpec] = []
    for i in range(1, MAX_LEGS + 1):
        leg = stored[i - 1]
        if i > n_legs:
            legs.append(leg)
            continue
        state = _leg_state(leg)
        cols = st.columns(widths, vertical_alignment="center")

        def draw(part: str, widget: Any, label: str, *args: Any, **kwargs: Any) -> Any:
            _ensure(_leg_key(i, part), state[part])  # noqa: B023 - called at once, in this loop
            return widget(
                f"Leg {i} {label}",  # noqa: B023
                *args,
                key=_leg_key(i, part),  # noqa: B023
                label_visibility="collapsed",
                persist_state="session",
                **kwargs,
            )

        leg_type = draw("type", cols[0].selectbox, "type", ["call", "put", "stock"])
        side = draw("side", cols[1].selectbox, "side", ["long", "short"])
        ratio = draw(
            "ratio",
            cols[2].number_input,
            "ratio",
            value=None,
            step=1,
            help="Units per lot: option contracts, or shares (100 = one option's multiplier)",
        )
        if leg_type == "stock":
            cols[3].caption("the underlying")
            legs.append(dataclasses.replace(leg, leg_type="stock", side=side, ratio=ratio))
            continue
        expiry = draw("expiry", cols[3].selectbox, "expiry", ["front", "back"])
        rule = draw(
            "rule",
            cols[4].selectbox,
            "strike rule",
            list(STRIKE_RULES),
            format_func=RULE_LABELS.get,
            on_change=_on_rule,
            args=(i,),
        )
        value = leg.value
        if rule != "same_strike_as":
            value = draw(
                "value",
                cols[5].number_input,
                "value",
                value=None,
                step=0.01,
                format="%.2f",
                help="delta: |Δ| in (0, 1); moneyness: S/K; the others: % of spot",
            )
        of = leg.of
        if rule in _RELATIVE_RULES:
            of = draw(
                "of",
                cols[6].number_input,
                "of leg",
                value=None,
                step=1,
                help="An earlier leg's number",
            )
        legs.append(LegSpec(leg_type, side, ratio, expiry, rule, value, of))
    st.session_state[LEGS_KEY] = legs
    return tuple(legs[:n_legs])


def _market(form: _Form, published: Published) -> None:
    values = form.values
    c1, c2, c3, c4 = st.columns([1.3, 1, 1.4, 1.2])
    with c1:
        chain_source = form.select(
            "chain_source", "Chain source", CHAIN_SOURCES, on_change=_on_chain_source
        )
        if chain_source == "modeled":
            st.badge("Modeled chain", icon=":material/science:", color="orange")
    coverage = _cached_coverage(*published.key, chain_source or "real")
    underlyings = sorted(set(coverage["underlying_symbol"].to_list()))
    with c2:
        underlying = form.select(
            "underlying_symbol",
            "Underlying",
            _options(underlyings, values.underlying_symbol),
            on_change=_on_underlying,
            args=(published,),
        )
    roots = coverage.filter(pl.col("underlying_symbol") == underlying).sort(
        "n_quotes", descending=True
    )
    with c3:
        form.widget(
            "option_roots",
            st.multiselect,
            "Option roots (in order of preference)",
            list(
                _options(roots["option_root"].to_list(), None) | {r: r for r in values.option_roots}
            ),
            help="When two roots list the same expiration, the first one is traded.",
        )
    choices = _cached_choices(*published.key, underlying or "SPX")
    with c4:
        form.select(
            "universe",
            "Universe (entry contracts)",
            _options(list(choices.universes), values.universe),
            help="`default` is marts.fct_option_quotes_universe; others are "
            "marts.fct_option_universe_<name>. Modeled quotes have no open interest: only a "
            "universe without a liquidity floor (`wide`) holds them.",
        )
    d1, d2, d3, d4 = st.columns([1.2, 1.2, 1.2, 2.0])
    bounds = {
        "min_value": dt.date(1990, 1, 1),
        "max_value": dt.date(2100, 12, 31),
        "format": "YYYY-MM-DD",
    }
    with d1:
        form.widget(
            "start_date",
            st.date_input,
            "Start date",
            value=None,
            help="Empty: the chain's first",
            **bounds,
        )
    with d2:
        form.widget(
            "end_date",
            st.date_input,
            "End date",
            value=None,
            help="Empty: the chain's last",
            **bounds,
        )
    with d3:
        form.number("initial_capital_usd", "Initial capital (USD)", step=10_000.0, format="%.0f")
    with d4:
        if roots.height:
            spans = "; ".join(
                f"{r['option_root']} {r['first_date']} → {r['last_date']} ({r['n_quotes']:,})"
                for r in roots.iter_rows(named=True)
            )
            st.caption(f"{underlying} on the {chain_source} chain: {spans} quotes.")
    return None


def _on_underlying(published: Published) -> None:
    underlying = st.session_state[_key("underlying_symbol")]
    source = st.session_state.get(_key("chain_source"), "real")
    coverage = _cached_coverage(*published.key, source)
    roots = (
        coverage.filter(pl.col("underlying_symbol") == underlying)
        .sort("n_quotes", descending=True)["option_root"]
        .to_list()
    )
    _set("option_roots", tuple(roots))


def _entries(form: _Form, models: list[str], has_back: bool) -> None:
    st.markdown("**Entries**")
    schedule = form.select("schedule", "Schedule", SCHEDULES)
    if schedule == "weekly":
        form.number("weekday", "Weekday (1 = Monday … 5 = Friday)", step=1)
    form.number("target_dte", "Target DTE (calendar days)", step=1)
    form.number("min_dte", "Min DTE", step=1)
    form.number("max_dte", "Max DTE", step=1)
    if has_back:
        st.caption("Back expiration (legs with expiry back):")
        form.number("back_target_dte", "Back target DTE", step=1)
        form.number("back_min_dte", "Back min DTE", step=1)
        form.number("back_max_dte", "Back max DTE", step=1)
    form.number("max_open_positions", "Max open positions", step=1)
    signal = form.select("signal", "Signal", SIGNALS)
    if signal in runner.MODEL_SIGNALS:
        if form.values.forecast_model is None and models:
            form.values = dataclasses.replace(form.values, forecast_model=models[0])
        form.select(
            "forecast_model",
            "Forecast model",
            _options(models, form.values.forecast_model),
            help="Recorded only, for the selector (it reads forecasts.fct_strategy_signals)"
            if signal == "selector"
            else "A current model of ml.model_registry",
        )
    if signal in runner.THRESHOLD_SIGNALS:
        form.number("threshold", "Threshold (probability, 0 to 1)", step=0.05, format="%.2f")
    if signal == "regime_in":
        form.widget("regimes", st.multiselect, "Regimes", list(REGIMES))
    if signal == "top_k":
        form.number("k", "k contracts per day", step=1)
    return signal


def _sizing(form: _Form) -> None:
    st.markdown("**Sizing**")
    mode = form.select("sizing_mode", "Sizing", SIZING)
    if mode == "fixed":
        form.number("contracts", "Lots per entry", step=1)
    else:
        form.number("fraction", "Equity fraction (decimal, 0.02 = 2 %)", step=0.01, format="%.4f")


def _execution(form: _Form) -> None:
    st.markdown("**Execution**")
    fill = form.select("fill", "Fill model", FILLS)
    if fill == "mid_slippage":
        form.number("slippage_bps", "Slippage (bps of mid)", step=5.0)
    if fill == "spread_fraction":
        form.number("spread_fraction", "Fraction of the half spread (0 to 1)", step=0.1)
    form.number(
        "commission_per_contract_usd", "Commission per contract (USD)", step=0.05, format="%.2f"
    )
    form.number("max_spread_pct", "Max bid-ask spread at entry (% of mid)", step=1.0)


def _exits(form: _Form, signal: str) -> None:
    st.markdown("**Exits** (empty = off)")
    form.number(
        "take_profit_pct",
        "Take-profit (% of debit, or of credit)",
        step=5.0,
        placeholder="off",
        help="Empty = off; 0 closes at the first mark at or above the entry.",
    )
    form.number(
        "stop_loss_pct",
        "Stop-loss (% of debit, or of credit)",
        step=5.0,
        placeholder="off",
        help="Empty = off.",
    )
    form.number(
        "holding_days",
        "Hold N sessions",
        step=1,
        placeholder="off: to expiry",
        help="Empty = hold to expiry (or another rule); at least 1.",
    )
    form.number(
        "exit_dte",
        "Exit at DTE (calendar days)",
        step=1,
        placeholder="off",
        help="Empty = off; 0 closes on the expiration day's quotes.",
    )
    if signal in runner.EXIT_SIGNALS:
        form.widget("exit_on_signal", st.checkbox, "Exit when the p_up signal no longer holds")


def _form(published: Published) -> tuple[runner.FormValues, dict[str, Any]]:
    """Draw the form; return its values and the base mapping they are laid over."""
    if FORM_KEY not in st.session_state:
        values, base, source = runner.strategy_form(runner.DEFAULT_STRATEGY)
        _seed(values, base, source)
    notice = st.session_state.pop(FORM_NOTICE_KEY, None)
    if notice:
        (st.error if notice[0] == "error" else st.info)(notice[1])
    values: runner.FormValues = st.session_state[FORM_KEY]
    base: dict[str, Any] = st.session_state[BASE_KEY]
    form = _Form(values)
    catalogue = runner.catalogue()
    names = {name: name for name in catalogue}
    top = st.columns([2, 3, 1], vertical_alignment="bottom")
    with top[0]:
        strategy = form.select(
            "strategy",
            "Strategy",
            names,
            on_change=_on_strategy,
            help="Picking one fills the whole form with that strategy's own defaults.",
        )
    with top[1]:
        spec = catalogue.get(strategy)
        st.caption(
            (spec.description + (" Cash-secured." if spec.cash_secured else ""))
            if spec
            else f"{strategy}: legs from a cloned run (not a catalogue strategy)."
        )
    top[2].button(
        "Reset",
        key="bt_reset",
        on_click=_on_reset,
        disabled=spec is None,
        icon=":material/restart_alt:",
        help="Back to the chosen strategy's own defaults, legs included.",
    )
    st.markdown("**Legs**")
    legs = _legs_editor()
    st.caption(
        "Strike rules: delta |Δ| in (0, 1) (puts too: 0.20 is delta −0.20); moneyness S/K; "
        "ATM + % of spot; the first strike at or above / last at or below spot·(1 + %/100) "
        "(Cboe BXM / CLL rules); % of spot from an earlier leg's strike; or that leg's strike. "
        "A 20-delta bull put spread: leg 1 short put delta 0.20, leg 2 long put −2 % of spot "
        "from leg 1."
    )
    st.markdown("**Market**")
    _market(form, published)
    choices = _cached_choices(*published.key, form.changes.get("underlying_symbol") or "SPX")
    models = list(choices.models)
    has_back = any(leg.leg_type != "stock" and leg.expiry == "back" for leg in legs)
    entries, sizing, execution, exits = st.columns(4, gap="medium")
    with entries:
        signal = _entries(form, models, has_back)
    with sizing:
        _sizing(form)
    with execution:
        _execution(form)
    with exits:
        _exits(form, signal)
    values = form.result(legs)
    st.session_state[FORM_KEY] = values
    st.session_state[DRAWN_KEY] = frozenset(_DRAWN)
    extra = runner.settings_outside_form(base)
    st.caption(
        f"Defaults from {st.session_state[SOURCE_KEY]}."
        + (
            " Also set there, not shown in this form: " + ", ".join(f"`{s}`" for s in extra) + "."
            if extra
            else " Every other key is the engine's default (engine/config.py)."
        )
    )
    return values, base


def _run(published: Published, values: runner.FormValues, base: dict[str, Any]) -> None:
    """Validate, run with a step-by-step status, and keep the outcome in the session."""
    st.session_state.pop(OUTCOME_KEY, None)
    try:
        cfg = runner.build_config(values, base)
    except ConfigError as exc:
        st.error(f"Invalid setting: {exc}", icon=":material/error:")
        return
    steps = len(runner.STEPS)
    failure: str | None = None
    with st.status(f"Backtesting {cfg.run_id}", expanded=True) as status:
        progress = st.progress(0.0)

        def report(step: str, message: str) -> None:
            n = runner.STEPS.index(step)
            progress.progress(n / steps, text=f"{step}: {message}")
            status.update(label=f"Step {n + 1} of {steps}: {message}")

        try:
            outcome = runner.run_on_published(cfg, published.path, progress=report)
        except (MissingTableError, ValueError) as exc:
            failure = str(exc)
            status.update(label="The backtest could not run", state="error", expanded=False)
        else:
            t = outcome.timings_s
            progress.progress(1.0, text="done")
            status.update(
                label=(
                    f"Ran {cfg.run_id} in {t['total']:.2f} s (load {t['load']:.2f} s, "
                    f"run {t['run']:.2f} s)"
                ),
                state="complete",
                expanded=False,
            )
            st.session_state[OUTCOME_KEY] = outcome
    if failure is not None:
        st.error(f"The backtest could not run: {failure}", icon=":material/error:")


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
    _show_run(
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
        values, base = _form(published)
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
        st.session_state[TAB_KEY] = SAVED_TAB
    elif TAB_KEY not in st.session_state:  # back from another page: the tab it was left on
        st.session_state[TAB_KEY] = st.session_state.get(LAST_TAB_KEY, SAVED_TAB)
    # Only the open tab runs (a long saved run's charts, or the form's widgets, are not drawn
    # behind the other tab); switching tabs reruns the page.
    saved, new = st.tabs([SAVED_TAB, NEW_TAB], key=TAB_KEY, on_change="rerun")
    if saved.open:
        with saved:
            _saved_tab(published, runs, problems)
    if new.open:
        with new:
            # the engine names any input table it lacks when the form is run (MissingTableError)
            _new_run(published, set(runs["run_id"].to_list()))
    st.session_state[LAST_TAB_KEY] = st.session_state[TAB_KEY]


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
