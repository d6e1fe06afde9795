"""Benchmarks page: the engine's runs of Cboe strategy benchmark rules against the published
indices (BXM, BXMD, PUT, CNDR, BFLY, CLL, PPUT; product issue 18).

A table of every replication (benchmark × chain source) with its whole-run tracking figures,
then one chosen replication: its replicated and published levels, its figures by year and by
roll cycle, against the issue's targets. A replication on the modeled chain carries a "Modeled
chain" badge and says its prices are MODELED; one without a published history says its level is
normalised to 100 and how to add the history. Reads through :mod:`app.queries.benchmarks` (and
:func:`app.queries.run_chains`, the chain model of each run) only.

Deep link (:mod:`app.links`): the chosen replication lives in the URL's query parameters, read
when the page opens and written back when it changes, e.g.
``benchmarks?benchmark=PUT&chain_source=real``. ``benchmark`` is a benchmark symbol (any case),
``chain_source`` ``real`` or ``modeled``; either alone picks that benchmark's (or chain's) first
replication, one with a published history first. A value without a replication is ignored with
a note on the page.
"""

from __future__ import annotations

import duckdb
import polars as pl
import streamlit as st

import app.queries as backtest_queries
from app import links
from app.charts.benchmarks import benchmark_levels_chart
from app.formatting import fmt_pct, fmt_ratio, table_config
from app.page import BUILD_HINT, Published, run_page
from app.queries import benchmarks as queries

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = dict(queries.REQUIRED)

REPLICATION_KEY = "benchmark_replication"  # the replication selector's widget key

_CHAINS_SCHEMA = {"run_id": pl.String, "chain_source": pl.String, "chain_model_version": pl.String}


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_replications(db: str, db_version: str) -> pl.DataFrame:
    return queries.replications(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_benchmark_chains(db: str, db_version: str) -> pl.DataFrame:
    try:
        return backtest_queries.run_chains(db)
    except duckdb.CatalogException:  # no backtest.runs: nothing to label
        return pl.DataFrame(schema=_CHAINS_SCHEMA)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_replication(
    db: str, db_version: str, benchmark_symbol: str, chain_source: str
) -> queries.Replication:
    return queries.replication(db, benchmark_symbol, chain_source)


def _chain(row: dict) -> str:
    label = backtest_queries.chain_label(row["chain_source"], row["chain_model_version"])
    return label.replace("modeled", "MODELED", 1)


def _overview(replications: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Benchmark": replications["benchmark_symbol"],
            "Chain": [_chain(row) for row in replications.iter_rows(named=True)],
            "Period": [
                f"{row['first_date']} to {row['last_date']}"
                for row in replications.iter_rows(named=True)
            ],
            "Published history": [
                "loaded" if has else "none (level 100 at start)"
                for has in replications["has_published_history"]
            ],
            "Replicated": [fmt_pct(v) for v in replications["replicated_return"]],
            "Published": [fmt_pct(v) for v in replications["published_return"]],
            "Monthly correlation": [
                fmt_ratio(v, digits=3) for v in replications["monthly_return_correlation"]
            ],
            "Tracking error": [fmt_pct(v) for v in replications["tracking_error_annualised"]],
        }
    )


