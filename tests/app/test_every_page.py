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


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_text_inputs_do_not_reach_files_or_tables(
    real_published: Path, page_file: str, tmp_path: Path
) -> None:
    """Every text input of every page, fed injection payloads: nothing is read or written."""
    leak = tmp_path / "leak.csv"
    before = real_published.stat().st_mtime_ns
    at = open_app_page(page_file)
    inputs = [*at.text_input, *at.text_area]
    for index in range(len(inputs)):
        for payload in INJECTIONS:
            widget = [*at.text_input, *at.text_area][index]
            widget.set_value(payload.format(leak=leak)).run()
            assert not at.exception, [e.message for e in at.exception]
            assert not leak.exists()
            assert not any("root:x:" in str(frame.value) for frame in at.dataframe)
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
