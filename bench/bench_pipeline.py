"""Whole-pipeline scale benchmark: load, dbt build, train, predict, backtest and attribution on
the real SPX 2019 chain tiled N times, each stage timed and its peak memory measured.

The warehouse will grow 10-30x (modeled option chains). For each scale N this builds a private
warehouse under the work directory: every embedded vendor file, with the SPX 2019 chain
(56 files, 781,952 quotes) replaced by N copies of it (copy ``k`` moved ``k`` times the chain's
span of XNYS sessions later, expirations and OCC symbols by whole weeks: SYNTHETIC dates, real
quotes; ``bench_load.tile_files``; at 1x the real files as they are). Then it runs the
pipeline's stages with the Makefile's own commands and environment (``STRATEGY_CONFIGS`` is read
from the Makefile), each in a subprocess, one at a time, and prints per stage: wall seconds,
the peak RSS of the stage's process tree (sum over the process and all its descendants, polled
every 0.1 s from ``/proc``: short spikes between samples are missed, shared pages counted once
per process), and the largest single process's peak RSS (``ru_maxrss`` from ``wait4``, exact:
the kernel's high-water mark over the stage's process and every descendant it reaped), and the
growth against 1x (time ratio over rows ratio: 1.0 is linear).

DuckDB gets ``WAREHOUSE_DUCKDB_MEMORY_LIMIT`` from ``--memory-limit`` (default the product's,
``warehouse.paths.DEFAULT_MEMORY_LIMIT``) and spills to the private warehouse's ``build/tmp``.
Target (issue: modeled chains): the 30x run finishes under 8 GB peak on this 2-core machine.

Run: ``.venv/bin/python bench/bench_pipeline.py --scales 1,10`` (minutes per scale; one scale at
a time: the machine has 2 cores). ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from warehouse.paths import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    REPO_ROOT,
    TEMP_DIR_ENV,
    duckdb_memory_limit,
)
from warehouse.sandbox import BIN, CHAIN_DIR, Sandbox, chain_files

#: The Makefile's pipeline stages, in its order (``make all`` less publish and the reports).
STAGES = ("load", "build", "train", "predict", "backtest", "attribute")
TARGET_PEAK_MIB = 8000 / 1.048576  # 8 GB (10^9 bytes) in MiB
POLL_S = 0.1
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def strategy_configs(makefile: Path = REPO_ROOT / "Makefile") -> list[str]:
    """The Makefile's ``STRATEGY_CONFIGS`` (the backtests of ``make all``), so they are written
    once.

    Raises
    ------
    ValueError
        When the Makefile has no ``STRATEGY_CONFIGS ?= ...`` line.
    """
    match = re.search(r"^STRATEGY_CONFIGS \?=(.*)$", makefile.read_text(), re.MULTILINE)
    if not match or not match.group(1).split():
        raise ValueError(f"no `STRATEGY_CONFIGS ?= ...` line in {makefile}")
    return match.group(1).split()


def stage_command(stage: str) -> list[str]:
    """The command the Makefile's ``pipeline`` target runs for ``stage`` (without its
    ``python -m warehouse stage`` recorder, which only writes the run manifest).

    Raises
    ------
    ValueError
        For a stage that is not one of :data:`STAGES`.
    """
    python, dbt = str(BIN / "python"), str(BIN / "dbt")
    if stage == "backtest":  # the Makefile's BACKTESTS: each config, stopping at the first failure
        loop = " ".join(f"{python} -m engine run --config {c};" for c in strategy_configs())
        return ["bash", "-eu", "-o", "pipefail", "-c", loop]
    commands = {
        "load": [python, "-m", "loaders", "load"],
        "build": [dbt, "build", "--quiet", "--no-use-colors"],
        "train": [python, "-m", "ml", "train"],
        "predict": [python, "-m", "ml", "predict"],
        "attribute": [dbt, "build", "--quiet", "--no-use-colors", "--select", "tag:forecasts"],
    }
    if stage not in commands:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    return commands[stage]


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as f:
                found.extend(int(c) for c in f.read().split())
    except (FileNotFoundError, ProcessLookupError):  # the process or a thread just ended
        pass
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_BYTES
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def tree_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and all its descendants now, in bytes (``/proc/<pid>/statm`` resident
    pages x page size; children from ``/proc/<pid>/task/*/children``, Linux >= 3.5)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _rss_bytes(current)
        todo.extend(_children(current))
    return total


@dataclass(frozen=True)
class StageResult:
    """One stage at one scale: wall time in seconds, memory in MiB (2^20 bytes)."""

    scale: int
    stage: str
    chain_rows: int
    seconds: float
    peak_tree_mib: float
    max_process_mib: float
    returncode: int


def run_stage(
    stage: str, scale: int, chain_rows: int, env: dict[str, str], log: Path
) -> StageResult:
    """Run one stage in a subprocess (cwd the repository, output to ``log``), polling its process
    tree's RSS every :data:`POLL_S` s; the single-process peak comes from ``os.wait4``."""
    command = stage_command(stage)
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        peak, done = [0], threading.Event()

        def poll() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_bytes(proc.pid))
                done.wait(POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    return StageResult(
        scale=scale,
        stage=stage,
        chain_rows=chain_rows,
        seconds=round(seconds, 2),
        peak_tree_mib=round(peak[0] / 2**20, 1),
        max_process_mib=round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        returncode=proc.returncode,
    )


def prepare(root: Path, scale: int) -> tuple[Sandbox, int]:
    """A sandbox warehouse under ``root`` whose SPX 2019 chain is the real one (``scale`` 1) or
    ``scale`` tiled copies of it (SYNTHETIC dates, real quotes); returns it and the number of
    chain rows (quotes) in its vendor files."""
    files = chain_files()
    sandbox = Sandbox.create(root, chain_days=len(files))
    chain = sandbox.root / "vendor" / CHAIN_DIR
    if scale > 1:
        from bench_load import tile_files

        for path in chain.glob("*.csv.gz"):
            path.unlink()
        tile_files(files, chain, tiles=scale)
    rows = sum(
        pl.read_csv(path, columns=["quotedate"], infer_schema=False).height
        for path in sorted(chain.glob("*.csv.gz"))
    )
    return sandbox, rows


def _parse_scales(text: str) -> list[int]:
    try:
        scales = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--scales must be integers like 1,10,30, got {text!r}"
        ) from None
    if not scales or min(scales) < 1 or max(scales) > 100:
        raise argparse.ArgumentTypeError(f"--scales must be in [1, 100], got {text!r}")
    return scales


