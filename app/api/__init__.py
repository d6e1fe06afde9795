"""The HTTP API over the published warehouse (issue 20): ``make api`` / ``python -m app.api``.

Rooms, in reading order: :mod:`app.api.server` (the app factory), :mod:`app.api.routes_read`
(health, models, predictions, signals, strategies, tables), :mod:`app.api.routes_backtests`
(runs, trades/legs/equity, ``POST /backtests``, save jobs), :mod:`app.api.bodies` (the POST
body and token), :mod:`app.api.state` (the reader, the version-keyed cache, jobs),
:mod:`app.api.params` (parameter checks), :mod:`app.api.errors` (the error contract, the body
limit), :mod:`app.api.formats` (JSON / Arrow / Parquet) and :mod:`app.api.queries` (the reads
:mod:`app.queries` lacks).
"""

from app.api.server import create_app
from app.api.state import ApiSettings

__all__ = ["ApiSettings", "create_app"]
