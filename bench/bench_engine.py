"""Engine benchmark: the scan research mode (``engine.scan``) side by side with optopsy 2.0.3.

Targets (issue 6), on the real SPX 2019 chain (``source = 'cboe_eod_chain'``, underlying SPX,
781,952 rows over 56 quote dates) and on the same chain tiled 10× with shifted dates (copy ``k``
moved by ``k * 364`` days, so weekdays are kept, its contract symbols made unique; labelled
``tiled 10x (synthetic dates)`` on every line: it is not new data): singles and straddles at
least 2× faster than optopsy, verticals at least 10×; iron condors complete on the full chain in
under 4 GB, where optopsy's four-leg merge asks for 139 GiB and fails.

Method. Every measurement runs in a fresh subprocess (``--worker``) that loads its input into
memory (a Polars frame for ours, the pandas frame optopsy wants for the peer), then calls the
scan ``--repeats`` times: the table shows the first call (what running one scan costs) and the
median of the later ones (warm). Peak memory is the worker's peak resident set (``VmHWM``), input
included; the resident size with the input alone is listed under the table. Guards: optopsy runs
under an 8 GiB ``RLIMIT_AS`` (a too-large allocation raises ``MemoryError`` in it, reported with
the size it asked for); any worker whose resident memory passes 10 GiB is killed (the machine has
24 GB). A call slower than 20 s is not repeated.

Comparable semantics (ours: :func:`engine.scan.run_scan`, summary only; optopsy: its strategy
functions with their default aggregate output, ``describe()`` per bucket):

- ``max_entry_dte=45, exit_dte=7`` on both: entries at DTE 8-45, exits at DTE 7, mid fills,
  entry legs with ``bid`` and ``ask > 0.05`` (optopsy's default ``min_bid_ask``) and moneyness
  ``S / K`` in ``[0.5, 1.5]`` (optopsy's default ``max_otm_pct=0.5``).
- Exits matched on the exact DTE on both (``exit_tolerance_days=0`` here), the only rule optopsy
  has; a second table times our default nearest-day matching and shows how many trades the
  exact rule alone keeps.
- optopsy gets ``underlying_symbol = option_root``: it joins legs on the underlying only, so with
  SPX and SPXW in one frame it pairs AM-settled monthlies with PM-settled weeklies, and an entry
  with the other root's exit. (FIELD_NOTES timed that unmapped frame: hence its 14.7M verticals
  and 18.1 s there.)
- singles: ``long_calls`` vs ``structure='single'``; straddles: ``long_straddles`` vs
  ``'straddle'``; verticals: ``short_put_spread`` vs ``'vertical', option_type='put',
  side='short'`` with no width limit (every ``K1 < K2`` pair, as optopsy).
- iron condors: optopsy 2.0.3 has no iron condor; its later releases build one from 2.0.3's own
  steps with four legs (long put, short put, short call, long call) merged on the expiration and
  ``K1 < K2 < K3 < K4`` kept, which this benchmark does with 2.0.3's functions. Ours is the
  bounded candidate set of :func:`engine.scan.iron_condor_trades` (defaults: equal wings up to
  50 points, short strikes within 5 % of spot), and once more without ``equal_wings`` (ours
  only). The candidate sets differ by design: the condor counts are not comparable.

Trade counts: ours is every trade scanned; optopsy's is its raw trade count (``raw=True``, run
once after the timed calls, untimed, after the peak memory was read). On the comparable rows they
differ by under 1 %: optopsy also trims *exit* rows by moneyness and rounds ``otm_pct`` to 0.01;
the trades both find have the same returns to 1e-11 (the check printed last, run on the
real chain).

Run: ``PYTHONPATH=. /path/to/venv-bench/bin/python bench/bench_engine.py`` in the benchmark
environment of ``bench/requirements-bench.txt`` (optopsy is never a project dependency; without
it the peer columns say so and ours is still timed). ``--help`` for options.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the benchmark venv need not install the project
    sys.path.insert(0, str(REPO_ROOT))

from engine.scan import ScanConfig, run_scan  # noqa: E402
from warehouse.paths import WarehousePaths, connect  # noqa: E402

CHAIN_SQL = """
select contract_symbol, underlying_symbol, option_root, quote_date, expiration, dte,
    option_type, strike, bid, ask, mid, underlying_price, delta