def _parse_stages(text: str) -> list[str]:
    stages = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise argparse.ArgumentTypeError(f"--stages must be among {','.join(STAGES)}, got {text!r}")
    return sorted(set(stages), key=STAGES.index)  # the pipeline's order, whatever was typed


def growth(result: StageResult, baseline: dict[str, StageResult]) -> str:
    """``time ratio / rows ratio`` against the 1x run of the same stage: 1.0 = linear in rows,
    above 1 = superlinear. Empty without a 1x baseline."""
    base = baseline.get(result.stage)
    if base is None or base.seconds <= 0 or result.scale == base.scale:
        return ""
    time_ratio = result.seconds / base.seconds
    rows_ratio = result.chain_rows / base.chain_rows
    return f"{time_ratio:5.1f}x / {rows_ratio:4.1f}x = {time_ratio / rows_ratio:4.2f}"


def print_table(results: list[StageResult], baseline: dict[str, StageResult]) -> None:
    print(
        f"{'scale':>5}  {'stage':<9} {'chain rows':>11} {'seconds':>8} {'peak tree MiB':>13} "
        f"{'max proc MiB':>12}  growth vs 1x: time / rows = ratio"
    )
    for scale in sorted({r.scale for r in results}):
        rows = [r for r in results if r.scale == scale]
        for r in rows:
            failed = "" if r.returncode == 0 else f"  FAILED (exit {r.returncode})"
            print(
                f"{r.scale:>4}x  {r.stage:<9} {r.chain_rows:>11,} {r.seconds:>8.1f} "
                f"{r.peak_tree_mib:>13,.0f} {r.max_process_mib:>12,.0f}  "
                f"{growth(r, baseline)}{failed}"
            )
        total = sum(r.seconds for r in rows)
        peak = max(_peak_mib(r) for r in rows)
        verdict = "PASS" if peak < TARGET_PEAK_MIB else "FAIL"
        print(
            f"{scale:>4}x  {'total':<9} {rows[0].chain_rows:>11,} {total:>8.1f} {peak:>13,.0f}"
            f"{'':>14}  peak < 8 GB: {verdict}"
        )


def _peak_mib(result: StageResult) -> float:
    # the polled tree peak can miss a spike that wait4's exact single-process peak saw
    return max(result.peak_tree_mib, result.max_process_mib)


