"""The warehouse's files and the one way to write and publish them.

Layout (``WAREHOUSE_DIR``, default ``<repo>/warehouse``)::

    vendor/          embedded real vendor files (tracked; the default input)
    raw/             landed, validated parquet written by ``loaders`` (+ _rejects/, _reports/)
    build/build.duckdb   private build database: dbt, ml and engine write here
    options.duckdb   published database: readers (app, ad-hoc SQL) open it read-only
    models/          trained models (XGBoost ``.ubj``)

Writers never touch ``options.duckdb``: ``python -m warehouse publish`` copies the build
database over it atomically, and only after a green ``dbt build`` (see ``publish.py``).
"""

from warehouse.paths import WarehousePaths, connect

__all__ = ["WarehousePaths", "connect"]