from marts.fct_option_quotes_daily
where source = 'cboe_eod_chain' and underlying_symbol = 'SPX'
"""
TILES = 10
TILE_SHIFT_DAYS = 364  # 52 weeks: a shifted copy keeps every weekday
REAL_LABEL = "real SPX 2019"
TILED_LABEL = f"tiled {TILES}x (synthetic dates)"
PEER_ADDRESS_GIB = 8  # optopsy's RLIMIT_AS: its too-large allocations raise MemoryError
RSS_LIMIT_GIB = 10  # any worker above this resident memory is killed (the machine has 24 GB)
WORKER_TIMEOUT_S = 900
LONG_RUN_S = 20.0  # a call this slow is not repeated
GIB = 1024**3

#: Settings shared by both sides (optopsy's names); ours adds exit_tolerance_days=0.
SHARED = {"max_entry_dte": 45, "exit_dte": 7}


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One row of the table: our scan settings, the optopsy function, the target."""

    label: str
    ours: dict[str, Any]
    peer: str
    target: str


COMPARISONS: dict[str, Comparison] = {
    "singles": Comparison(
        "singles (long calls)",
        {"structure": "single", "option_type": "call", "side": "long"},
        "long_calls",
        "ours >= 2x faster",
    ),
    "straddles": Comparison(
        "straddles (long)",
        {"structure": "straddle", "side": "long"},
        "long_straddles",
        "ours >= 2x faster",
    ),
    "verticals": Comparison(
        "verticals (short put spreads)",
        {"structure": "vertical", "option_type": "put", "side": "short"},
        "short_put_spread",
        "ours >= 10x faster",
    ),
    "iron_condors": Comparison(
        "iron condors (short)",
        {"structure": "iron_condor", "side": "short"},
        "iron_condor",
        "ours < 4 GB on the real chain",
    ),
    "iron_condors_unequal": Comparison(
        "iron condors, unequal wings (ours only)",
        {"structure": "iron_condor", "side": "short", "equal_wings": False},
        "",
        "ours < 4 GB on the real chain",
    ),
}


# --- data -----------------------------------------------------------------------------------------


def load_chain(db: Path) -> pl.DataFrame:
    """The real SPX 2019 chain from ``db`` (opened read-only, closed at once)."""
    con = connect(db, read_only=True)
    try:
        chain = con.sql(CHAIN_SQL).pl()
    finally:
        con.close()
    if chain.is_empty():
        raise SystemExit(f"{db} has no cboe_eod_chain SPX rows in marts.fct_option_quotes_daily")
    return chain


def tile_chain(chain: pl.DataFrame, tiles: int = TILES) -> pl.DataFrame:
    """The chain repeated ``tiles`` times, copy ``k`` moved ``k * 364`` days, symbols made unique.

    SYNTHETIC dates: the quotes are the real ones, only their calendar is shifted.
    """
    copies = []
    for k in range(tiles):
        shift = pl.duration(days=k * TILE_SHIFT_DAYS)
        copies.append(
            chain.with_columns(
                pl.col("quote_date") + shift,
                pl.col("expiration") + shift,
                pl.col("contract_symbol") + f"~{k}",
            )
        )
    return pl.concat(copies)


# --- workers (one measurement per fresh process) --------------------------------------------------


def _rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn, repeats: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
        if times[-1] > LONG_RUN_S:
            break
    return times, out


def worker_ours(data: Path, comparison: str, repeats: int, tolerance: int) -> dict[str, Any]:
    """Time our scan (summary only) on ``data``."""
    chain = pl.read_parquet(data)
    cfg = ScanConfig(**COMPARISONS[comparison].ours, **SHARED, exit_tolerance_days=tolerance)
    input_mb = _rss_mb("VmRSS")
    times, result = _timed(lambda: run_scan(chain.lazy(), cfg, keep_trades=False), repeats)
    summary = result.summary
    return {
        "times": times,
        "peak_mb": _rss_mb("VmHWM"),
        "input_mb": input_mb,
        "trades": int(summary["n_trades"].sum()),
        "exact": int(summary["n_exact_exit"].sum()),
    }


