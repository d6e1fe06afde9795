"""Backtest page: pick a run, see its metrics, equity curve, drawdown and trades.

Reads the published warehouse (``WarehousePaths.from_env().published_db``) through
:mod:`app.queries` only. A missing warehouse or missing ``backtest`` tables is a normal state of a
fresh checkout, so it is explained on the page (run ``make all``) instead of raised.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import charts, queries
from app.formatting import fmt_usd, metric_tiles
from app.page import BUILD_HINT, Published, run_page

# Results are cached per (database path, file version): a publish os.replace()s the file, which
# changes its inode and mtime and so invalidates the cache. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run_detail(db: str, db_version: str, run_id: str) -> queries.RunDetail:
    return queries.run_detail(db, run_id)


def _run_label(run: dict[str, object]) -> str:
    """Selector label of one row of :func:`app.queries.list_runs`."""
    return (
        f"{run['run_id']} · {run['strategy']} · {run['underlying_symbol']} · "
        f"{run['forecast_model']} {run['model_version']}"
    )


def _show_metrics(metrics: pl.DataFrame) -> None:
    if metrics.is_empty():
        st.warning("This run has no row in `backtest.metrics`. " + BUILD_HINT)
        return
    row = metrics.row(0, named=True)
    tiles = metric_tiles(row)
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    st.caption(
        f"{row['first_date']} → {row['last_date']} · "
        f"average trade P&L {fmt_usd(row['avg_trade_pnl_usd'])}"
    )


def _show_equity(equity: pl.DataFrame) -> None:
    if equity.is_empty():
        st.warning("This run has no rows in `backtest.equity_daily`.")
        return
    st.altair_chart(charts.equity_chart(equity), width="stretch")
    st.altair_chart(charts.drawdown_chart(equity), width="stretch")


def _show_trades(trades: pl.DataFrame) -> None:
    st.subheader(f"Trades ({trades.height})")
    if trades.is_empty():
        st.info("This run made no trades.")
        return
    st.dataframe(
        trades,
        hide_index=True,
        column_config={
            **{
                column: st.column_config.DateColumn(column, format="YYYY-MM-DD")
                for column in ("expiration", "entry_date", "exit_date")
            },
            "signal_value": st.column_config.NumberColumn("signal_value", format="%.3f"),
            "trade_return": st.column_config.NumberColumn("trade_return", format="percent"),
            "pnl_usd": st.column_config.NumberColumn("pnl_usd", format="dollar"),
            "commission_usd": st.column_config.NumberColumn("commission_usd", format="dollar"),
        },
    )


REQUIRED = {f"backtest.{table}": columns for table, columns in queries.EXPECTED_COLUMNS.items()}


def body(published: Published) -> None:
    """Draw the page for the published warehouse."""
    db, db_version = published.key
    runs = _cached_runs(db, db_version)
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs. {BUILD_HINT}")
        return

    labels = {run["run_id"]: _run_label(run) for run in runs.iter_rows(named=True)}
    run_id = st.selectbox("Run", options=list(labels), index=0, format_func=labels.__getitem__)
    detail = _cached_run_detail(db, db_version, run_id)

    _show_metrics(detail.metrics)
    _show_equity(detail.equity)
    _show_trades(detail.trades)
    if detail.config_json:
        with st.expander("Run configuration"):
            st.code(detail.config_json, language="json")


run_page("Backtest", REQUIRED, body)
