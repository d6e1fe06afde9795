"""The FastAPI application factory of the HTTP API (issue 20).

:func:`create_app` builds the service: routes under ``/api/v1`` (:mod:`app.api.routes_read`,
:mod:`app.api.routes_backtests`), OpenAPI docs at ``/docs`` (Swagger UI) and ``/redoc``, served
from the assets bundled in ``fastapi-offline`` rather than FastAPI's default CDN, since the
product runs without network; every error in the contract shape
(:mod:`app.api.errors`), bodies over ``max_bytes`` refused before they are read
(:class:`app.api.errors.BodyLimitMiddleware`). ``python -m app.api`` (``make api``) serves it
with uvicorn on 127.0.0.1:8000.

Nothing is read at import or start-up: every request reads the published warehouse of
``settings.paths`` (``WAREHOUSE_DIR``) as it is then, so the service starts before a first
``make all`` (its routes answer ``UNAVAILABLE`` until a publish) and sees every new publish
without a restart.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api.errors import BodyLimitMiddleware, install_error_handlers
from app.api.routes_backtests import PREFIX
from app.api.routes_backtests import router as backtests_router
from app.api.routes_read import router as read_router
from app.api.state import ApiSettings, ApiState

DESCRIPTION = """
Programmatic access to the options warehouse: models and their out-of-sample metrics, prediction
runs, the strategy selector's signals, backtest runs (metrics, trades, legs, equity as JSON,
Arrow IPC or Parquet), and backtests run from a config (`POST /api/v1/backtests`, bearer token
`OPTIONS_API_TOKEN`). Every error is `{"error_code", "message", "details"}`.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API application.

    Parameters
    ----------
    settings
        Warehouse, limits and token variable (default :class:`app.api.state.ApiSettings`:
        ``WAREHOUSE_DIR``, 1 MB bodies, 120 s runs, ``OPTIONS_API_TOKEN``).

    Returns
    -------
    fastapi.FastAPI
        With ``app.state.api`` (:class:`app.api.state.ApiState`); its run and save workers stop
        with the application's lifespan.
    """
    state = ApiState(settings or ApiSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    app = FastAPIOffline(
        title="Options warehouse API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api = state
    install_error_handlers(app)
    app.include_router(read_router, prefix=PREFIX)
    app.include_router(backtests_router, prefix=PREFIX)
    app.add_middleware(BodyLimitMiddleware, max_bytes=state.settings.max_body_bytes)
    return app