def _peer_function(name: str):
    import optopsy

    if name != "iron_condor":
        return getattr(optopsy, name)
    # optopsy 2.0.3 has no iron condor. Its later releases build one from 2.0.3's own steps
    # (evaluate the chain, pick puts/calls, suffix each leg's columns, merge the four legs on the
    # expiration, keep K1 < K2 < K3 < K4, price, aggregate); only the merge of more than two
    # legs is new there, so it is the only step written out here.
    from optopsy.checks import _run_checks
    from optopsy.core import (
        _assign_profit,
        _calls,
        _evaluate_all_options,
        _format_output,
        _puts,
    )
    from optopsy.definitions import (
        quadruple_strike_external_cols,
        quadruple_strike_internal_cols,
    )
    from optopsy.rules import _rule_non_overlapping_strike
    from optopsy.strategies import Side, default_kwargs

    leg_def = [(Side.long, _puts), (Side.short, _puts), (Side.short, _calls), (Side.long, _calls)]
    join_on = ["underlying_symbol", "expiration", "dte_entry", "dte_range"]

    def iron_condor(data, **kwargs):
        params = {**default_kwargs, **kwargs}
        _run_checks(params, data)
        evaluated = _evaluate_all_options(
            data,
            **{
                k: params[k]
                for k in (
                    "dte_interval",
                    "max_entry_dte",
                    "exit_dte",
                    "otm_pct_interval",
                    "max_otm_pct",
                    "min_bid_ask",
                )
            },
        )
        merged = None
        for i, (_, pick) in enumerate(leg_def, start=1):
            leg = pick(evaluated)
            leg = leg.rename(columns={c: f"{c}_leg{i}" for c in leg.columns if c not in join_on})
            merged = leg if merged is None else merged.merge(leg, on=join_on, how="inner")
        merged = _rule_non_overlapping_strike(merged, leg_def)
        priced = _assign_profit(merged, leg_def, [f"_leg{i}" for i in range(1, 5)])
        return _format_output(
            priced, params, quadruple_strike_internal_cols, quadruple_strike_external_cols
        )

    return iron_condor


def worker_peer(data: Path, comparison: str, repeats: int) -> dict[str, Any]:
    """Time optopsy (aggregate output) on ``data``, then count its raw trades untimed."""
    try:
        import optopsy  # noqa: F401
    except ImportError as exc:
        return {"error": f"optopsy not importable ({exc}); see bench/requirements-bench.txt"}
    frame = _peer_frame(pl.read_parquet(data))
    gc.collect()
    fn = _peer_function(COMPARISONS[comparison].peer)
    input_mb = _rss_mb("VmRSS")
    out: dict[str, Any] = {"input_mb": input_mb}
    try:
        times, _ = _timed(lambda: fn(frame, **SHARED), repeats)
    except MemoryError as exc:
        out.update(
            error=f"optopsy MemoryError under the {PEER_ADDRESS_GIB} GiB address-space cap: "
            f"{_asked(exc)}",
            peak_mb=_rss_mb("VmHWM"),
        )
        return out
    out.update(times=times, peak_mb=_rss_mb("VmHWM"))
    try:
        out["trades"] = len(fn(frame, raw=True, **SHARED))
    except (MemoryError, KeyError) as exc:
        out["trades_error"] = type(exc).__name__
    return out


def _peer_frame(chain: pl.DataFrame):
    """optopsy's column contract as pandas; option_root as its underlying (module docstring)."""
    return chain.select(
        pl.col("option_root").alias("underlying_symbol"),
        "underlying_price",
        "option_type",
        pl.col("expiration").cast(pl.Datetime("us")),
        pl.col("quote_date").cast(pl.Datetime("us")),
        "strike",
        "bid",
        "ask",
    ).to_pandas()


#: Strike columns that, with root, expiration and entry DTE, identify a trade on both sides.
CHECK_STRIKES = {
    "singles": ("strike",),
    "straddles": ("strike",),
    "verticals": ("strike_leg1", "strike_leg2"),
}


