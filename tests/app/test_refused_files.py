"""Refused vendor files (issue 16) on the Overview and Data quality pages, on a SYNTHETIC
published warehouse: the ``dq`` tables those pages read, empty, plus ``dq.dq_landing_refusals``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from app.queries import overview, quality
from tests.app.conftest import open_app_page
from warehouse.paths import WarehousePaths

# Empty SYNTHETIC dq tables with the columns the two pages read.
_DQ_DDL = """
create schema dq;
create table dq.dq_data_coverage (
    dataset varchar, source varchar, symbol varchar, first_date date, last_date date,
    n_rows bigint, n_dates bigint
);
create table dq.dq_landing_batches (
    vendor varchar, entity varchar, rows_in bigint, rows_landed bigint, rows_rejected bigint,
    rows_warned bigint, loaded_at timestamptz, is_current boolean
);
create table dq.test_results (
    test_name varchar, category varchar, target_model varchar, target_columns varchar,
    severity varchar, status varchar, failures bigint, message varchar, invocation_id varchar,
    checked_at timestamptz
);
create table dq.dq_landing_summary (
    vendor varchar, entity varchar, rule varchar, severity varchar, failing_rows bigint,
    n_batches bigint, example_rows varchar, last_loaded_at timestamptz
);
create table dq.dq_landing_rejects (
    vendor varchar, entity varchar, rule varchar, source_file varchar, source_line bigint,
    row_json varchar, loaded_at timestamptz, is_current boolean
);
"""

_REFUSALS_DDL = """
create table dq.dq_landing_refusals (
    source_file varchar primary key, reason varchar not null, layout varchar, vendor varchar,
    entity varchar, source_sha256 varchar, source_bytes bigint, refused_at timestamptz,
    is_claimed boolean
);
"""

# SYNTHETIC refusals: a truncated chain file its layout claimed, and a file no layout claims.
_REFUSALS_ROWS = """
insert into dq.dq_landing_refusals values
    ('options/cboe_l2/SPX_20190426.csv.gz', 'cannot read as CSV: unexpected end of file',
     'cboe_eod_chain', 'cboe', 'option_quotes', 'ab12', 3000,
     '2026-01-02 03:04:05+00', true),
    ('misc/unknown_layout.csv',
     'no vendor layout claims it (see `python -m loaders formats`)',
     null, null, null, 'cd34', 49, '2026-01-02 03:04:05+00', false);
"""


def _publish(root: Path, *, refusals: str | None) -> Path:
    """The SYNTHETIC published file; ``refusals``: None (no table, a warehouse published before
    issue 16), "" (an empty table) or rows to insert."""
    db = WarehousePaths(root).published_db
    con = duckdb.connect(str(db))
    try:
        con.execute(_DQ_DDL)
        if refusals is not None:
            con.execute(_REFUSALS_DDL)
            if refusals:
                con.execute(refusals)
        con.execute("checkpoint")
    finally:
        con.close()
    return db


def test_queries_list_refused_files_by_path(warehouse_dir: Path) -> None:
    db = _publish(warehouse_dir, refusals=_REFUSALS_ROWS)
    refused = quality.refused_files(db)
    assert refused.columns == ["source_file", "layout", "reason", "refused_at"]
    assert refused.rows() == [
        (
            "misc/unknown_layout.csv",
            "(none)",
            "no vendor layout claims it (see `python -m loaders formats`)",
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ),
        (
            "options/cboe_l2/SPX_20190426.csv.gz",
            "cboe_eod_chain",
            "cannot read as CSV: unexpected end of file",
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ),
    ]
    assert overview.read_overview(db).refused.equals(refused)


@pytest.mark.parametrize("refusals", [None, ""], ids=["table absent", "table empty"])
def test_no_refused_files_reads_as_an_empty_frame(
    warehouse_dir: Path, refusals: str | None
) -> None:
    db = _publish(warehouse_dir, refusals=refusals)
    assert quality.refused_files(db).is_empty()
    assert overview.read_overview(db).refused.is_empty()


def test_overview_warns_with_the_count_and_lists_the_files(warehouse_dir: Path) -> None:
    _publish(warehouse_dir, refusals=_REFUSALS_ROWS)
    at = open_app_page("overview.py")
    [warning] = [w.value for w in at.warning]
    assert "2 vendor file(s) refused" in warning
    listed = at.dataframe[0].value
    assert list(listed["source_file"]) == [
        "misc/unknown_layout.csv",
        "options/cboe_l2/SPX_20190426.csv.gz",
    ]
    assert list(listed["layout"]) == ["(none)", "cboe_eod_chain"]


@pytest.mark.parametrize("refusals", [None, ""], ids=["table absent", "table empty"])
def test_overview_says_nothing_when_no_file_was_refused(
    warehouse_dir: Path, refusals: str | None
) -> None:
    _publish(warehouse_dir, refusals=refusals)
    at = open_app_page("overview.py")
    assert not at.warning and not at.error
    assert not any("refused" in str(m.value) for m in at.markdown)


def test_quality_page_lists_refused_files_last(warehouse_dir: Path) -> None:
    _publish(warehouse_dir, refusals=_REFUSALS_ROWS)
    at = open_app_page("data_quality.py")
    assert at.subheader[-1].value == "Refused files"
    assert any("2 vendor file(s) refused" in w.value for w in at.warning)
    listed = at.dataframe[-1].value
    assert list(listed.columns) == ["source_file", "layout", "reason", "refused_at"]
    assert "cannot read as CSV: unexpected end of file" in list(listed["reason"])


def test_quality_page_says_no_refused_files(warehouse_dir: Path) -> None:
    _publish(warehouse_dir, refusals="")
    at = open_app_page("data_quality.py")
    assert any(s.value.startswith("No refused files") for s in at.success)
