"""Frames as responses: JSON by default, Arrow IPC stream or Parquet on request.

A route that returns rows (trades, legs, equity) answers in the format asked for by
``?format=json|arrow|parquet`` or, without it, by the ``Accept`` header
(``application/vnd.apache.arrow.stream``, ``application/vnd.apache.parquet``; anything else,
``*/*`` included, is JSON). ``?format=`` wins over ``Accept``.

JSON rows are written by Polars (:meth:`polars.DataFrame.write_json`, row-oriented): dates as
ISO ``YYYY-MM-DD``, timestamps ISO 8601 with offset, NaN and null as ``null`` (JSON has no NaN).
Arrow and Parquet keep the frame's types (``Date``, ``Float64``, ...); Parquet is zstd-compressed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from fastapi import Request, Response

from app.api.errors import ApiError, bad_request

Format = Literal["json", "arrow", "parquet"]
FORMATS: tuple[str, ...] = ("json", "arrow", "parquet")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "arrow": ARROW_STREAM,
    "parquet": PARQUET,
}


def negotiate(request: Request, format_: str | None) -> Format:
    """The format of a rows response: ``format_`` (the ``format`` query value) when given,
    else the first Arrow or Parquet media type named in ``Accept``, else JSON.

    Raises
    ------
    ApiError
        ``BAD_REQUEST`` when ``format_`` is not one of :data:`FORMATS` (named).
    """
    if format_ is not None:
        if format_ not in FORMATS:
            raise bad_request("format", format_, f"must be one of {list(FORMATS)}")
        return format_  # type: ignore[return-value]
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == ARROW_STREAM:
            return "arrow"
        if media == PARQUET:
            return "parquet"
    return "json"


def rows_json(frame: pl.DataFrame) -> str:
    """The rows of ``frame`` as a JSON array of objects (see the module docstring).

    Written as NDJSON and joined (a raw newline only ever ends a row: newlines inside strings
    are escaped), not with :meth:`polars.DataFrame.write_json`: with polars 2.1.0,
    ``write_json`` on a frame that another thread uses at the same time (the cached frames of
    this service) deadlocks both threads; ``write_ndjson`` does not (measured here, and
    ``tests/api/test_contract.py::test_concurrent_json_of_one_frame_does_not_hang``). Same
    text as ``write_json``.

    >>> rows_json(pl.DataFrame({"a": [1, None], "b": ["x", "y"]}))
    '[{"a":1,"b":"x"},{"a":null,"b":"y"}]'
    """
    if not frame.width or not frame.height:
        return "[]"
    return "[" + frame.write_ndjson().rstrip("\n").replace("\n", ",") + "]"


def json_response(payload: dict[str, Any], rows: dict[str, pl.DataFrame] | None = None) -> Response:
    """``payload`` as JSON with each frame of ``rows`` spliced in under its key (Polars writes
    the rows; no per-row Python)."""
    body = json.dumps(payload, default=str, allow_nan=False)
    if rows:
        parts = [f"{json.dumps(key)}:{rows_json(frame)}" for key, frame in rows.items()]
        body = body[:-1] + ("," if payload else "") + ",".join(parts) + "}"
    return Response(body, media_type="application/json")


def frame_response(
    frame: pl.DataFrame, format_: Format, payload: dict[str, Any], filename: str
) -> Response:
    """``frame`` in ``format_``: JSON ``{**payload, "n_rows", "rows": [...]}``, or the table
    alone as an Arrow IPC stream or a Parquet file (``payload`` then goes into ``X-*`` headers
    of its scalar string values)."""
    if format_ == "json":
        return json_response({**payload, "n_rows": frame.height}, {"rows": frame})
    buffer = io.BytesIO()
    if format_ == "arrow":
        frame.write_ipc_stream(buffer)
    elif format_ == "parquet":
        frame.write_parquet(buffer, compression="zstd")
    else:  # pragma: no cover - negotiate() refuses it first
        raise ApiError("BAD_REQUEST", f"unknown format {format_!r}")
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}.{format_}"',
        "X-Row-Count": str(frame.height),
    }
    return Response(buffer.getvalue(), media_type=MEDIA_TYPES[format_], headers=headers)


def to_jsonable(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Small frames (a run's metrics, a registry row) as plain JSON-able dicts (NaN -> null)."""
    return json.loads(rows_json(frame))


@dataclass(frozen=True)
class Rendered:
    """A response body rendered once and kept (``app.api.state.Published.memo``): a fresh
    :class:`fastapi.Response` is made of it for each request."""

    body: bytes
    media_type: str | None
    headers: tuple[tuple[str, str], ...]
    status_code: int

    @classmethod
    def of(cls, response: Response) -> Rendered:
        kept = tuple(
            (k, v)
            for k, v in response.headers.items()
            if k not in ("content-length", "content-type")
        )
        return cls(bytes(response.body), response.media_type, kept, response.status_code)

    def response(self) -> Response:
        return Response(
            self.body,
            status_code=self.status_code,
            headers=dict(self.headers),
            media_type=self.media_type,
        )
