"""The data-quality catalogue finds exactly the violations planted in its fixtures.

dbt unit tests cannot test generic data tests, so every dq_* test of
models_sql/macros/dq_tests.sql is attached to synthetic seeds
(models_sql/seeds/dq_fixtures/) with ``error_if``/``warn_if: "!= n"``: it passes only when it
finds its n planted rows. This builds those seeds in a throwaway warehouse and reads what the
on-run-end hook recorded in dq.test_results.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from warehouse.paths import REPO_ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
FIXTURES = REPO_ROOT / "models_sql" / "seeds" / "dq_fixtures" / "dq_fixtures.yml"
MACROS = REPO_ROOT / "models_sql" / "macros" / "dq_tests.sql"


def _planted() -> dict[str, tuple[str, int]]:
    """Self-test name -> (generic test macro, planted failures), read from the fixtures yml."""
    planted = {}
    for seed in yaml.safe_load(FIXTURES.read_text())["seeds"]:
        tests = list(seed.get("data_tests") or [])
        for column in seed.get("columns") or []:
            tests += column.get("data_tests") or []
        for test in tests:
            ((macro, spec),) = test.items()
            planted[spec["name"]] = (macro, int(spec["config"]["error_if"].lstrip("!=")))
    return planted


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int, str | None]]:
    root = tmp_path_factory.mktemp("dq_self_test")
    (root / "build").mkdir()
    env = {
        **os.environ,
        "WAREHOUSE_DIR": str(root),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        "DBT_TARGET_PATH": str(root / "target"),
        "DBT_LOG_PATH": str(root / "logs"),
    }
    args = [
        str(BIN / "dbt"), "build", "--no-use-colors",
        "--vars", "{dq_self_test: true}",
        "--select", "path:models_sql/seeds/dq_fixtures", "nyse_sessions",
        "--indirect-selection", "cautious",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    con = duckdb.connect(str(root / "build" / "build.duckdb"), read_only=True)
    try:
        rows = con.sql(
            "select test_name, status, failures, example_rows from dq.test_results "
            "where category = 'self_test'"
        ).fetchall()
    finally:
        con.close()
    return {name: (status, failures, examples) for name, status, failures, examples in rows}


def test_every_catalogue_rule_has_a_self_test() -> None:
    rules = set(re.findall(r"\{% test (dq_\w+)\(", MACROS.read_text()))
    covered = {macro for macro, _ in _planted().values()}
    assert rules - covered == set()


def test_each_rule_finds_exactly_its_planted_violations(recorded: dict) -> None:
    planted = _planted()
    assert set(recorded) == set(planted)
    for name, (_, n) in planted.items():
        status, failures, examples = recorded[name]
        assert (status, failures) == ("pass", n), name
        # the hook copied up to five failing rows, one JSON object per line
        assert examples is not None and len(examples.splitlines()) == min(n, 5), name
