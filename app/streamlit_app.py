"""Entry point of the app: a thin router over the pages in ``app_pages/``.

Run from the repository root with ``make app`` (or ``streamlit run app/streamlit_app.py``). Page
configuration is set here, once; pages hold no configuration of their own, and logic lives in
plain modules (:mod:`app.queries`, :mod:`app.charts`, :mod:`app.formatting`, :mod:`app.page`).
Icons are Material Symbols, which render everywhere (emoji need a colour font headless
browsers lack).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this file's directory (app/) on sys.path, not the repository root, so the
# pages' `from app import ...` / `from warehouse import ...` would fail unless the project is
# pip-installed. Adding the root keeps both ways of running working.
_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from app.navigation import PAGES  # noqa: E402  (needs the root on sys.path)

_PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

st.set_page_config(
    page_title="Options research warehouse", page_icon=":material/finance:", layout="wide"
)

navigation = st.navigation(
    {
        section: [
            st.Page(_PAGES_DIR / file, title=title, icon=icon, default=file == "overview.py")
            for file, title, icon in pages
        ]
        for section, pages in PAGES.items()
    }
)
navigation.run()
