"""``python -m loaders``: parse vendor files or fetch yfinance, validate, land as parquet."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from loaders.check import check_file, print_formats
from loaders.landing import LoadReport, land_vendor_files
from loaders.printable import printable
from loaders.refused import REFUSED_FILE, is_strict, read_refused, refused_frame, render_refused
from warehouse.paths import WarehousePaths
from warehouse.pipeline import PipelineBusyError, pipeline_lock


class _FileProgress:
    """Per-file progress on stderr: rewritten in place on a terminal, else a line every 2 s."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, target: str, done: int, total: int, rows: int, seconds: float) -> None:
        now = time.monotonic()
        if not self.tty and done < total and now - self.last < 2.0:
            return
        self.last = now
        rate = rows / seconds if seconds > 0 else 0.0
        text = f"  {target}: {done}/{total} files, {rows:,} rows, {rate:,.0f} rows/s"
        if self.tty:
            end = "\n" if done == total else ""
            print(f"\r{text:<90}", end=end, file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def build_parser(paths: WarehousePaths) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loaders",
        description="Land raw market data into warehouse/raw/ as validated parquet batches "
        "(great-expectations; failing rows kept in raw/_rejects/ with rule, file and line). "
        "Idempotent: files already landed are skipped by checksum.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser(
        "load",
        help="parse, validate and land what is new",
        description="Land vendor files (default) or a live yfinance fetch. Holds the pipeline "
        "lock: fails at once if another pipeline runs.",
    )
    load.add_argument(
        "--source",
        choices=["vendor", "yfinance"],
        default="vendor",
        help="vendor: files in their native layouts under --vendor-dir (default); "
        "yfinance: live daily bars and an option-chain snapshot (needs the network)",
    )
    load.add_argument(
        "--vendor-dir",
        type=Path,
        default=paths.vendor_dir,
        help=f"folder of vendor files (default {paths.vendor_dir})",
    )
    load.add_argument(
        "--allow-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="another folder that files under --vendor-dir may link into (repeatable)",
    )
    load.add_argument(
        "--raw-dir",
        type=Path,
        default=paths.raw_dir,
        help=f"landing folder (default {paths.raw_dir})",
    )
    load.add_argument(
        "--only",
        action="append",
        metavar="VENDOR/ENTITY",
        help="land only this target (repeatable), e.g. cboe/option_quotes",
    )
    load.add_argument(
        "--symbols",
        default="SPY",
        help="yfinance: comma-separated tickers (default SPY)",
    )
    load.add_argument(
        "--start", type=_parse_date, default=None, help="yfinance: first bar date (ISO)"
    )
    load.add_argument("--end", type=_parse_date, default=None, help="yfinance: last bar date (ISO)")
    load.add_argument(
        "--no-options",
        action="store_true",
        help="yfinance: bars and corporate actions only, no option-chain snapshot",
    )
    load.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a vendor file was refused (unclaimed or unreadable); without it (and "
        "without STRICT=1 in the environment) the other files land, the refused ones are "
        f"recorded in raw/{REFUSED_FILE} and listed on stderr, and the exit status is 0",
    )
    refused = sub.add_parser(
        "refused",
        help=f"list the vendor files the latest load refused (raw/{REFUSED_FILE})",
        description=f"Print the vendor files the latest load refused, with why (raw/"
        f"{REFUSED_FILE}), or 'no refused files'. Exit 0, or 1 with --strict (or STRICT=1 in "
        "the environment) when any file was refused. `make all` ends with it.",
    )
    refused.add_argument(
        "--raw-dir",
        type=Path,
        default=paths.raw_dir,
        help=f"landing folder (default {paths.raw_dir})",
    )
    refused.add_argument(
        "--strict", action="store_true", help="exit 1 when any file was refused (or STRICT=1)"
    )
    formats = sub.add_parser(
        "formats",
        help="list the vendor layouts this loader reads (built-in and your own YAML layouts in "
        "<vendor dir>/layouts/), their folders and, for option quotes, the time of day the "
        "quotes were taken (quoted_at)",
    )
    check = sub.add_parser(
        "check",
        help="say which layout claims a file and what its first rows become (lands nothing)",
    )
    check.add_argument("file", type=Path, help="the vendor file to look at")
    check.add_argument("--rows", type=int, default=5, help="rows to show (default 5)")
    for command in (formats, check):
        command.add_argument(
            "--vendor-dir",
            type=Path,
            default=paths.vendor_dir,
            help=f"folder of vendor files and of your layouts/ (default {paths.vendor_dir})",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    args = build_parser(paths).parse_args(argv)
    if args.command == "formats":
        return print_formats(args.vendor_dir.resolve())
    if args.command == "check":
        return check_file(args.file, args.vendor_dir.resolve(), rows=args.rows)
    if args.command == "refused":
        return _print_refused(args.raw_dir.resolve(), strict=is_strict(args.strict))

    try:
        with pipeline_lock(paths.root):
            if args.source == "yfinance":
                from loaders.yfinance_land import land_yfinance

                reports = land_yfinance(
                    [s.strip().upper() for s in args.symbols.split(",") if s.strip()],
                    args.raw_dir.resolve(),
                    start=args.start,
                    end=args.end,
                    options=not args.no_options,
                    progress=lambda r: print(r.line(), flush=True),
                )
            else:
                vendor_dir = args.vendor_dir.resolve()
                reports = land_vendor_files(
                    vendor_dir,
                    args.raw_dir.resolve(),
                    only=set(args.only) if args.only else None,
                    allowed_roots=[vendor_dir, *args.allow_dir],
                    progress=lambda r: print(r.line(), flush=True),
                    file_progress=_FileProgress(),
                )
    except PipelineBusyError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 75
    except (FileNotFoundError, ValueError, PermissionError) as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    if args.source == "yfinance":
        return _summarise(reports, args.raw_dir)
    return _summarise_vendor(reports, args.raw_dir.resolve(), strict=is_strict(args.strict))


def _print_refused(raw_dir: Path, *, strict: bool) -> int:
    refused = read_refused(raw_dir)
    if refused.is_empty():
        print("no refused files")
        return 0
    print(render_refused(refused, raw_dir), flush=True)
    return 1 if strict else 0


def _summarise_vendor(reports: list[LoadReport], raw_dir: Path, *, strict: bool) -> int:
    """The vendor load's summary: the files this load refused (recorded in raw/_refused.parquet)
    are listed loudly on stderr, and stop nothing (exit 0) unless ``strict``."""
    _summarise(reports, raw_dir, errors_fail=False)
    refused = refused_frame(r for report in reports for r in report.refused)
    if refused.is_empty():
        return 0
    print(render_refused(refused, raw_dir), file=sys.stderr, flush=True)
    if strict:
        print("strict: exit 1 because files were refused", file=sys.stderr)
        return 1
    return 0


def _summarise(reports: list[LoadReport], raw_dir: Path, *, errors_fail: bool = True) -> int:
    failed = [e for r in reports for e in r.file_errors]
    landed = sum(r.rows_landed for r in reports)
    rejected = sum(r.rows_rejected for r in reports)
    new = sum(r.files_new for r in reports)
    empty = sum(len(r.empty_files) for r in reports)
    print(
        f"landed {landed:,} rows in {new} new batch(es), rejected {rejected:,} "
        f"(kept in {printable(raw_dir)}/_rejects)"
    )
    if empty:
        print(
            f"warning: {empty} file(s) had a header and no rows; they landed as empty batches "
            "(named above)",
            file=sys.stderr,
        )
    if failed and errors_fail:  # a live fetch: nothing records its failures, so they fail it
        print(f"{len(failed)} file(s) could not be landed; the others landed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
