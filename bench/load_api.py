"""Bounded load test of the HTTP API's read routes on loopback (issue 20).

N concurrent clients (asyncio + httpx, one connection each) request the read routes in turn for S
seconds: health, models, a model's latest metrics, predictions (a contract model, top 20),
signals, strategies, tables, the backtest list, and a run's detail, trades, legs and equity (runs
taken from ``GET /backtests`` at the start). Prints requests per second, p50/p99/max latency,
the error count (any non-2xx answer or transport error: the target is zero), the requests per
route, and how many warehouse versions ``/health`` reported (more than one: a publish happened
during the test and was seen without a restart).

Against a running server (``make api``)::

    .venv/bin/python bench/load_api.py --url http://127.0.0.1:8000 --clients 50 --seconds 30

or let it start one (``python -m app.api`` on a free loopback port, on ``WAREHOUSE_DIR``) and
stop it afterwards: ``--serve``. The clients share the machine with the server (2 cores here,
shared with other work): the figures are for the pair, not the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from app.api.process import V1, served

REPO_ROOT = Path(__file__).resolve().parents[1]


def routes(url: str) -> list[str]:
    """The read routes to cycle through (run ids from the server's own ``/backtests``)."""
    runs = httpx.get(url + V1 + "/backtests", timeout=60, trust_env=False)
    runs.raise_for_status()
    run_ids = [row["run_id"] for row in runs.json()["rows"]][:5]
    paths = [
        "/health",
        "/models",
        "/models/xgb_direction_5d/latest",
        "/predictions?model=xgb_option_return_5d&top_k=20",
        "/signals",
        "/strategies",
        "/tables",
        "/backtests",
    ]
    for run_id in run_ids:
        paths += [
            f"/backtests/{run_id}",
            f"/backtests/{run_id}/trades",
            f"/backtests/{run_id}/legs",
            f"/backtests/{run_id}/equity",
        ]
    return [V1 + p for p in paths]


async def _client(
    n: int,
    url: str,
    paths: list[str],
    stop_at: float,
    latencies: list[float],
    errors: Counter,
    per_route: Counter,
    versions: set[str],
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as client:
        i = n
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            try:
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                per_route[path.split("?")[0].rsplit("/", 1)[-1]] += 1
                if response.status_code >= 300:
                    errors[f"{response.status_code} {response.text[:120]}"] += 1
                elif path.endswith("/health"):
                    versions.add(response.json()["warehouse_version"])
            except httpx.HTTPError as exc:
                latencies.append(time.perf_counter() - started)
                errors[f"{type(exc).__name__}"] += 1


async def load(url: str, clients: int, seconds: float) -> dict:
    """Run the load; returns the figures (see the module docstring)."""
    paths = routes(url)
    latencies: list[float] = []
    errors: Counter = Counter()
    per_route: Counter = Counter()
    versions: set[str] = set()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _client(n, url, paths, stop_at, latencies, errors, per_route, versions)
            for n in range(clients)
        )
    )
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(np.max(ms)),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "per_route": dict(sorted(per_route.items())),
        "warehouse_versions": len(versions),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Exit code 1 when any request failed."
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--url", default="http://127.0.0.1:8000", help="server (default: %(default)s)"
    )
    target.add_argument(
        "--serve", action="store_true", help="start `python -m app.api` on a free port and stop it"
    )
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default: 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration (default: 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 1000:
        parser.error(f"--clients must be in [1, 1000], got {args.clients}")
    if not 0 < args.seconds <= 3600:
        parser.error(f"--seconds must be in (0, 3600], got {args.seconds}")

    def run(url: str) -> dict:
        host = httpx.URL(url).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"loopback only: --url host must be 127.0.0.1, got {host!r}")
        print(f"{args.clients} clients x {args.seconds:g} s against {url} (read routes) ...")
        return asyncio.run(load(url, args.clients, args.seconds))

    if args.serve:
        with served(os.environ) as url:
            figures = run(url)
    else:
        figures = run(args.url)
    print(
        f"requests {figures['requests']:,} in {figures['seconds']:.1f} s: "
        f"{figures['requests_per_s']:.1f} req/s; latency p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms; "
        f"errors {figures['errors']}; warehouse versions seen {figures['warehouse_versions']}"
    )
    print(f"per route: {figures['per_route']}")
    if figures["errors"]:
        print(f"errors: {figures['error_kinds']}")
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