def worker_check(data: Path, comparison: str) -> dict[str, Any]:
    """Match our trades (exact exits) with optopsy's raw trades; compare their returns."""
    import optopsy  # noqa: F401

    chain = pl.read_parquet(data)
    cfg = ScanConfig(**COMPARISONS[comparison].ours, **SHARED, exit_tolerance_days=0)
    strikes = list(CHECK_STRIKES[comparison])
    ours_strikes = ["strike_leg1"] if strikes == ["strike"] else strikes
    ours = run_scan(chain.lazy(), cfg).trades.select(
        "option_root",
        "expiration",
        pl.col("dte_entry").cast(pl.Int64),
        *[pl.col(o).alias(k) for o, k in zip(ours_strikes, strikes, strict=True)],
        "trade_return",
    )
    raw = _peer_function(COMPARISONS[comparison].peer)(_peer_frame(chain), raw=True, **SHARED)
    peer = pl.from_pandas(
        raw[["underlying_symbol", "expiration", "dte_entry", *strikes, "pct_change"]]
    )
    peer = peer.select(
        pl.col("underlying_symbol").alias("option_root"),
        pl.col("expiration").cast(pl.Date),
        pl.col("dte_entry").cast(pl.Int64),
        *strikes,
        pl.col("pct_change").fill_nan(None),
    )
    keys = ["option_root", "expiration", "dte_entry", *strikes]
    both = ours.join(peer, on=keys, how="inner")
    diff = (
        both.select((pl.col("trade_return") - pl.col("pct_change")).abs().max()).item()
        if both.height
        else None
    )
    return {
        "ours": ours.height,
        "peer": peer.height,
        "matched": both.height,
        "max_abs_return_diff": diff,
    }


def _asked(exc: MemoryError) -> str:
    text = str(exc)
    if found := re.search(r"allocate ([\d.]+ ?[KMGT]i?B)", text):  # numpy
        return f"it asked for {found.group(1)} at once"
    if found := re.search(r"malloc of size (\d+)", text):  # pandas' hash tables
        return f"it asked for {int(found.group(1)) / GIB:.1f} GiB more"
    return text or "no size given"


# --- parent ---------------------------------------------------------------------------------------


def measure(
    side: str, comparison: str, data: Path, repeats: int, tolerance: int = 0
) -> dict[str, Any]:
    """Run one worker in a fresh subprocess under the memory guards; its report, or the failure.

    optopsy runs under ``RLIMIT_AS`` (a too-large allocation raises ``MemoryError`` in it);
    any worker whose resident memory passes ``RSS_LIMIT_GIB`` is killed (Polars reserves much
    more address space than it touches, so ours is guarded by resident memory only).
    """
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        side,
        "--comparison",
        comparison,
        "--data",
        str(data),
        "--repeats",
        str(repeats),
        "--tolerance",
        str(tolerance),
        "--cap-gib",
        str(PEER_ADDRESS_GIB if side == "peer" else 0),
    ]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        started, killed = time.monotonic(), None
        while proc.poll() is None:
            if _resident_mb(proc.pid) > RSS_LIMIT_GIB * 1024:
                killed = f"killed: resident memory passed {RSS_LIMIT_GIB} GiB"
            elif time.monotonic() - started > WORKER_TIMEOUT_S:
                killed = f"killed: still running after {WORKER_TIMEOUT_S} s"
            if killed:
                proc.kill()
                break
            time.sleep(0.05)
        proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed:
        return {"error": killed}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = " | ".join(stderr.strip().splitlines()[-2:])
    return {"error": f"exit code {proc.returncode}: {tail}"}


def _resident_mb(pid: int) -> float:
    """``VmRSS`` of a running process, MB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _first(report: dict[str, Any]) -> float | None:
    """The first call's wall time, s: a fresh process running the scan once."""
    return report["times"][0] if report.get("times") else None