def project(results: list[StageResult], baseline: dict[str, StageResult], scale: int) -> str:
    """Estimate of the run at ``scale`` from the largest scale measured and the 1x baseline.

    Time: each stage's seconds scaled by the rows ratio (linear in chain rows; a floor when
    growth is superlinear). Peak memory: per stage, the straight line through its 1x and
    largest-scale peaks, evaluated at ``scale`` x the 1x rows (a stage whose memory DuckDB's
    limit caps grows slower than that line). Empty without a baseline, when only 1x was run or
    when ``scale`` was.
    """
    largest = max(r.scale for r in results)
    if largest >= scale or largest == 1 or not baseline:
        return ""
    rows_1x = next(iter(baseline.values())).chain_rows
    target_rows = rows_1x * scale
    last = [r for r in results if r.scale == largest]
    seconds = sum(r.seconds * target_rows / r.chain_rows for r in last)
    peaks = {}
    for r in last:
        base = baseline.get(r.stage)
        if base is not None and r.chain_rows > base.chain_rows:
            slope = (_peak_mib(r) - _peak_mib(base)) / (r.chain_rows - base.chain_rows)
            peaks[r.stage] = _peak_mib(r) + slope * (target_rows - r.chain_rows)
    line = (
        f"projection for {scale}x ({target_rows:,} rows) from 1x and {largest}x: "
        f"{seconds:,.0f} s = {seconds / 60:.0f} min (linear in rows)"
    )
    if peaks:
        stage = max(peaks, key=peaks.get)
        line += f"; peak ~{peaks[stage]:,.0f} MiB in {stage} (two-point linear in rows)"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scales", type=_parse_scales, default=[1, 10], help="e.g. 1,10,30 (default 1,10)"
    )
    parser.add_argument(
        "--stages",
        type=_parse_stages,
        default=list(STAGES),
        help=f"comma-separated, run in pipeline order (default {','.join(STAGES)})",
    )
    parser.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        help=f"DuckDB memory limit of every stage, as {MEMORY_LIMIT_ENV} "
        f"(default {DEFAULT_MEMORY_LIMIT})",
    )
    parser.add_argument(
        "--stop-on-failure",
        action="store_true",
        help="skip a scale's remaining stages after a failed one (default: run them: on the "
        "tiled chain's SYNTHETIC dates a data test can fail, e.g. the vendor IV agreement, "
        "while every model is built)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the scales' warehouses go (default: a new /tmp folder)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep each scale's warehouse (default: removed after it)",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the results here (default <workdir>/results.json)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a results.json holding a 1x run, for the growth column when 1 is not in --scales",
    )
    parser.add_argument(
        "--project",
        type=int,
        default=30,
        help="scale whose time to project from the largest run (default 30)",
    )
    args = parser.parse_args(argv)

    os.environ[MEMORY_LIMIT_ENV] = args.memory_limit
    try:
        duckdb_memory_limit()  # the product's own check, before any minute is spent
    except ValueError as error:
        parser.error(str(error))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    if args.baseline:
        results_1x = [
            StageResult(**r) for r in json.loads(args.baseline.read_text()) if r["scale"] == 1
        ]
    else:
        results_1x = []
    print(
        f"pipeline benchmark: scales {args.scales}, stages {','.join(args.stages)}, DuckDB memory "
        f"limit {args.memory_limit}, work dir {workdir}, {os.cpu_count()} cores",
        flush=True,
    )
    for scale in args.scales:
        root = workdir / f"scale_{scale}x"
        if root.exists():
            shutil.rmtree(root)
        started = time.perf_counter()
        sandbox, rows = prepare(root, scale)
        label = "real" if scale == 1 else f"tiled {scale}x, SYNTHETIC dates, real quotes"
        print(
            f"{scale}x: {rows:,} chain rows ({label}); vendor ready in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        env = {
            **sandbox.env,
            MEMORY_LIMIT_ENV: args.memory_limit,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "GX_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        env.pop(TEMP_DIR_ENV, None)  # spill in the private warehouse's build/tmp
        for stage in args.stages:
            result = run_stage(stage, scale, rows, env, root / f"{stage}.log")
            results.append(result)
            print(
                f"  {stage:<9} {result.seconds:8.1f} s  peak tree {result.peak_tree_mib:8,.0f} MiB"
                f"  max process {result.max_process_mib:8,.0f} MiB  exit {result.returncode}",
                flush=True,
            )
            if result.returncode != 0:
                print((root / f"{stage}.log").read_text()[-3000:], file=sys.stderr)
                if args.stop_on_failure:
                    break
        size = sum(p.stat().st_size for p in (root / "warehouse").rglob("*") if p.is_file())
        print(f"  warehouse on disk after the run: {size / 2**30:.1f} GiB", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    baseline = {r.stage: r for r in [*results_1x, *(r for r in results if r.scale == 1)]}
    print()
    print_table(results, baseline)
    projection = project(results, baseline, args.project)
    if projection:
        print(projection)
    out = args.json or workdir / "results.json"
    out.write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(f"results: {out}")
    return 0 if all(r.returncode == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
