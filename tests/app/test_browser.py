"""The app in a real browser: Debian Chromium driven by Playwright opens every page of the app
served on the real published warehouse, finds no error element, and saves a screenshot of each.

Render times are printed (``pytest -s``), never asserted (timing targets live in ``bench/``).
Screenshots go to the test's tmp dir, and to ``$SCREENSHOTS_DIR`` (or the older
``$APP_SCREENSHOTS_DIR``) when set. Without Chromium the browser test skips on a developer's
machine and FAILS under CI (:func:`tests.app.browser.require_browser`); the fast tests below check
that rule and the command line's messages (SYNTHETIC environments, no browser launched).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.navigation import PAGE_FILES
from tests.app import browser
from tests.app.browser import require_browser, serve, visit_every_page


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Skip (fail under CI) before the real warehouse is built when there is no browser."""
    require_browser()


@pytest.mark.slow
def test_every_page_renders_without_error_in_chromium(
    chromium_ready: None, real_warehouse: Path, tmp_path: Path
) -> None:
    out = tmp_path / "screenshots"
    with serve(real_warehouse) as base_url:
        visits = visit_every_page(base_url, out)
    browser.copy_screenshots(
        [v.screenshot for v in visits],
        os.environ.get("SCREENSHOTS_DIR") or os.environ.get("APP_SCREENSHOTS_DIR"),
    )
    for visit in visits:
        print(f"{visit.title:<14} {visit.render_s:6.2f} s  {visit.screenshot}")
    assert len(visits) == len(PAGE_FILES)
    assert {v.title: v.errors for v in visits if v.errors} == {}
    for visit in visits:
        assert visit.screenshot.stat().st_size > 10_000, f"{visit.title}: blank screenshot?"


# ---- without a browser: skip on a developer's machine, fail under CI (SYNTHETIC environments) --


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({}, False),
        ({"CI": ""}, False),
        ({"CI": "false"}, False),
        ({"CI": "0"}, False),
        ({"CI": "true"}, True),  # GitHub Actions, GitLab CI
        ({"CI": "1"}, True),
        ({"OPTIONS_REQUIRE_BROWSER": "1"}, True),  # .ci/run
        ({"CI": "no", "OPTIONS_REQUIRE_BROWSER": "yes"}, True),
    ],
)
def test_ci_or_ci_run_requires_a_browser(environ: dict[str, str], required: bool) -> None:
    assert browser.browser_required(environ) is required


def test_a_missing_chromium_skips_outside_ci(tmp_path: Path) -> None:
    absent = tmp_path / "no-chromium"
    with pytest.raises(pytest.skip.Exception, match=f"no Chromium at {absent}"):
        require_browser(absent, environ={})


def test_a_missing_chromium_fails_under_ci(tmp_path: Path) -> None:
    absent = tmp_path / "no-chromium"
    for environ in ({"CI": "true"}, {"OPTIONS_REQUIRE_BROWSER": "1"}):
        with pytest.raises(pytest.fail.Exception, match=f"no Chromium at {absent}.*may not skip"):
            require_browser(absent, environ=environ)


def test_a_file_that_cannot_run_is_no_chromium(tmp_path: Path) -> None:
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    assert browser.missing_browser(not_executable).startswith(f"no Chromium at {not_executable}")


def test_the_command_line_says_why_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make screenshots` ends in one line and exit status 2, not a traceback, when Chromium or
    the published warehouse is missing (nothing is served or launched)."""
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    assert browser.main(["--out", str(tmp_path / "out"), "--warehouse-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"screenshots: cannot run: no Chromium at {tmp_path / 'no-chromium'}")
    assert "Traceback" not in err

    fake = tmp_path / "chromium"  # SYNTHETIC: an executable file stands for Chromium, never run
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(browser, "CHROMIUM", fake)
    assert browser.main(["--out", str(tmp_path / "out"), "--warehouse-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"screenshots: cannot run: no published warehouse at {tmp_path / 'options.duckdb'}"
    )
    assert "make all" in err and "Traceback" not in err
