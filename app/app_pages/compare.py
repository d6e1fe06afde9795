"""Compare page: saved backtest runs side by side.

A multiselect of the runs of ``backtest.runs`` (default: the first :data:`DEFAULT_RUNS`), their
cumulative returns and drawdowns overlaid, and a metrics table with one column per run. Every
run says which option chain it traded (its label and the table's Chain row); when a chosen run
traded the modeled chain, a "Modeled chain" badge and caption say its quotes are model prices.
Reads the published warehouse through :mod:`app.queries` and :mod:`app.queries.compare` only.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

import app.queries as backtest_queries
from app import charts
from app.page import BUILD_HINT, Published, run_page
from app.queries import compare as queries

DEFAULT_RUNS = 5  # runs selected when the page opens

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = {
    f"backtest.{table}": columns for table, columns in queries.EXPECTED_COLUMNS.items()
}


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_runs(db: str, db_version: str) -> pl.DataFrame:
    return backtest_queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_chains(db: str, db_version: str) -> pl.DataFrame:
    return backtest_queries.run_chains(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_comparison(db: str, db_version: str, run_ids: tuple[str, ...]) -> queries.Comparison:
    return queries.compare_runs(db, run_ids)


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    runs = _cached_runs(*published.key)
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs to compare. {BUILD_HINT}")
        return
    chains = _cached_chains(*published.key)
    runs = runs.join(chains, on="run_id", how="left")
    labels = {
        run["run_id"]: f"{run['run_id']} ({run['underlying_symbol']}, "
        f"{run['first_date']} to {run['last_date']}, "
        f"{backtest_queries.chain_label(run['chain_source'], run['chain_model_version'])})"
        for run in runs.iter_rows(named=True)
    }
    options = list(labels)
    chosen = st.multiselect(
        "Runs",
        options,
        default=options[:DEFAULT_RUNS],
        format_func=labels.__getitem__,
        key="compare_runs",
        help="Saved runs of backtest.runs; save a new one from the Backtest page.",
    )
    if not chosen:
        st.info("Pick one or more runs to compare.")
        return
    comparison = _cached_comparison(*published.key, tuple(chosen))
    modeled = runs.filter(pl.col("run_id").is_in(chosen) & (pl.col("chain_source") == "modeled"))
    if modeled.height:
        versions = sorted({v or "model unknown" for v in modeled["chain_model_version"]})
        st.badge(
            f"Modeled chain · {', '.join(versions)}", icon=":material/science:", color="orange"
        )
        st.caption(
            f"{', '.join(modeled['run_id'])}: "
            + backtest_queries.MODELED_CHAIN_NOTE.format(version=f"model {', '.join(versions)}")
            + " Compare them with real-chain runs as model against market, not like for like."
        )

    if comparison.equity.is_empty():
        st.warning("The chosen runs have no rows in `backtest.equity_daily`.")
    else:
        st.altair_chart(charts.compare_equity_chart(comparison.equity), width="stretch")
        st.caption(
            "Cumulative return of each run from its own start: the product of (1 + daily "
            "return) so far, less one; its last point is the run's total return. Runs over "
            "different periods share the date axis."
        )
        st.altair_chart(charts.compare_drawdown_chart(comparison.equity), width="stretch")

    st.subheader("Metrics")
    if comparison.metrics.is_empty():
        st.warning("The chosen runs have no rows in `backtest.metrics`.")
        return
    table = queries.side_by_side(
        comparison.metrics.join(
            chains.select("run_id", "chain_source", "chain_model_version"), on="run_id", how="left"
        )
    )
    # every metric row visible without scrolling (35 px a row, the header included)
    st.dataframe(table, hide_index=True, height=(table.height + 1) * 35 + 3)
    st.caption(
        "Returns, CAGR, volatility, drawdown and win rate in percent; Sharpe, Sortino and "
        "Calmar annualised (252 trading days, risk-free rate 0); n/a where a metric is "
        "undefined (e.g. no trades)."
    )


run_page("Compare", REQUIRED, body)
