"""Streamlit front end of the options research warehouse.

``streamlit_app.py`` is a thin router over the pages in ``app_pages/``; ``queries`` is the only
module that reads DuckDB; ``charts`` and ``formatting`` are pure functions, testable without
Streamlit.
"""
