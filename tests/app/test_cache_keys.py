"""Streamlit's ``st.cache_data`` keys a cached function by its name and source text, not by the
page that defines it: two pages with ``def _cached_runs(db, v): return queries.list_runs(db)``
over different ``queries`` modules would serve each other's frames (Compare crashed on the
Backtest page's runs in Chromium). Every cached loader of the pages therefore has its own name."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PAGES = Path(__file__).parents[2] / "app" / "app_pages"


def _cached_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            "cache_data" in ast.unparse(d) or "cache_resource" in ast.unparse(d)
            for d in node.decorator_list
        ):
            names.append(node.name)
    return names


def test_every_cached_loader_of_the_pages_has_its_own_name() -> None:
    counts = Counter(
        name for page in sorted(PAGES.glob("*.py")) for name in _cached_functions(page)
    )
    assert counts, "the pages define cached loaders"
    shared = {name: n for name, n in counts.items() if n > 1}
    assert not shared, f"cached loaders defined on more than one page: {shared}"