def _warm(report: dict[str, Any]) -> float | None:
    """Median wall time of the calls after the first, s (None when there was only one)."""
    times = report.get("times") or []
    return statistics.median(times[1:]) if len(times) > 1 else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _pair(report: dict[str, Any]) -> str:
    return f"{_fmt(_first(report), '.3f')} / {_fmt(_warm(report), '.3f')}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        type=Path,
        default=WarehousePaths.from_env().published_db,
        help="DuckDB file with marts.fct_option_quotes_daily (opened read-only)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls per measurement (the first is cold)"
    )
    parser.add_argument(
        "--only", default=",".join(COMPARISONS), help=f"comma list of {list(COMPARISONS)}"
    )
    parser.add_argument("--no-tiled", action="store_true", help="skip the tiled 10x chain")
    parser.add_argument("--no-peer", action="store_true", help="time ours only")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the trade-by-trade check against optopsy"
    )
    parser.add_argument("--worker", choices=["ours", "peer", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--comparison", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tolerance", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cap-gib", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.cap_gib:
            # The worker caps its own address space (a preexec_fn is unsafe in a threaded parent).
            cap = args.cap_gib * GIB
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        if args.worker == "ours":
            report = worker_ours(args.data, args.comparison, args.repeats, args.tolerance)
        elif args.worker == "peer":
            report = worker_peer(args.data, args.comparison, args.repeats)
        else:
            report = worker_check(args.data, args.comparison)
        print(json.dumps(report))
        return

    selected = [c for c in args.only.split(",") if c]
    unknown = [c for c in selected if c not in COMPARISONS]
    if unknown:
        raise SystemExit(
            f"--only: unknown comparison(s) {unknown}; choose from {list(COMPARISONS)}"
        )
    peer_ok = not args.no_peer and _optopsy_available()
    if not args.no_peer and not peer_ok:
        print(
            "optopsy is not importable in this interpreter: peer skipped, ours still timed.\n"
            "Install the benchmark environment: pip install -r bench/requirements-bench.txt "
            "-c constraints.txt (never into the project venv)."
        )

    chain = load_chain(args.db)
    n_dates = chain["quote_date"].n_unique()
    print(
        f"engine benchmark: scan vs optopsy 2.0.3, max_entry_dte=45, exit_dte=7, {args.repeats} "
        f"timed calls per measurement, each measurement in a fresh subprocess\n"
        f"{REAL_LABEL}: {chain.height:,} rows, {n_dates} quote dates, from {args.db}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        datasets = {REAL_LABEL: Path(tmp) / "real.parquet"}
        chain.write_parquet(datasets[REAL_LABEL])
        if not args.no_tiled:
            datasets[TILED_LABEL] = Path(tmp) / "tiled.parquet"
            tiled = tile_chain(chain)
            tiled.write_parquet(datasets[TILED_LABEL])
            print(
                f"{TILED_LABEL}: {tiled.height:,} rows, the real quotes repeated with dates "
                f"shifted by multiples of {TILE_SHIFT_DAYS} days (not new data)"
            )
            del tiled
        del chain
        rows = []
        for name in selected:
            comp = COMPARISONS[name]
            for label, path in datasets.items():
                print(f"  {comp.label} on {label} ...", flush=True)
                ours = measure("ours", name, path, args.repeats)
                peer = (
                    measure("peer", name, path, args.repeats)
                    if peer_ok and comp.peer
                    else {"error": "not run" if comp.peer else "no peer"}
                )
                nearest = measure("ours", name, path, args.repeats, tolerance=5)
                rows.append((comp, label, ours, peer, nearest))
        checks = {}
        if peer_ok and not args.no_check:
            for name in [c for c in selected if c in CHECK_STRIKES]:
                print(f"  checking {COMPARISONS[name].label} trade by trade ...", flush=True)
                checks[name] = measure("check", name, datasets[REAL_LABEL], 1)
    print_tables(rows)
    print_checks(checks)
    portfolio_benchmarks(args)
    sweep_benchmark(args)


def _optopsy_available() -> bool:
    try:
        import optopsy  # noqa: F401
    except ImportError:
        return False
    return True


def print_tables(rows: list[tuple[Comparison, str, dict, dict, dict]]) -> None:
    """The comparison table, then our default semantics (nearest-day exits), then the notes."""
    notes: list[str] = []

    def cell(report: dict[str, Any], value: str) -> str:
        error = report.get("error")
        if error in ("no peer", "not run"):
            return "n/a"
        if error:
            notes.append(error)
            return f"FAILED [{len(notes)}]"
        return value

    head = (
        f"{'comparison':<40} {'data':<28} {'ours s':>15} {'optopsy s':>17} {'ratio':>13} "
        f"{'ours peak MB':>12} {'optopsy peak MB':>15}  trades ours / optopsy"
    )
    print(
        "\nwall time: first call in a fresh process / median of the later calls; ratio = "
        "optopsy / ours, same order"
    )
    print(head + "\n" + "-" * len(head))
    for comp, label, ours, peer, _ in rows:
        ratios = [
            f"{p / o:.1f}x" if o and p else "-"
            for o, p in ((_first(ours), _first(peer)), (_warm(ours), _warm(peer)))
        ]
        peer_trades = peer.get("trades")
        trades = f"{_fmt(ours.get('trades'), ',d')} / " + (
            f"{peer_trades:,}" if peer_trades is not None else peer.get("trades_error", "-")
        )
        print(
            f"{comp.label:<40} {label:<28} {cell(ours, _pair(ours)):>15} "
            f"{cell(peer, _pair(peer)):>17} {' / '.join(ratios):>13} "
            f"{_fmt(ours.get('peak_mb'), ',.0f'):>12} {_fmt(peer.get('peak_mb'), ',.0f'):>15}  "
            f"{trades}"
        )
    head = (
        f"{'ours, default nearest-day exits (5 days)':<40} {'data':<28} {'s':>15} "
        f"{'peak MB':>10} {'trades':>12} {'exact-DTE only':>15} {'kept':>6}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for comp, label, _, _, nearest in rows:
        trades, exact = nearest.get("trades"), nearest.get("exact")
        kept = f"{exact / trades:.0%}" if trades else "-"
        print(
            f"{comp.label:<40} {label:<28} {cell(nearest, _pair(nearest)):>15} "
            f"{_fmt(nearest.get('peak_mb'), ',.0f'):>10} {_fmt(trades, ',d'):>12} "
            f"{_fmt(exact, ',d'):>15} {kept:>6}"
        )
    print("\ntargets and inputs:")
    for comp, label, ours, peer, _ in rows:
        print(
            f"  {comp.label} on {label}: target {comp.target}; input resident before the call: "
            f"ours {_fmt(ours.get('input_mb'), ',.0f')} MB, "
            f"optopsy {_fmt(peer.get('input_mb'), ',.0f')} MB"
        )
    if notes:
        print("failures:")
        for i, note in enumerate(notes, start=1):
            print(f"  [{i}] {note}")


def print_checks(checks: dict[str, dict[str, Any]]) -> None:
    """Trade-by-trade agreement with optopsy on the real chain (exact exits)."""
    if not checks:
        return
    print(f"\ntrade by trade against optopsy's raw trades, {REAL_LABEL}, exact-DTE exits:")
    for name, report in checks.items():
        if "error" in report:
            print(f"  {COMPARISONS[name].label}: check failed: {report['error']}")
            continue
        print(
            f"  {COMPARISONS[name].label}: ours {report['ours']:,}, optopsy {report['peer']:,}, "
            f"the same trade on both sides {report['matched']:,}; largest return difference "
            f"there {_fmt(report['max_abs_return_diff'], '.1e')}"
        )


# --- hooks for the path-dependent engine (filled in with the backtest rewrite) --------------------


def portfolio_benchmarks(args: argparse.Namespace) -> None:
    """The path-dependent portfolio backtest and the sweep: ``bench/bench_portfolio.py``.

    It needs the engine's inputs (``marts.fct_option_features``, the universe, the closes),
    which the published warehouse has; it runs in this process, after the scans.
    """
    import bench_portfolio

    print("\nportfolio backtests (bench/bench_portfolio.py)", flush=True)
    bench_portfolio.main(["--db", str(args.db)])


def sweep_benchmark(args: argparse.Namespace) -> None:
    """The 100-configuration sweep is timed by :func:`portfolio_benchmarks` (same inputs)."""


if __name__ == "__main__":
    main()
