"""Open every page of the app in headless Debian Chromium, time it, look for errors, screenshot it.

Used by ``tests/app/test_browser.py`` and ``tests/app/test_browser_tasks.py`` and, to look at the
pages yourself, from the shell (``make screenshots``)::

    .venv/bin/python -m tests.app.browser --out /tmp/screens   # after `make all`

Chromium is the system one (``/usr/bin/chromium``, ``apt-get install chromium``; another binary
through ``$CHROMIUM``); Playwright never downloads a browser here (FIELD_NOTES).

Where the browser must be
-------------------------
The browser tests call :func:`require_browser`: without Chromium (or the ``playwright``
package) they **fail** when the run requires a browser, i.e. under CI (``$CI`` set to anything
but ``""``, ``0``, ``false``, ``no``, ``off``, as CI services set it) or under ``.ci/run``
(which installs Debian's ``chromium`` and sets ``OPTIONS_REQUIRE_BROWSER=1``), and skip with the
reason on a developer's machine otherwise. The command line ends with a one-line message and
exit status 2, not a traceback, when Chromium or the published warehouse is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.navigation import PAGES
from warehouse.paths import REPO_ROOT

if TYPE_CHECKING:  # playwright is imported only where a browser is launched
    from playwright.sync_api import BrowserContext, Locator, Page

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: Set (to anything but a false value) by ``.ci/run``: the browser tests fail without Chromium.
REQUIRE_ENV = "OPTIONS_REQUIRE_BROWSER"
_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})
#: What Streamlit renders for an uncaught exception and for ``st.error``.
ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
STATUS_SELECTOR = '[data-testid="stStatusWidget"]'
MAIN_HEIGHT_JS = (
    "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"] *')]"
    ".slice(0, 1).map(e => e.scrollHeight), document.body.scrollHeight)"
)
QUIET_S = 0.75  # the app counts as rendered once its "running" widget stayed away this long
VIEWPORT = {"width": 1440, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 12_000  # px: a full-page screenshot of a long page stops here


# ---- is there a browser, must there be one --------------------------------------------------


def browser_required(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this run must have a browser: ``$CI`` or ``$OPTIONS_REQUIRE_BROWSER`` is set to a
    value other than ``""``, ``0``, ``false``, ``no`` or ``off`` (any case).

    >>> browser_required({"CI": "true"}), browser_required({"CI": "false"}), browser_required({})
    (True, False, False)
    """
    environ = os.environ if environ is None else environ
    return any(
        environ.get(name, "").strip().lower() not in _FALSE_VALUES for name in ("CI", REQUIRE_ENV)
    )


