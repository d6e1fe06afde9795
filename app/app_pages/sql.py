"""SQL page: a read-only console over the published warehouse, with a row limit.

Statements run through :func:`app.queries.run_readonly_sql`: one query at a time, refused when
over the size limit or when it names a file or a file-reading function, on a read-only DuckDB
instance of its own with no local file system, no extension loading, its configuration locked,
and bounded in time, memory and threads (:mod:`warehouse.sql`; ``WAREHOUSE_SQL_*`` variables), so
nothing typed here can read or write a file, change a table, or hold up other users' pages.
"""

from __future__ import annotations

import streamlit as st

from app import queries
from app.page import Published, run_page
from warehouse.sql import SqlLimits

EXAMPLE = (
    "select strategy, count(*) as trades, sum(pnl_usd) as pnl_usd\n"
    "from backtest.trades group by all order by pnl_usd desc"
)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_relations(db: str, db_version: str):
    return queries.list_relations(db)


def body(published: Published) -> None:
    """Draw the console for the published database."""
    db = published.path
    limits = SqlLimits.from_env()
    st.caption(
        f"Read-only SQL on `{db.name}`: one query at a time, at most {limits.describe()}; "
        "files, extensions and settings are out of reach."
    )
    with st.expander("Tables and views"):
        st.dataframe(_cached_relations(*published.key), hide_index=True)
        st.caption(
            "`staging` views read the landed parquet files, which this console cannot open; "
            "query the tables built from them (`marts`, `dq.dq_landing_batches`, "
            "`dq.dq_landing_rejects`, ...) instead."
        )
    # One character over the limit: a longer paste is cut there and then refused with a message
    # naming the limit, rather than cut at the limit into a baffling syntax error.
    sql = st.text_area(
        "Statement", value=EXAMPLE, height=160, max_chars=limits.max_statement_bytes + 1
    )
    max_rows = st.number_input("Row limit", min_value=1, max_value=10_000, value=200, step=100)
    if not st.button("Run", type="primary"):
        return
    # a locked or vanished file propagates to run_page, which explains it on the page
    result = queries.run_readonly_sql(db, sql, int(max_rows), limits)
    if result.error is not None:
        st.error(result.error)
        return
    if result.frame is not None and result.frame.width:
        st.dataframe(result.frame, hide_index=True)
        shown = (
            f"first {result.frame.height:,} rows"
            if result.truncated
            else (f"{result.frame.height:,} rows")
        )
        st.caption(shown)
    else:
        st.success("done")


run_page("SQL", None, body)
