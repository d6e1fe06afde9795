"""Open every page of the app in headless Debian Chromium, time it, look for errors, screenshot it.

Used by ``tests/app/test_browser.py`` and, to look at the pages yourself, from the shell::

    .venv/bin/python -m tests.app.browser --out /tmp/screens   # after `make all`

Chromium is the system one (``/usr/bin/chromium``, ``apt-get install chromium``); Playwright
never downloads a browser here (FIELD_NOTES).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.navigation import PAGES
from warehouse.paths import REPO_ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: What Streamlit renders for an uncaught exception and for ``st.error``.
ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
STATUS_SELECTOR = '[data-testid="stStatusWidget"]'
MAIN_HEIGHT_JS = (
    "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"] *')]"
    ".slice(0, 1).map(e => e.scrollHeight), document.body.scrollHeight)"
)
QUIET_S = 0.75  # the app counts as rendered once its "running" widget stayed away this long


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
def serve(warehouse_dir: Path, timeout_s: float = 60) -> Iterator[str]:
    """Run ``streamlit run app/streamlit_app.py`` on a free loopback port; yield its base URL."""
    port = _free_port()
    env = {**os.environ, "WAREHOUSE_DIR": str(warehouse_dir)}
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


def _wait_rendered(page, timeout_s: float) -> None:
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if page.locator(STATUS_SELECTOR).count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET_S:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise TimeoutError(f"page still running after {timeout_s} s")


def visit_every_page(base_url: str, out_dir: Path, timeout_s: float = 90) -> list[PageVisit]:
    """Open each page of :data:`app.navigation.PAGES` in a fresh tab and screenshot it.

    ``render_s`` runs from navigation start until the app's "running" indicator has stayed
    away for ``QUIET_S`` (not counted), i.e. until every chart and table of the page is drawn.

    Raises
    ------
    FileNotFoundError
        When Chromium is not at :data:`CHROMIUM`.
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    out_dir.mkdir(parents=True, exist_ok=True)
    visits = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            for pages in PAGES.values():
                for file, title, _ in pages:
                    stem = Path(file).stem
                    url_path = "" if file == "overview.py" else stem
                    page = context.new_page()
                    started = time.monotonic()
                    page.goto(f"{base_url}/{url_path}", wait_until="domcontentloaded")
                    _wait_rendered(page, timeout_s)
                    render_s = time.monotonic() - started - QUIET_S
                    errors = tuple(e.inner_text() for e in page.locator(ERROR_SELECTOR).all())
                    shot = out_dir / f"{stem}.png"
                    # The main pane scrolls inside the window: grow the window to its height so
                    # the screenshot holds the whole page.
                    height = page.evaluate(MAIN_HEIGHT_JS)
                    page.set_viewport_size({"width": 1440, "height": min(max(height, 1000), 12000)})
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(shot), full_page=True)
                    visits.append(PageVisit(title, url_path, render_s, errors, shot))
                    page.close()
        finally:
            browser.close()
    return visits


def main(argv: list[str] | None = None) -> int:
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
    with serve(args.warehouse_dir.resolve()) as base:
        visits = visit_every_page(base, args.out)
    for visit in visits:
        status = "ok" if not visit.errors else f"ERRORS: {' | '.join(visit.errors)[:300]}"
        print(f"{visit.title:<14} {visit.render_s:6.2f} s  {status}  {visit.screenshot}")
    return 1 if any(v.errors for v in visits) else 0


if __name__ == "__main__":
    raise SystemExit(main())
