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
