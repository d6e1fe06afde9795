"""Compare page (skeleton: filled in by issue 7)."""

from __future__ import annotations

import streamlit as st

from app.page import Published, run_page

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = {}


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    st.caption(f"Reading {published.path.name}.")


run_page("Compare", REQUIRED, body)
