"""The warehouse's files and the one way to write and publish them.

Layout (``WAREHOUSE_DIR``, default ``<repo>/warehouse``)::

    vendor/          embedded real vendor files (tracked; the default input)
    raw/             landed, validated parquet written by ``loaders`` (+ _rejects/, _reports/)
    build/build.duckdb   private build database: dbt, ml and engine write here
    build/run_manifest.json  which stages of the pipeline run behind it completed (manifest.py)
    options.duckdb   published database: readers (app, ad-hoc SQL) open it read-only
    models/          trained models (XGBoost ``.ubj``)

Writers never touch ``options.duckdb``: ``python -m warehouse publish`` copies the build
database over it atomically, and only after a green ``dbt build`` in a pipeline run whose every
stage completed (see ``publish.py``). One pipeline at a time: see ``pipeline.py``.
"""

from warehouse.paths import WarehousePaths, connect

__all__ = ["WarehousePaths", "connect"]
