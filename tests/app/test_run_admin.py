"""app.run_admin: names, tags and deletes of saved runs, through the locked build-then-publish path.

Every write goes to a throwaway warehouse in ``tmp_path`` whose build and published databases
hold the SYNTHETIC backtest tables of conftest, with the run manifest of a complete pipeline run
(never the real /work/main/warehouse). The real-data test copies three runs' rows of every
``backtest`` table of the real published warehouse (read-only) into a file in ``tmp_path``.
"""

from __future__ import annotations

import doctest
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from app import backtest_runner, run_admin
from app.db import db_version
from app.queries import compare
from tests.app.conftest import (
    RUN_WITH_TRADES,
    RUN_WITHOUT_TRADES,
    SYNTHETIC_INVOCATION,
    build_backtest_db,
    pipeline_elsewhere,
    record_complete_run,
)
from warehouse.paths import WarehousePaths
from warehouse.publish import RunIncompleteError, publish


def _green(target: Path, status: str = "success") -> Path:
    """A SYNTHETIC dbt run_results.json of a `dbt build` whose one node has ``status``."""
    target.mkdir(parents=True, exist_ok=True)
    path = target / "run_results.json"
    results = [{"unique_id": "model.options.synthetic", "status": status}]
    metadata = {"invocation_id": SYNTHETIC_INVOCATION}
    path.write_text(
        json.dumps({"metadata": metadata, "args": {"which": "build"}, "results": results})
    )
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehousePaths:
    """A throwaway warehouse: the SYNTHETIC backtest tables built and published, after a
    complete pipeline run."""
    paths = WarehousePaths(tmp_path / "warehouse")
    build_backtest_db(paths.build_db)
    shutil.copyfile(paths.build_db, paths.published_db)
    record_complete_run(paths.root)
    return paths


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_doctests() -> None:
    assert doctest.testmod(run_admin).failed == 0


