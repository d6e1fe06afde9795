"""Every page of the app, headless (AppTest), on the real published warehouse, on none, and while a
pipeline holds the warehouse lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.navigation import PAGE_FILES
from tests.app.conftest import open_app_page, write_lock_elsewhere
from warehouse.pipeline import pipeline_lock

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_page_renders_on_the_real_warehouse(real_published: Path, page_file: str) -> None:
    at = open_app_page(page_file)
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_page_explains_a_missing_warehouse(warehouse_dir: Path, page_file: str) -> None:
    at = open_app_page(page_file)
    assert not at.error, [e.value for e in at.error]
    assert any("make all" in info.value for info in at.info)


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_page_says_the_warehouse_is_being_rebuilt(
    real_published: Path, page_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock of a copy-free second warehouse dir would not do: the notice reads the lock of the
    # active WAREHOUSE_DIR, so hold that one (released at the end of the test).
    with pipeline_lock(real_published.parent):
        at = open_app_page(page_file)
    assert not at.error, [e.value for e in at.error]
    assert any("being rebuilt" in info.value for info in at.info)


INJECTIONS = (
    "x' union all select * from read_csv('/etc/passwd') --",
    "'; drop table backtest.runs; --",
    "copy (select 1) to '{leak}'",
    "'" + "x" * 10_000,
)


def test_text_inputs_do_not_reach_files_or_tables(real_published: Path, tmp_path: Path) -> None:
    """Every text input of every page, fed injection payloads: nothing is read or written.

    Only the SQL page has free text today (the others take choices, dates and numbers, which
    reach SQL as bound parameters); the test finds the inputs itself, so a page that adds one is
    covered without a change here.
    """
    leak = tmp_path / "leak.csv"
    before = real_published.stat().st_mtime_ns
    pages_with_text = set()
    for page_file in PAGE_FILES:
        at = open_app_page(page_file)
        n_inputs = len(at.text_input) + len(at.text_area)
        if n_inputs:
            pages_with_text.add(page_file)
        for index in range(n_inputs):
            for payload in INJECTIONS:
                widget = [*at.text_input, *at.text_area][index]
                widget.set_value(payload.format(leak=leak)).run()
                for button in at.button:  # submit what a button submits (SQL: Run)
                    if button.key is None or not button.key.startswith("bt_"):
                        button.click().run()
                assert not at.exception, [e.message for e in at.exception]
                assert not leak.exists()
                assert not any("root:x:" in str(frame.value) for frame in at.dataframe)
    assert "sql.py" in pages_with_text
    assert real_published.stat().st_mtime_ns == before


@pytest.fixture
def locked_published(published_db: Path) -> Iterator[Path]:
    """The SYNTHETIC published file held read-write by another process."""
    with write_lock_elsewhere(published_db):
        yield published_db


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_page_explains_a_locked_warehouse(locked_published: Path, page_file: str) -> None:
    at = open_app_page(page_file)
    assert not at.error, [e.value for e in at.error]
    shown = [w.value for w in at.warning] + [i.value for i in at.info]
    assert any("locked" in text for text in shown), shown
