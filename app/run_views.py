"""One backtest run as the Backtest page shows it, saved or new: the views of a :class:`RunView`.

:func:`show_run` draws, top to bottom: the option chain the run traded (a run on the modeled
chain carries a "Modeled chain" badge and says its quotes are model prices), its figures with
their sample (annualised ones greyed out when the sample is too small), equity and drawdown,
rolling Sharpe (long runs only), greeks exposure, the entries it skipped by reason, trades, legs,
and the config it ran as YAML (shown and downloadable). A saved run's trades link to their
drill-down on the Trades page (``trades?run=<run_id>&trade=<trade_id>``, built with
:func:`app.links.url`): a link on each row of the trades table (a new tab), and a trade picker
with a link that opens it here. The Backtest page
(:mod:`app.app_pages.backtest`) builds the view of a saved run from the published warehouse and
of a new run from its :class:`app.backtest_runner.RunOutcome`.

Streamlit elements only: the figures come from :mod:`app.formatting`, the charts from
:mod:`app.charts`, the statistics' sample from :mod:`app.backtest_runner` and the YAML from
:mod:`app.run_form`; nothing here reads the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from app import backtest_runner as runner
from app import charts, links, queries
from app.formatting import (
    LEG_COLUMNS,
    SAMPLE_RULE,
    TRADE_COLUMNS,
    fmt_usd,
    numbered_legs,
    numbered_trades,
    run_sample,
    stat_tiles,
    table_config,
)
from app.page import BUILD_HINT
from app.run_form import config_yaml
from engine.config import BacktestConfig

#: :attr:`RunView.key` of a saved run: only a saved run is on the Trades page.
SAVED_KEY = "saved"
#: The Trades page: its URL path, its file (for ``st.page_link``) and its query parameters
#: (app/app_pages/trades.py ``RUN_PARAM``, ``TRADE_PARAM``).
TRADES_PAGE, TRADES_PAGE_FILE = "trades", "app_pages/trades.py"
TRADES_RUN_PARAM, TRADES_TRADE_PARAM = "run", "trade"
#: The trades table's link column.
LINK_COLUMN = "drill-down"


@dataclass(frozen=True)
class RunView:
    """One run as the page shows it (saved, or new and unsaved).

    ``metrics`` holds every column the engine wrote (the sample included where it did);
    ``skipped`` is ``None`` when the warehouse has no ``backtest.skipped_entries``; ``key`` tells
    the widgets of the two tabs apart (:data:`SAVED_KEY` for a saved run, whose trades link to
    the Trades page).
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


def trade_links(run_id: str, trade_ids: pl.Series) -> pl.Series:
    """The Trades page's deep link of each trade of saved run ``run_id``.

    Parameters
    ----------
    run_id
        A run of ``backtest.runs``.
    trade_ids
        Its trades' ``trade_id`` (int), any order, shape ``(n_trades,)``.

    Returns
    -------
    polars.Series
        ``drill-down``: a relative link per trade, in the order of ``trade_ids``
        (:func:`app.links.url`).

    Examples
    --------
    >>> trade_links("bxm-432d1583d6e2", pl.Series([1, 5])).to_list()
    ['trades?run=bxm-432d1583d6e2&trade=1', 'trades?run=bxm-432d1583d6e2&trade=5']
    """
    urls = [
        links.url(TRADES_PAGE, {TRADES_RUN_PARAM: run_id, TRADES_TRADE_PARAM: int(trade_id)})
        for trade_id in trade_ids  # a few hundred trades: microseconds each
    ]
    return pl.Series(LINK_COLUMN, urls, dtype=pl.String)


def _trade_choice(row: dict[str, Any]) -> str:
    return (
        f"#{row['#']} · trade {row['trade_id']} · {row['entry_date']} → "
        f"{row['exit_date'] or 'open'} · {fmt_usd(row['pnl_usd'])}"
    )


@st.fragment
def _show_trade_link(run_id: str, key: str, shown: pl.DataFrame) -> None:
    """A trade picker and a link that opens its drill-down on the Trades page (this tab).

    A fragment: a pick reruns only the picker and its link, not the run's charts and tables.
    """
    rows = {row["trade_id"]: row for row in shown.iter_rows(named=True)}
    picker, link = st.columns([3, 2], vertical_alignment="bottom")
    trade_id = picker.selectbox(
        "Drill into a trade",
        list(rows),
        format_func=lambda t: _trade_choice(rows[t]),
        key=key,
        help="Its legs, daily marks, P&L path against the exit levels, payoff and greeks "
        "attribution, on the Trades page.",
    )
    link.page_link(
        TRADES_PAGE_FILE,
        label=f"Open trade {trade_id} on the Trades page",
        icon=":material/receipt_long:",
        query_params={TRADES_RUN_PARAM: run_id, TRADES_TRADE_PARAM: str(trade_id)},
    )


def _show_trades(view: RunView) -> None:
    trades = view.detail.trades
    st.subheader(f"Trades ({trades.height})")
    if trades.is_empty():
        st.info("This run made no trades: the skipped entries above say why.")
        return
    shown = numbered_trades(trades)
    saved = view.key == SAVED_KEY
    columns = list(TRADE_COLUMNS)
    config = _trade_config(shown)
    if saved:
        shown = shown.with_columns(trade_links(view.run_id, shown["trade_id"]))
        columns.append(LINK_COLUMN)
        config[LINK_COLUMN] = st.column_config.LinkColumn(
            LINK_COLUMN,
            display_text="open ↗",
            width=80,
            help="This trade on the Trades page (a new tab): legs, daily marks, P&L path, "
            "payoff and greeks attribution.",
        )
    st.dataframe(shown.select(columns), hide_index=True, column_config=config)
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
    if saved:
        # one picker per run (its options are the run's trades)
        _show_trade_link(
            view.run_id,
            f"bt_trade_link_{view.key}_{view.run_id}",
            shown.select("#", "trade_id", "entry_date", "exit_date", "pnl_usd"),
        )
    box = _lazy_expander("All trade columns", f"bt_all_trades_{view.key}")
    if box is not None:
        box.dataframe(shown, hide_index=True, column_config=config)


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
    text = config_yaml(view.config, run_id=view.run_id)
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


def show_run(view: RunView) -> None:
    """Draw every view of ``view``, in the order of the module doc."""
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