@pytest.mark.parametrize(
    ("name", "named"),
    [("x" * 81, "at most 80 characters, got 81"), ("a\x00b", "control characters"), (3, "text")],
)
def test_bad_names_are_refused_naming_them(name: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        run_admin.normalise_name(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        (["ok", "semi;colon"], "'semi;colon'"),
        (["x" * 33], "at most 32"),
        ([f"t{i}" for i in range(13)], "at most 12 tags, got 13"),
        ("wheel", "list of tags, got the text 'wheel'"),
        (["a  b", "x' or '1'='1"], "x' or '1'='1"),
    ],
)
def test_bad_tags_are_refused_naming_them(tags: object, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        run_admin.normalise_tags(tags)  # type: ignore[arg-type]


def test_a_label_is_written_to_the_build_db_and_published(warehouse: WarehousePaths) -> None:
    run_results = _green(warehouse.root / "target")

    report = run_admin.set_run_label(
        warehouse, RUN_WITH_TRADES, "  20-delta  straddle ", ["Earnings", "q2"],
        run_results=run_results,
    )  # fmt: skip

    assert (report.action, report.run_id) == ("label", RUN_WITH_TRADES)
    assert report.rows == {"backtest.run_labels": 1}
    assert set(report.timings_s) == {"write", "publish", "total"}
    for db in (warehouse.build_db, warehouse.published_db):
        assert _rows(db, "select run_id, name, tags, write_seq from backtest.run_labels") == [
            (RUN_WITH_TRADES, "20-delta straddle", ["earnings", "q2"], 1)
        ]
    runs = compare.list_runs(warehouse.published_db)
    assert compare.display_names(runs) == {
        RUN_WITH_TRADES: "20-delta straddle",
        RUN_WITHOUT_TRADES: RUN_WITHOUT_TRADES,  # unnamed, not an engine id: its run id
    }
    assert runs.filter(runs["run_id"] == RUN_WITH_TRADES)["tags"].to_list() == [["earnings", "q2"]]


def test_relabelling_replaces_and_an_empty_label_removes(warehouse: WarehousePaths) -> None:
    run_results = _green(warehouse.root / "target")
    run_admin.set_run_label(warehouse, RUN_WITH_TRADES, "one", [], run_results=run_results)
    run_admin.set_run_label(warehouse, RUN_WITHOUT_TRADES, None, ["flat"], run_results=run_results)
    run_admin.set_run_label(warehouse, RUN_WITH_TRADES, "two", ["x"], run_results=run_results)

    assert _rows(
        warehouse.published_db,
        "select run_id, name, tags, write_seq from backtest.run_labels order by run_id",
    ) == [(RUN_WITH_TRADES, "two", ["x"], 3), (RUN_WITHOUT_TRADES, None, ["flat"], 2)]

    report = run_admin.set_run_label(warehouse, RUN_WITH_TRADES, " ", [], run_results=run_results)

    assert report.rows == {"backtest.run_labels": 1}  # the row removed
    assert _rows(warehouse.published_db, "select run_id from backtest.run_labels") == [
        (RUN_WITHOUT_TRADES,)
    ]


def test_labelling_an_unknown_run_writes_nothing(warehouse: WarehousePaths) -> None:
    before = db_version(warehouse.published_db)

    with pytest.raises(run_admin.AdminError, match="has no run 'nope'") as excinfo:
        run_admin.set_run_label(
            warehouse, "nope", "x", [], run_results=_green(warehouse.root / "target")
        )

    assert not excinfo.value.written
    assert db_version(warehouse.published_db) == before
    assert _rows(
        warehouse.build_db,
        "select count(*) from information_schema.tables where table_name = 'run_labels'",
    ) == [(0,)]


def test_a_bad_label_is_refused_before_the_lock(warehouse: WarehousePaths) -> None:
    with pipeline_elsewhere(warehouse.root):  # would be "busy" if the lock were taken
        with pytest.raises(ValueError, match="'no;pe'"):
            run_admin.set_run_label(warehouse, RUN_WITH_TRADES, "x", ["no;pe"])


def test_delete_removes_the_run_from_every_backtest_table(warehouse: WarehousePaths) -> None:
    run_results = _green(warehouse.root / "target")
    run_admin.set_run_label(warehouse, RUN_WITH_TRADES, "doomed", [], run_results=run_results)

    report = run_admin.delete_run(
        warehouse, RUN_WITH_TRADES, run_results=run_results, rebuild_reports=False
    )

    # conftest: run 1 has 1 runs row, 2 trades, 4 legs, 4 equity days, 1 metrics row
    assert report.rows == {
        "backtest.equity_daily": 4,
        "backtest.legs": 4,
        "backtest.metrics": 1,
        "backtest.run_labels": 1,
        "backtest.runs": 1,
        "backtest.trades": 2,
    }
    for db in (warehouse.build_db, warehouse.published_db):
        for table in ("runs", "trades", "legs", "equity_daily", "metrics", "run_labels"):
            assert _rows(db, f"select distinct run_id from backtest.{table}") in (
                [],
                [(RUN_WITHOUT_TRADES,)],
            ), table
    assert _rows(warehouse.published_db, "select count(*) from backtest.equity_daily") == [(4,)]


def test_delete_of_an_unknown_run_writes_nothing(warehouse: WarehousePaths) -> None:
    before = db_version(warehouse.published_db)
    with pytest.raises(run_admin.AdminError, match=r"has no run 'nope'\. Nothing was written"):
        run_admin.delete_run(warehouse, "nope", run_results=_green(warehouse.root / "target"))
    assert db_version(warehouse.published_db) == before


def test_a_delete_whose_report_rebuild_fails_leaves_publish_refused(
    warehouse: WarehousePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete's dbt rebuild is the run's attribute stage, as a save's is: when it fails the
    run is gone from the build database, but nothing publishes that until the stage reruns."""
    run_results = _green(warehouse.root / "target")
    monkeypatch.setattr(backtest_runner, "DBT", "/bin/false")  # a dbt that fails at once

    with pytest.raises(run_admin.AdminError, match="rebuilding the attribution models") as excinfo:
        run_admin.delete_run(warehouse, RUN_WITH_TRADES, run_results=run_results)

    assert excinfo.value.written
    assert _rows(warehouse.published_db, "select count(*) from backtest.runs") == [(2,)]
    with pytest.raises(RunIncompleteError, match=r"attribute failed \(exit status 1\)"):
        publish(warehouse, run_results)


def test_a_red_build_refuses_and_writes_nothing(warehouse: WarehousePaths) -> None:
    before = (warehouse.build_db.stat().st_mtime_ns, db_version(warehouse.published_db))

    with pytest.raises(run_admin.AdminError, match="Publishing is refused") as excinfo:
        run_admin.delete_run(
            warehouse, RUN_WITH_TRADES, run_results=_green(warehouse.root / "target", "fail")
        )

    assert "model.options.synthetic (fail)" in str(excinfo.value)
    assert not excinfo.value.written
    assert (warehouse.build_db.stat().st_mtime_ns, db_version(warehouse.published_db)) == before


@pytest.fixture
def lock_holder(warehouse: WarehousePaths) -> Iterator[int]:
    """Another process holding the warehouse's pipeline lock, as `make all` does (its pid)."""
    with pipeline_elsewhere(warehouse.root) as pid:
        yield pid


def test_a_change_while_the_pipeline_runs_is_refused(
    warehouse: WarehousePaths, lock_holder: int
) -> None:
    before = (warehouse.build_db.stat().st_mtime_ns, db_version(warehouse.published_db))

    with pytest.raises(run_admin.WarehouseBusyError) as excinfo:
        run_admin.set_run_label(
            warehouse, RUN_WITH_TRADES, "x", [], run_results=_green(warehouse.root / "target")
        )

    assert excinfo.value.pid == lock_holder
    assert f"being rebuilt (make all, pid {lock_holder})" in str(excinfo.value)
    assert (warehouse.build_db.stat().st_mtime_ns, db_version(warehouse.published_db)) == before


def test_delete_rows_on_real_runs_touches_only_that_run(
    real_published: Path, tmp_path: Path
) -> None:
    """Three real runs' rows of every backtest table (positions and skipped entries included),
    copied read-only into a private file: deleting one leaves the other two's rows intact."""
    source = duckdb.connect(str(real_published), read_only=True)
    tables = [
        row[0]
        for row in source.sql(
            "select table_name from information_schema.columns "
            "where table_schema = 'backtest' and column_name = 'run_id' order by 1"
        ).fetchall()
    ]
    run_ids = [
        row[0]
        for row in source.sql(
            "select run_id from backtest.trades group by run_id order by count(*) desc, run_id "
            "limit 3"
        ).fetchall()
    ]
    source.close()
    copy = tmp_path / "backtest_copy.duckdb"
    con = duckdb.connect(str(copy))
    con.execute(f"attach '{real_published}' as real (read_only)")
    con.execute("create schema backtest")
    for table in tables:
        con.execute(
            f"create table backtest.{table} as select * from real.backtest.{table} "
            "where list_contains(?, run_id)",
            [run_ids],
        )
    con.execute("detach real")
    count = " union all ".join(
        f"select '{t}', run_id, count(*) from backtest.{t} group by all" for t in tables
    )
    before = set(con.sql(count).fetchall())

    deleted = run_admin.delete_run_rows(con, run_ids[0])

    after = set(con.sql(count).fetchall())
    con.close()
    assert {"runs", "trades", "legs", "equity_daily", "metrics"} <= set(tables)
    gone = {row for row in before if row[1] == run_ids[0]}
    assert after == before - gone
    assert deleted == {f"backtest.{t}": n for t, run_id, n in gone} | {
        f"backtest.{t}": 0 for t in tables if (t, run_ids[0]) not in {(g[0], g[1]) for g in gone}
    }
    assert deleted["backtest.trades"] > 0
