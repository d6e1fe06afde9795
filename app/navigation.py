"""The app's menu: each page file with its title and icon, by section (router and tests)."""

from __future__ import annotations

#: (file in app_pages/, title, Material icon) per section, in menu order.
PAGES: dict[str, list[tuple[str, str, str]]] = {
    "Warehouse": [
        ("overview.py", "Overview", ":material/home:"),
        ("data_quality.py", "Data quality", ":material/fact_check:"),
        ("sql.py", "SQL", ":material/terminal:"),
    ],
    "Market": [
        ("chains.py", "Chains", ":material/ssid_chart:"),
        ("features.py", "Features", ":material/timeline:"),
    ],
    "Forecasts": [
        ("models.py", "Models", ":material/model_training:"),
        ("forecasts.py", "Forecasts", ":material/online_prediction:"),
        ("attribution.py", "Attribution", ":material/analytics:"),
    ],
    "Backtests": [
        ("backtest.py", "Backtest", ":material/play_circle:"),
        ("trades.py", "Trades", ":material/receipt_long:"),
        ("compare.py", "Compare", ":material/compare_arrows:"),
        ("benchmarks.py", "Benchmarks", ":material/stacked_line_chart:"),
        ("research.py", "Research", ":material/grid_view:"),
    ],
}

#: Every page file, in menu order.
PAGE_FILES: tuple[str, ...] = tuple(file for pages in PAGES.values() for file, _, _ in pages)