def missing_browser(chromium: Path | None = None) -> str | None:
    """Why no browser can be driven here, or ``None`` when one can.

    Parameters
    ----------
    chromium
        The Chromium binary (default :data:`CHROMIUM`).

    Returns
    -------
    str or None
        ``"no Chromium at <path> ..."`` when the binary is absent or not executable, ``"the
        playwright package is not installed ..."`` when that import fails, else ``None``.
    """
    chromium = CHROMIUM if chromium is None else chromium
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        return (
            f"no Chromium at {chromium} (Debian: `apt-get install chromium`, as .ci/run does; "
            "or set CHROMIUM to a Chromium binary)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not installed ({exc}; `make setup` installs it)"
    return None


def require_browser(chromium: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
    """In a test: return when a browser can be driven; else fail the test when the run requires
    one (:func:`browser_required`), and skip it with the reason otherwise.

    Raises
    ------
    pytest.fail.Exception
        No browser, and ``$CI`` or ``$OPTIONS_REQUIRE_BROWSER`` is set.
    pytest.skip.Exception
        No browser, on a developer's machine.
    """
    import pytest

    reason = missing_browser(chromium)
    if reason is None:
        return
    if browser_required(environ):
        pytest.fail(
            f"{reason}. A browser test may not skip under CI ($CI or ${REQUIRE_ENV} is set): "
            "install Chromium, as .ci/run does as root on Debian.",
            pytrace=False,
        )
    pytest.skip(f"{reason}; under CI this test fails instead")


def missing_warehouse(warehouse_dir: Path) -> str | None:
    """``"no published warehouse at <dir>/options.duckdb ..."``, or ``None`` when it exists."""
    published = warehouse_dir / "options.duckdb"
    if published.is_file():
        return None
    return (
        f"no published warehouse at {published}: run `make all` first "
        "(or point WAREHOUSE_DIR / --warehouse-dir at a warehouse directory)"
    )


# ---- the app and the browser ------------------------------------------------------------------


@dataclass(frozen=True)
class PageVisit:
    """One page as the browser saw it: render time (s), error texts, screenshot path."""

    title: str
    url_path: str
    render_s: float
    errors: tuple[str, ...]
    screenshot: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    warehouse_dir: Path, timeout_s: float = 60, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``streamlit run app/streamlit_app.py`` on a free loopback port; yield its base URL.

    Parameters
    ----------
    warehouse_dir
        ``WAREHOUSE_DIR`` of the app.
    timeout_s
        Seconds to wait for the server's health check.
    env
        Further environment variables of the server (e.g. ``DBT_TARGET_PATH`` of a warehouse
        copy that the app saves into).

    Raises
    ------
    RuntimeError
        The server exited before it was healthy (its stderr is in the message).
    TimeoutError
        It was not healthy after ``timeout_s``.
    """
    port = _free_port()
    env = {**os.environ, **(env or {}), "WAREHOUSE_DIR": str(warehouse_dir)}
    command = [
        sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"streamlit exited with {proc.returncode}: {proc.stderr.read().decode()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"streamlit not healthy on {base} after {timeout_s} s"
                    ) from None
                time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium_context() -> Iterator[BrowserContext]:
    """Headless system Chromium (:data:`CHROMIUM`, ``--no-sandbox``); yield a browser context
    with a :data:`VIEWPORT` window, closed on exit.

    Raises
    ------
    FileNotFoundError
        When :func:`missing_browser` names a reason.
    """
    reason = missing_browser()
    if reason is not None:
        raise FileNotFoundError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser.new_context(viewport=VIEWPORT)
        finally:
            browser.close()


def _idle(page: Page) -> bool:
    return page.locator(STATUS_SELECTOR).count() == 0


def wait_rendered(page: Page, timeout_s: float) -> None:
    """Wait for a page's title, then until the app's "running" widget stayed away ``QUIET_S``.

    Raises
    ------
    TimeoutError
        Still running after ``timeout_s``.
    """
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if _idle(page):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET_S:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise TimeoutError(f"page still running after {timeout_s} s")


_wait_rendered = wait_rendered  # the name tests/app/test_benchmarks_view.py imports


def page_errors(page: Page) -> tuple[str, ...]:
    """Texts of the exception and ``st.error`` elements on the page."""
    return tuple(e.inner_text() for e in page.locator(ERROR_SELECTOR).all())


def time_until(
    page: Page,
    action: Callable[[], Any],
    ready: Locator,
    what: str,
    timeout_s: float = 120,
) -> float:
    """Do ``action`` (a click), then wait until ``ready`` is visible with the app idle; return
    the seconds from the action's start to that moment.

    "Idle" is the render rule of :func:`visit_every_page`: the app's running widget is absent;
    it must stay so (and ``ready`` visible) for ``QUIET_S``, which is not counted, so a result
    drawn by one rerun and replaced by the next is not taken for the end.

    Raises
    ------
    TimeoutError
        ``ready`` not visible with the app idle after ``timeout_s``; the message names ``what``
        and any error the page shows.
    """
    started = time.monotonic()
    action()
    deadline = started + timeout_s
    ready_since = None
    while time.monotonic() < deadline:
        if ready.count() and ready.first.is_visible() and _idle(page):
            ready_since = ready_since or time.monotonic()
            if time.monotonic() - ready_since >= QUIET_S:
                return ready_since - started
        else:
            ready_since = None
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not shown after {timeout_s} s; page errors: {page_errors(page)}")


def full_screenshot(page: Page, path: Path) -> Path:
    """Save a screenshot of the whole page (the main pane scrolls inside the window, so the
    window grows to its height, up to ``MAX_SCREENSHOT_HEIGHT`` px, then shrinks back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(MAIN_HEIGHT_JS)
    page.set_viewport_size(
        {
            "width": VIEWPORT["width"],
            "height": min(max(height, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT),
        }
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    return path


def copy_screenshots(paths: list[Path], out_dir: str | os.PathLike[str] | None) -> None:
    """Copy ``paths`` into ``out_dir`` (created) when it is given (e.g. ``$SCREENSHOTS_DIR``)."""
    if not out_dir:
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(path, Path(out_dir) / path.name)


def visit_every_page(base_url: str, out_dir: Path, timeout_s: float = 90) -> list[PageVisit]:
    """Open each page of :data:`app.navigation.PAGES` in a fresh tab and screenshot it.

    ``render_s`` runs from navigation start until the app's "running" indicator has stayed
    away for ``QUIET_S`` (not counted), i.e. until every chart and table of the page is drawn.

    Raises
    ------
    FileNotFoundError
        When no browser can be driven (:func:`missing_browser`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    visits = []
    with chromium_context() as context:
        for pages in PAGES.values():
            for file, title, _ in pages:
                stem = Path(file).stem
                url_path = "" if file == "overview.py" else stem
                page = context.new_page()
                started = time.monotonic()
                page.goto(f"{base_url}/{url_path}", wait_until="domcontentloaded")
                wait_rendered(page, timeout_s)
                render_s = time.monotonic() - started - QUIET_S
                errors = page_errors(page)
                shot = full_screenshot(page, out_dir / f"{stem}.png")
                visits.append(PageVisit(title, url_path, render_s, errors, shot))
                page.close()
    return visits


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.app.browser``: 0 when no page shows an error, 1 when one does or the
    app or browser failed, 2 when Chromium or the published warehouse is missing (one line on
    stderr, no traceback)."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.app.browser",
        description="Serve the app on the published warehouse, open every page in headless "
        "Chromium, print each page's render time and errors, and save full-page screenshots.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the screenshots")
    parser.add_argument(
        "--warehouse-dir",
        type=Path,
        default=Path(os.environ.get("WAREHOUSE_DIR", REPO_ROOT / "warehouse")),
        help="warehouse directory holding options.duckdb (default: WAREHOUSE_DIR or ./warehouse)",
    )
    args = parser.parse_args(argv)
    warehouse_dir = args.warehouse_dir.resolve()
    reason = missing_browser() or missing_warehouse(warehouse_dir)
    if reason is not None:
        print(f"screenshots: cannot run: {reason}.", file=sys.stderr)
        return 2
    from playwright.sync_api import Error as PlaywrightError

    try:
        with serve(warehouse_dir) as base:
            visits = visit_every_page(base, args.out)
    except (RuntimeError, TimeoutError, PlaywrightError) as exc:
        print(f"screenshots: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for visit in visits:
        status = "ok" if not visit.errors else f"ERRORS: {' | '.join(visit.errors)[:300]}"
        print(f"{visit.title:<14} {visit.render_s:6.2f} s  {status}  {visit.screenshot}")
    return 1 if any(v.errors for v in visits) else 0


if __name__ == "__main__":
    raise SystemExit(main())
