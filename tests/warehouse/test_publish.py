"""Publishing needs a green `dbt build`: which dbt statuses count as green."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warehouse.publish import BuildNotGreenError, check_green_build


def _run_results(tmp_path: Path, which: str, results: list[tuple[str, str]]) -> Path:
    path = tmp_path / "run_results.json"
    path.write_text(
        json.dumps(
            {
                "args": {"which": which},
                "results": [{"unique_id": uid, "status": status} for uid, status in results],
            }
        )
    )
    return path


def test_green_build_with_warnings_and_exposures_publishes(tmp_path: Path) -> None:
    path = _run_results(
        tmp_path,
        "build",
        [
            ("model.options_warehouse.fct_option_features", "success"),
            ("test.options_warehouse.dq_zero_bid", "warn"),
            ("exposure.options_warehouse.streamlit_app", "no-op"),
        ],
    )
    assert check_green_build(path) == 3


@pytest.mark.parametrize(
    ("unique_id", "status"),
    [
        ("test.options_warehouse.dq_crossed_market", "fail"),
        ("model.options_warehouse.fct_option_features", "error"),
        ("model.options_warehouse.fct_option_targets", "skipped"),
        ("model.options_warehouse.fct_option_targets", "no-op"),
    ],
)
def test_a_failed_or_skipped_node_refuses(tmp_path: Path, unique_id: str, status: str) -> None:
    path = _run_results(tmp_path, "build", [(unique_id, status)])
    with pytest.raises(BuildNotGreenError, match=f"{unique_id} \\({status}\\)"):
        check_green_build(path)


def test_a_run_that_was_not_a_build_refuses(tmp_path: Path) -> None:
    path = _run_results(tmp_path, "run", [("model.options_warehouse.x", "success")])
    with pytest.raises(BuildNotGreenError, match="`dbt run`, not `dbt build`"):
        check_green_build(path)


def test_publish_copies_rows_still_pending_in_the_build_wal(tmp_path: Path, monkeypatch) -> None:
    """SYNTHETIC rows. A writer that closed without checkpointing leaves its committed rows in
    ``build.duckdb.wal``; the publish checkpoints the build file before copying it, so the
    published file holds them all and no ``.wal`` is left behind."""
    import duckdb

    import warehouse.publish as publish_module
    from warehouse.paths import WarehousePaths

    paths = WarehousePaths(tmp_path)
    paths.build_db.parent.mkdir(parents=True)
    writer = duckdb.connect(str(paths.build_db))
    writer.execute("pragma disable_checkpoint_on_shutdown")
    writer.execute("create table t as select range as i from range(1000)")
    writer.execute("insert into t select 1000 + range from range(234)")
    writer.close()
    assert paths.build_db.with_name("build.duckdb.wal").exists()
    monkeypatch.setattr(publish_module, "check_publishable", lambda *args: None)

    published = publish_module.publish(paths)

    assert not paths.build_db.with_name("build.duckdb.wal").exists()
    reader = duckdb.connect(str(published), read_only=True)
    try:
        assert reader.execute("select count(*), sum(i) from t").fetchone() == (1234, 760761)
    finally:
        reader.close()