def _seed_replication(pairs: list[tuple[str, str]], tracked: list[bool]) -> None:
    """Put the link's replication (``benchmark``, ``chain_source``) in the selector's state on
    the page's first run; the default (the first with a published history) otherwise."""
    default = pairs[tracked.index(True) if True in tracked else 0]
    if REPLICATION_KEY in st.session_state:
        if st.session_state[REPLICATION_KEY] not in pairs:  # gone after a publish
            st.session_state[REPLICATION_KEY] = default
        return
    symbols = sorted({symbol for symbol, _ in pairs})
    symbol = links.read_value(
        "benchmark",
        None,
        parse=str.upper,
        valid=symbols.__contains__,
        what=f"benchmark with a replication ({', '.join(symbols)})",
    )
    rows = [i for i, pair in enumerate(pairs) if symbol in (None, pair[0])]
    offered = sorted({pairs[i][1] for i in rows})
    chain_source = links.read_value(
        "chain_source",
        None,
        parse=str.lower,
        valid=offered.__contains__,
        what=f"chain source of {symbol or 'a replication'} ({' or '.join(offered)})",
    )
    rows = [i for i in rows if chain_source in (None, pairs[i][1])]
    if symbol is None and chain_source is None:
        st.session_state[REPLICATION_KEY] = default
    else:
        st.session_state[REPLICATION_KEY] = pairs[next((i for i in rows if tracked[i]), rows[0])]


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    replications = _cached_replications(*published.key)
    if replications.is_empty():
        st.info(
            "No benchmark replication in the warehouse yet: run a config of "
            f"`engine/configs/benchmarks/`, then the forecasts build. {BUILD_HINT}"
        )
        return
    replications = replications.join(
        _cached_benchmark_chains(*published.key).select("run_id", "chain_model_version"),
        on="run_id",
        how="left",
    )
    st.caption(
        "Each row is one engine run of a Cboe strategy index's published rules "
        "(`engine/configs/benchmarks/`), its equity normalised to the published level on the "
        "first common session, compared over monthly returns: the whole run here, by year and "
        "by roll cycle below. Targets (issue 18): monthly correlation ≥ "
        f"{queries.TARGET_MONTHLY_CORRELATION}, tracking error ≤ "
        f"{fmt_pct(queries.TARGET_TRACKING_ERROR, 0)} a year on modeled years; on the real "
        f"chain, each cycle within {queries.TARGET_CYCLE_RETURN_DIFFERENCE * 100:g} percentage "
        "points of the index."
    )
    st.dataframe(_overview(replications), hide_index=True)

    labels = {
        (row["benchmark_symbol"], row["chain_source"]): f"{row['benchmark_symbol']} · {_chain(row)}"
        for row in replications.iter_rows(named=True)
    }
    # opens on the link's replication, else the first with a published history to track (BXM)
    tracked = replications["has_published_history"].fill_null(False).to_list()
    _seed_replication(list(labels), tracked)
    chosen = st.selectbox(
        "Replication",
        options=list(labels),
        format_func=labels.__getitem__,
        key=REPLICATION_KEY,
        help="The address bar keeps this choice (`?benchmark=&chain_source=`): copy it to share "
        "the view.",
    )
    symbol, chain_source = chosen
    links.write({"benchmark": symbol, "chain_source": chain_source})
    row = replications.row(list(labels).index(chosen), named=True)
    if chain_source == "modeled":
        st.badge(
            f"Modeled chain · {row['chain_model_version'] or 'model unknown'}",
            icon=":material/science:",
            color="orange",
        )
    st.caption(
        f"Run `{row['run_id']}`. "
        + backtest_queries.chain_caption(chain_source, row["chain_model_version"])
    )
    if not row["has_published_history"]:
        st.info(
            f"No published {symbol} history is loaded: the replicated level starts at 100 and "
            f"there is nothing to track. Drop Cboe's `{symbol}_History.csv` (`DATE,{symbol}` or "
            "`DATE,OPEN,HIGH,LOW,CLOSE`) into `warehouse/vendor/benchmarks/` and rerun "
            "`make all`.",
            icon=":material/info:",
        )

    detail = _cached_replication(*published.key, symbol, chain_source)
    tiles = [
        ("Replicated return", fmt_pct(row["replicated_return"])),
        ("Published return", fmt_pct(row["published_return"])),
        ("Monthly correlation", fmt_ratio(row["monthly_return_correlation"], digits=3)),
        ("Tracking error (a year)", fmt_pct(row["tracking_error_annualised"])),
    ]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)

    chain_word = "MODELED chain" if chain_source == "modeled" else "real chain"
    if detail.levels.is_empty():
        st.warning(f"`forecasts.rpt_benchmark_replication` has no rows for {symbol}.")
    else:
        title = f"{symbol}: replicated vs published level ({chain_word})"
        st.altair_chart(benchmark_levels_chart(detail.levels, title), width="stretch")
        base = (
            "scaled to the published level on the first session both have; gaps in the "
            "published line are sessions Cboe published no level"
            if row["has_published_history"]
            else "scaled to 100 on the run's first session (no published history to scale to)"
        )
        st.caption(
            "Index points. The replicated level is the run's equity (a total-return value, "
            f"USD) {base} (`forecasts.rpt_benchmark_replication`)."
        )

    st.subheader("By year")
    years = queries.years_table(detail.years)
    # every year visible without scrolling (35 px a row, the header included)
    st.dataframe(years, hide_index=True, height=(years.height + 1) * 35 + 3)
    st.caption(
        "Returns compounded from monthly returns between month-end sessions both series have; "
        "correlation of the monthly returns; tracking error = sample standard deviation of the "
        "monthly return differences × √12. n/a below 3 months or without a published history "
        "(`forecasts.rpt_benchmark_replication_summary`)."
    )

    st.subheader("Roll cycles")
    if detail.cycles.is_empty():
        st.info("The run has no roll cycle (no entry before its last session).")
        return
    cycles = queries.cycles_table(detail.cycles)
    st.dataframe(cycles, hide_index=True, column_config=table_config(cycles))
    st.caption(
        "From one roll date (an entry of the run) to the next; the last cycle runs to the run's "
        "last session. Cumulative returns between the two closes, their difference in "
        "percentage points, and the daily returns' tracking error × √252 "
        "(`forecasts.rpt_benchmark_replication_cycles`)."
    )


run_page("Benchmarks", REQUIRED, body)
