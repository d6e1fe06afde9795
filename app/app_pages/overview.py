"""Overview page: when the published warehouse was built and from what, and its latest runs.

Reads ``dq.dq_data_coverage``, ``dq.dq_landing_batches``, ``dq.test_results`` and, when present,
``ml.model_registry``, ``backtest.runs``/``metrics`` and ``dq.dq_landing_refusals`` (see
:mod:`app.queries.overview`).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from app.charts import overview as charts
from app.formatting import fmt_int, table_config
from app.page import BUILD_HINT, Published, run_page
from app.queries import overview as queries


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_overview(db: str, db_version: str) -> queries.Overview:
    return queries.read_overview(db)


def _utc(value: object, suffix: str = " UTC") -> str:
    return value.strftime("%Y-%m-%d %H:%M") + suffix if isinstance(value, datetime) else "-"


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else "-"


def _count(tests: pl.DataFrame, status: str) -> int:
    return int(tests.filter(pl.col("status") == status).get_column("n_tests").sum())


def _tiles(published_at: datetime, last_load: object, overview: queries.Overview) -> None:
    loads, tests = overview.loads, overview.tests
    tiles = [
        ("Published", _day(published_at)),
        ("Last load", _day(last_load)),
        ("Rows landed", fmt_int(int(loads.get_column("rows_landed").sum()))),
        ("Rows rejected", fmt_int(int(loads.get_column("rows_rejected").sum()))),
        (
            "dbt tests: pass / warn / fail",
            f"{_count(tests, 'pass')} / {_count(tests, 'warn')} / "
            f"{_count(tests, 'fail') + _count(tests, 'error')}",
        ),
        ("Current models", fmt_int(overview.models.height)),
        ("Backtest runs", fmt_int(overview.backtests.height)),
    ]
    for start in range(0, len(tiles), 4):
        row = tiles[start : start + 4]
        for column, (label, value) in zip(st.columns(4), row, strict=False):
            column.metric(label, value, border=True)


def _refused(refused: pl.DataFrame) -> None:
    """A warning with the count and the list when the latest load refused vendor files."""
    if refused.is_empty():
        return
    st.warning(
        f"**{fmt_int(refused.height)} vendor file(s) refused** by the latest load: nothing of "
        "them landed (the other files did). Fix or remove them and run `make all` again; "
        "`python -m loaders refused` and the Data quality page list them too.",
        icon=":material/warning:",
    )
    st.dataframe(refused, hide_index=True, column_config=table_config(refused))


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    overview = _cached_overview(*published.key)
    published_at = published.published_at
    last_load = overview.loads.get_column("last_loaded_at").max() if overview.loads.height else None
    _tiles(published_at, last_load, overview)
    _refused(overview.refused)
    times = [f"Published {_utc(published_at)}", f"last load {_utc(last_load)}"]
    if overview.build.height and overview.build.item(0, "last_checked_at") is not None:
        build = overview.build.row(0, named=True)
        times.append(
            f"dbt tests last ran {_utc(build['last_checked_at'])} "
            f"({build['n_invocations']} invocation(s) since {_utc(build['first_checked_at'])})"
        )
    st.caption("; ".join(times) + ". The Data quality page lists every check.")

    st.subheader("Data coverage")
    if overview.coverage.is_empty():
        st.info(f"The warehouse holds no data yet. {BUILD_HINT}")
    else:
        st.altair_chart(charts.coverage_chart(overview.coverage), width="stretch")
        with st.expander("Coverage table"):
            st.dataframe(
                overview.coverage, hide_index=True, column_config=table_config(overview.coverage)
            )

    st.subheader("Loads")
    st.caption("Current landing batches per vendor and entity (validated at landing).")
    st.dataframe(
        overview.loads,
        hide_index=True,
        column_config=table_config(overview.loads),
    )

    left, right = st.columns(2)
    with left:
        st.subheader("Current models")
        if overview.models.is_empty():
            st.info("No model has been trained yet (`make forecast`).")
        else:
            st.dataframe(
                overview.models.select(
                    "model_name", "task", "train_end_date", "test_end_date", "n_train_rows"
                ),
                hide_index=True,
                column_config=table_config(overview.models),
            )
    with right:
        st.subheader("Backtest runs")
        if overview.backtests.is_empty():
            st.info("No backtest has been run yet (`make backtest`).")
        else:
            st.dataframe(
                overview.backtests.select(
                    "run_id", "strategy", "last_date", "n_trades", "total_return", "sharpe_ratio"
                ),
                hide_index=True,
                column_config={
                    **table_config(overview.backtests),
                    "total_return": st.column_config.NumberColumn("total_return", format="percent"),
                    "sharpe_ratio": st.column_config.NumberColumn("sharpe_ratio", format="%.2f"),
                },
            )


run_page("Overview", queries.REQUIRED, body)
