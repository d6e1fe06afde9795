"""Data quality page: landing validation results, dbt test results by severity, rejected rows,
refused vendor files.

Reads ``dq.dq_landing_summary``, ``dq.test_results``, ``dq.dq_landing_rejects`` and, when present,
``dq.dq_landing_refusals`` (see :mod:`app.queries.quality`); every filter reaches SQL as a bound
parameter. Dates show as dates; the load and check times (``*_at``) are instants, shown to the
minute and labelled UTC. The test-count panels have independent x scales, each labelled so.

Deep links (:mod:`app.links`): the filters live in the URL's query parameters, read when the
page opens and written back as they change, and left out at their defaults, e.g.
``data_quality?status=fail&severity=error&rule=expect_column_values_to_be_in_set:is_exchange_session``.
``status`` (repeated; ``status=`` none, which shows all) is one of fail, error, warn, pass;
``severity`` (repeated) error or warn; ``rule`` a landing rule with rejected rows. A value not
on offer is ignored with a note on the page.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import links
from app.charts import quality as charts
from app.formatting import table_config
from app.page import Published, run_page
from app.queries import quality as queries

STATUSES = ("fail", "error", "warn", "pass")
SEVERITIES = ("error", "warn")
ALL_RULES = "(all rules)"
DEFAULT_STATUSES = ["fail", "error", "warn"]
# Widget keys (session state) of the filters, shared as ?status=, ?severity=, ?rule=.
STATUS_KEY = "quality_statuses"
SEVERITY_KEY = "quality_severities"
RULE_KEY = "quality_rule"


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_landing(db: str, db_version: str):
    return queries.landing_summary(db)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_counts(db: str, db_version: str):
    return queries.dbt_test_counts(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_tests(db: str, db_version: str, statuses: tuple[str, ...], severities: tuple[str, ...]):
    return queries.dbt_test_results(db, statuses, severities)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_refused(db: str, db_version: str):
    return queries.refused_files(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_rejects(db: str, db_version: str, rule: str | None):
    return queries.rejected_rows(db, rule)


def _table_config(frame: pl.DataFrame) -> dict[str, object]:
    """:func:`app.formatting.table_config` with every timestamp column headed ``(UTC)``."""
    config = table_config(frame)
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            config[name] = st.column_config.DatetimeColumn(
                f"{name} (UTC)", format="YYYY-MM-DD HH:mm", timezone="UTC"
            )
    return config


def _landing(published: Published) -> None:
    st.subheader("Landing validation")
    st.caption(
        "great-expectations suites run on every vendor file as it lands. `error` rules reject "
        "the row (kept below with its reason); `warning` rules land it flagged."
    )
    landing = _cached_landing(*published.key)
    if landing.is_empty():
        st.success("Every landed row passed every landing rule.")
        return
    st.dataframe(landing, hide_index=True, column_config=_table_config(landing))


def _tests(published: Published) -> None:
    st.subheader("dbt data tests")
    counts = _cached_counts(*published.key)
    if counts.is_empty():
        st.info("No dbt test results recorded yet (`make build`).")
        return
    st.altair_chart(charts.dbt_tests_chart(counts), width="content")
    st.caption(
        "One panel per severity, each on its own x scale (the error panel counts hundreds of "
        "NOT NULL checks, the warn panel about a dozen tests): compare the counts at the bar "
        "ends, not the bar lengths across panels."
    )
    links.seed_list(STATUS_KEY, "status", DEFAULT_STATUSES, allowed=STATUSES, what="test status")
    links.seed_list(
        SEVERITY_KEY, "severity", list(SEVERITIES), allowed=SEVERITIES, what="test severity"
    )
    left, right = st.columns(2)
    statuses = left.multiselect("Status", STATUSES, key=STATUS_KEY)
    severities = right.multiselect("Severity", SEVERITIES, key=SEVERITY_KEY)
    links.write(
        {"status": statuses, "severity": severities},
        defaults={"status": DEFAULT_STATUSES, "severity": list(SEVERITIES)},
    )
    tests = _cached_tests(*published.key, tuple(statuses), tuple(severities))
    st.caption(f"{tests.height:,} test(s) shown, worst first (empty filters show all).")
    st.dataframe(
        tests,
        hide_index=True,
        column_config=_table_config(tests),
    )


def _rejects(published: Published) -> None:
    st.subheader("Rejected rows")
    every = _cached_rejects(*published.key, None)
    if every.is_empty():
        st.success("No vendor row was rejected at landing.")
        return
    rules = [ALL_RULES, *sorted(set(every.get_column("rule").to_list()))]
    if st.session_state.get(RULE_KEY, ALL_RULES) not in rules:  # gone after a publish
        st.session_state[RULE_KEY] = ALL_RULES
    links.seed_value(
        RULE_KEY,
        "rule",
        ALL_RULES,
        valid=rules[1:].__contains__,
        what="landing rule with rejected rows",
    )
    rule = st.selectbox("Rule", rules, key=RULE_KEY)
    links.write({"rule": None if rule == ALL_RULES else rule})
    rejects = every if rule == ALL_RULES else every.filter(pl.col("rule") == rule)
    st.caption(f"{rejects.height:,} rejected row(s): the vendor's file and line, and the row.")
    st.dataframe(rejects, hide_index=True, column_config=_table_config(rejects))


def _refused(published: Published) -> None:
    st.subheader("Refused files")
    refused = _cached_refused(*published.key)
    if refused.is_empty():
        st.success("No refused files: every vendor file was claimed by a layout and read.")
        return
    st.warning(
        f"{refused.height:,} vendor file(s) refused by the latest load: nothing of them landed. "
        "`layout` is the layout that claimed the file, `(none)` when no layout did."
    )
    st.dataframe(refused, hide_index=True, column_config=_table_config(refused))


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    _landing(published)
    _tests(published)
    _rejects(published)
    _refused(published)


run_page("Data quality", queries.REQUIRED, body)
