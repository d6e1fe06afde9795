"""The app in a real browser: Debian Chromium driven by Playwright opens every page of the app
served on the real published warehouse, finds no error element, and saves a screenshot of each.

Render times are printed (``pytest -s``), never asserted (timing targets live in ``bench/``).
Screenshots go to the test's tmp dir, or to ``$APP_SCREENSHOTS_DIR`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.navigation import PAGE_FILES
from tests.app.browser import CHROMIUM, serve, visit_every_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def test_every_page_renders_without_error_in_chromium(real_warehouse: Path, tmp_path: Path) -> None:
    out = Path(os.environ.get("APP_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    with serve(real_warehouse) as base_url:
        visits = visit_every_page(base_url, out)
    for visit in visits:
        print(f"{visit.title:<14} {visit.render_s:6.2f} s  {visit.screenshot}")
    assert len(visits) == len(PAGE_FILES)
    assert {v.title: v.errors for v in visits if v.errors} == {}
    for visit in visits:
        assert visit.screenshot.stat().st_size > 10_000, f"{visit.title}: blank screenshot?"
