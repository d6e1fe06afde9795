"""The API's one error shape, ``{"error_code", "message", "details"}``, and what produces it.

Every error the service answers has this body, including FastAPI's own request-validation errors
(422 by default, answered here as 400 ``BAD_REQUEST``), Starlette's 404 for an unknown path and
405 for a wrong method, a body over the size limit (checked before anything reads the body) and
any unexpected exception (500 ``INTERNAL``: the traceback goes to the server log under a
reference that the response repeats, never into the response).

=====================  ======  =============================================================
``error_code``         status  when
=====================  ======  =============================================================
``BAD_REQUEST``        400     a parameter, header or body is invalid; the message names it
                       413     a body over the limit (1 MB by default), refused unread
``UNAUTHORIZED``       401     ``POST`` without the bearer token, or with ``OPTIONS_API_TOKEN``
                               unset on the server
``NOT_FOUND``          404     an unknown path, run, model or job
``METHOD_NOT_ALLOWED`` 405     e.g. ``DELETE`` on a read route
``CONFLICT``           409     the pipeline (``make all``) holds the warehouse lock, or a
                               backtest or save is already running
``UNSUPPORTED_MEDIA``  415     a ``POST`` body that is neither JSON nor YAML
``INTERNAL``           500     anything unexpected (details in the server log)
``UNAVAILABLE``        503     no published warehouse yet, a table it lacks, or the file locked
``TIMEOUT``            504     a backtest over the run-time limit
=====================  ======  =============================================================

The codes of issue 20 are ``BAD_REQUEST``, ``NOT_FOUND``, ``CONFLICT``, ``UNAVAILABLE`` and
``INTERNAL``; the others are the HTTP situations those five do not cover.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warehouse.safe_yaml import excerpt

LOG = logging.getLogger("app.api")

#: ``error_code`` of each HTTP status the service answers with an error.
CODE_OF_STATUS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "BAD_REQUEST",
    415: "UNSUPPORTED_MEDIA",
    422: "BAD_REQUEST",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "TIMEOUT",
}
STATUS_OF_CODE: dict[str, int] = {code: status for status, code in CODE_OF_STATUS.items()}
STATUS_OF_CODE["BAD_REQUEST"] = 400

_INCIDENTS = itertools.count(1)


class ApiError(Exception):
    """An error answered as ``{"error_code", "message", "details"}``.

    Parameters
    ----------
    error_code
        One of :data:`STATUS_OF_CODE` (its HTTP status follows).
    message
        One sentence for a person; names the bad value (at most 80 characters of it,
        :func:`warehouse.safe_yaml.excerpt`).
    details
        JSON-able extra facts (the parameter, the allowed values, ...); ``{}`` when none.
    headers
        Extra response headers (``WWW-Authenticate`` of a 401).
    """

    def __init__(
        self,
        error_code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if error_code not in STATUS_OF_CODE:
            raise ValueError(f"unknown error_code {error_code!r}")
        super().__init__(message)
        self.error_code = error_code
        self.status_code = STATUS_OF_CODE[error_code]
        self.message = message
        self.details = details or {}
        self.headers = headers


def bad_request(parameter: str, value: Any, why: str, **details: Any) -> ApiError:
    """``BAD_REQUEST`` naming ``parameter`` and an excerpt of ``value``.

    >>> bad_request("top_k", 0, "must be in [1, 1000]").message
    'top_k must be in [1, 1000], got 0'
    """
    return ApiError(
        "BAD_REQUEST",
        f"{parameter} {why}, got {excerpt(value)}",
        {"parameter": parameter, **details},
    )


def error_body(error_code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    """The JSON body of an error."""
    return {"error_code": error_code, "message": message, "details": details or {}}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.error_code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """One sentence naming the first bad parameter, and every error in short form."""
    shown = []
    for error in errors[:20]:
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "request"
        name = ".".join(location[1:]) or where
        shown.append(
            {
                "parameter": name,
                "in": where,
                "problem": str(error.get("msg", "invalid"))[:200],
                "value": excerpt(error.get("input")),
            }
        )
    first = shown[0] if shown else {"parameter": "request", "problem": "invalid", "value": "?"}
    message = f"{first['parameter']}: {first['problem']}, got {first['value']}"
    return message, shown


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_OF_STATUS.get(
        exc.status_code, "INTERNAL" if exc.status_code >= 500 else "BAD_REQUEST"
    )
    if exc.status_code == 404:
        refused = _path_like_identifier(request.url.path)
        if refused is not None:
            return error_response(refused)
        message = f"no route {excerpt(request.url.path)}; the routes are listed at /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {excerpt(request.url.path)}"
    else:
        message = str(exc.detail)[:300]
    return JSONResponse(
        error_body(code, message, {"path": request.url.path[:200]}),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


#: Routes whose one path parameter may hold a ``/`` once decoded (``..%2F..%2Fetc``): the path
#: then matches no route, and the 404 is answered as the ``BAD_REQUEST`` of that parameter.
_IDENTIFIER_ROUTES = (
    ("/api/v1/backtests/jobs/", "job_id", ("",)),
    ("/api/v1/backtests/", "run_id", ("/trades", "/legs", "/equity", "")),
    ("/api/v1/models/", "name", ("/latest",)),
)


def _path_like_identifier(path: str) -> ApiError | None:
    """The ``BAD_REQUEST`` of an unroutable path whose identifier segment is invalid (a
    path-like run id, e.g. ``/api/v1/backtests/../../etc/passwd/trades``), else ``None``."""
    from app.api import params  # params builds its errors with this module

    checks = {
        "run_id": params.run_id,
        "name": lambda value: params.model_name(value, "name"),
        "job_id": params.job_id,
    }
    for prefix, parameter, suffixes in _IDENTIFIER_ROUTES:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        try:  # a valid identifier in an unknown route: an ordinary 404
            checks[parameter](rest.split("/", 1)[0])
            return None
        except ApiError:
            pass
        for suffix in suffixes:
            if suffix and not rest.endswith(suffix):
                continue
            value = rest[: len(rest) - len(suffix)] if suffix else rest
            if not value:
                continue
            try:
                checks[parameter](value)
            except ApiError as exc:
                return exc
            return None
    return None


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, shown = _validation_message(list(exc.errors()))
    return JSONResponse(error_body("BAD_REQUEST", message, {"errors": shown}), status_code=400)


async def _internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    incident = next(_INCIDENTS)
    LOG.exception("internal error %d on %s %s", incident, request.method, request.url.path)
    return JSONResponse(
        error_body(
            "INTERNAL",
            f"internal error (incident {incident}); the details are in the server log",
            {"incident": incident},
        ),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the contract shape (see the module docstring)."""
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _internal_error_handler)


class BodyLimitMiddleware:
    """Refuse a request body over ``max_bytes`` before the application reads any of it.

    A ``Content-Length`` over the limit is answered 413 at once; a body without one (chunked)
    is counted as it arrives and answered 413 at the first byte past the limit. Pure ASGI, so
    nothing upstream buffers the body first.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    max_bytes
        Largest body accepted (bytes, >= 1).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes!r}")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | None) -> JSONResponse:
        shown = f"{size:,} bytes" if size is not None else "more"
        return JSONResponse(
            error_body(
                "BAD_REQUEST",
                f"request body must be at most {self.max_bytes:,} bytes, got {shown}",
                {"parameter": "body", "max_bytes": self.max_bytes},
            ),
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                response = JSONResponse(
                    error_body(
                        "BAD_REQUEST",
                        f"Content-Length must be an integer, got "
                        f"{excerpt(length.decode('latin-1'))}",
                    ),
                    status_code=400,
                )
                await response(scope, receive, send)
                return
            if size > self.max_bytes:
                await self._too_large(size)(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(None)(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised inside ``receive`` when a streamed body passes the limit."""
