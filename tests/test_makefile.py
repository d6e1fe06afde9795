"""The Makefile's default backtests are the ones the end-to-end fixture runs, and all load; its
writers are recorded stages of a pipeline run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from engine.config import load_config
from tests.conftest import DEFAULT_STRATEGY_CONFIGS
from warehouse.manifest import STAGES
from warehouse.paths import REPO_ROOT


def test_make_all_runs_the_configs_the_tests_build() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    match = re.search(r"^STRATEGY_CONFIGS \?= (.+)$", makefile, flags=re.MULTILINE)
    assert match is not None
    configs = tuple(match.group(1).split())
    assert configs == DEFAULT_STRATEGY_CONFIGS
    run_ids = {load_config(REPO_ROOT / config).run_id for config in configs}
    assert len(run_ids) == len(configs)


def _dry_run(tmp_path: Path, *targets: str) -> str:
    """`make -n TARGETS` on a throwaway warehouse: the commands, none run."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *targets],
        cwd=REPO_ROOT,
        env={**os.environ, "WAREHOUSE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_every_writer_of_make_all_is_a_recorded_stage(tmp_path: Path) -> None:
    """Publish needs every stage of the run in build/run_manifest.json (warehouse/manifest.py):
    `make all` starts a new run under the lock, `make pipeline` runs each writer through
    `python -m warehouse stage`, in order, then publishes."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^all:.*\n\t@\$\(LOCKED\) --new-run -- \$\(MAKE\)", makefile, re.MULTILINE)
    pipeline = _dry_run(tmp_path, "pipeline")
    assert re.findall(r"-m warehouse stage (\w+) --", pipeline) == list(STAGES)
    assert pipeline.index("-m warehouse publish") > pipeline.index("-m warehouse stage attribute")
    # the same stages run on their own, so `make build publish` after `make all` publishes
    alone = _dry_run(tmp_path, "load", "build", "forecast", "backtest", "attribution")
    assert re.findall(r"-m warehouse stage (\w+) --", alone) == list(STAGES)


def test_make_all_ends_listing_refused_files_and_passes_strict(tmp_path: Path) -> None:
    """Issue 16: a refused vendor file stops nothing; the load stage runs without STRICT, and the
    pipeline ends (after publish and the summaries) with `python -m loaders refused`, which
    gets STRICT (`make all STRICT=1` exits 1 there, after publishing)."""
    pipeline = _dry_run(tmp_path, "pipeline").splitlines()
    assert pipeline[-1] == "STRICT='' .venv/bin/python -m loaders refused"
    order = [
        next(i for i, line in enumerate(pipeline) if marker in line)
        for marker in ("-m warehouse publish", "-m engine summary", "-m loaders refused")
    ]
    assert order == sorted(order)
    [load] = [line for line in pipeline if "-m warehouse stage load" in line]
    assert "STRICT= .venv/bin/python -m warehouse stage load" in load
    strict = _dry_run(tmp_path, "pipeline", "STRICT=1").splitlines()
    assert strict[-1] == "STRICT='1' .venv/bin/python -m loaders refused"
    assert "STRICT=1" in _help()  # documented in `make help`


def _help() -> str:
    done = subprocess.run(["make", "help"], cwd=REPO_ROOT, capture_output=True, text=True)
    return done.stdout
