"""``python -m app.api [--host 127.0.0.1] [--port 8000]``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from app.api.state import DEFAULT_MAX_BODY_BYTES, DEFAULT_RUN_TIMEOUT_S, TOKEN_ENV


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.api",
        description="Serve the HTTP API over the published warehouse (WAREHOUSE_DIR, default "
        "<repo>/warehouse) under /api/v1, OpenAPI docs at /docs. POST needs "
        f"'Authorization: Bearer ${TOKEN_ENV}'; without {TOKEN_ENV} set, POST is refused (401).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: %(default)s, loopback only; 0.0.0.0 exposes it)",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body in bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--run-timeout-s",
        type=float,
        default=DEFAULT_RUN_TIMEOUT_S,
        help="seconds a POSTed backtest may run (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise SystemExit(f"--port must be in [1, 65535], got {args.port}")
    import uvicorn

    from app.api.server import create_app
    from app.api.state import ApiSettings

    logging.basicConfig(level=args.log_level.upper())
    app = create_app(
        ApiSettings(max_body_bytes=args.max_body_bytes, run_timeout_s=args.run_timeout_s)
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
