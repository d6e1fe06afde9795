"""The Makefile's default backtests are the ones the end-to-end fixture runs, and all load."""

from __future__ import annotations

import re

from engine.config import load_config
from tests.conftest import DEFAULT_STRATEGY_CONFIGS
from warehouse.paths import REPO_ROOT


def test_make_all_runs_the_configs_the_tests_build() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    match = re.search(r"^STRATEGY_CONFIGS \?= (.+)$", makefile, flags=re.MULTILINE)
    assert match is not None
    configs = tuple(match.group(1).split())
    assert configs == DEFAULT_STRATEGY_CONFIGS
    run_ids = {load_config(REPO_ROOT / config).run_id for config in configs}
    assert len(run_ids) == len(configs)
