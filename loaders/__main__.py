"""``python -m loaders``: parse vendor files, validate them, land them as parquet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loaders.landing import land_vendor_files
from loaders.vendor import FORMATS
from loaders.yfinance_source import SourceNotBuiltError, land_yfinance
from warehouse.paths import WarehousePaths


def main(argv: list[str] | None = None) -> int:
    paths = WarehousePaths.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m loaders",
        description="Land raw market data into warehouse/raw/ as validated parquet.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="parse, validate (great-expectations) and land")
    load.add_argument(
        "--source",
        choices=["vendor", "yfinance"],
        default="vendor",
        help="vendor: files in their native layouts (default); yfinance: live feed (not built yet)",
    )
    load.add_argument(
        "--vendor-dir",
        type=Path,
        default=paths.vendor_dir,
        help=f"folder of vendor files (default {paths.vendor_dir})",
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
    sub.add_parser("formats", help="list the vendor layouts this loader reads")
    args = parser.parse_args(argv)

    if args.command == "formats":
        for fmt in FORMATS:
            print(f"{fmt.source:<24} -> raw/{fmt.vendor}/{fmt.entity}.parquet   {fmt.pattern}")
        return 0

    if args.source == "yfinance":
        try:
            land_yfinance()
        except SourceNotBuiltError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        reports = land_vendor_files(
            args.vendor_dir.resolve(),
            args.raw_dir.resolve(),
            only=set(args.only) if args.only else None,
            progress=lambda r: print(r.line(), flush=True),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [e for r in reports for e in r.file_errors]
    landed = sum(r.rows_landed for r in reports)
    rejected = sum(r.rows_rejected for r in reports)
    print(f"landed {landed:,} rows, rejected {rejected:,} (kept in {args.raw_dir}/_rejects)")
    if failed:
        print(f"{len(failed)} file(s) could not be read; the others landed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
