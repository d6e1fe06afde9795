"""The service as a process of its own: ``python -m app.api`` (what ``make api`` runs) on a free
loopback port, waited for and always stopped. Used by the load test (``bench/load_api.py``) and
the end-to-end test (``tests/api/test_real_warehouse.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

import httpx

from warehouse.paths import REPO_ROOT

#: The routes' prefix.
V1 = "/api/v1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(
    env: Mapping[str, str],
    *,
    log: IO[str] | None = None,
    start_timeout_s: float = 60.0,
    stop_timeout_s: float = 20.0,
) -> Iterator[str]:
    """Run ``python -m app.api`` on a free loopback port with environment ``env`` (its
    ``WAREHOUSE_DIR``, ``OPTIONS_API_TOKEN``); yield its base URL (``http://127.0.0.1:<port>``)
    once ``/api/v1/health`` answers below 500; terminate it (then kill) on the way out.

    Parameters
    ----------
    log
        Where the server's stdout and stderr go (default: inherited).

    Raises
    ------
    RuntimeError
        When the server exits or does not answer within ``start_timeout_s`` seconds.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.api", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(url + V1 + "/health", timeout=5, trust_env=False).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"the API server exited with {server.returncode} on {url}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not answer on {url} in {start_timeout_s} s")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
