"""``python -m loaders``: parse vendor files or fetch yfinance, validate, land as parquet."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from loaders.landing import LoadReport, land_vendor_files
from loaders.printable import printable
from loaders.vendor import CLOSE, FORMATS
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
    sub.add_parser(
        "formats",
        help="list the vendor layouts this loader reads, their folders and, for option quotes, "
        "the time of day the quotes were taken (quoted_at)",
    )
    return parser


def _quote_time_label(quote_time: str) -> str:
    if quote_time == CLOSE:
        return "quoted at the close (16:00 ET, 13:00 on half days)"
    return f"quoted at {quote_time} ET"


def _print_formats() -> None:
    for fmt in FORMATS:
        print(f"{fmt.source:<26} -> raw/{fmt.vendor}/{fmt.entity}/")
        for pattern in fmt.patterns:
            quote_time = fmt.quote_time_of(pattern)
            label = f"  [{_quote_time_label(quote_time)}]" if quote_time else ""
            print(f"{'':<29}{pattern}{label}")
        if fmt.notes:
            print(f"{'':<29}({fmt.notes})")
    print(f"{'yfinance':<26} -> raw/yfinance/{{equity_bars,corporate_actions,option_quotes}}/")
    print(f"{'':<29}live fetch (load --source yfinance)  [quoted at the snapshot's own instant]")


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    args = build_parser(paths).parse_args(argv)
    if args.command == "formats":
        _print_formats()
        return 0

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
    return _summarise(reports, args.raw_dir)


def _summarise(reports: list[LoadReport], raw_dir: Path) -> int:
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
    if failed:
        print(f"{len(failed)} file(s) could not be landed; the others landed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
