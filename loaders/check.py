"""``python -m loaders formats`` and ``python -m loaders check FILE``: which layouts the loader
knows, and which one claims a file and what its first rows become, before anything lands."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loaders.layouts import all_formats
from loaders.printable import printable
from loaders.vendor import CLOSE, VendorFileError, VendorFormat, parse_file

#: Canonical columns shown first by ``check`` (the rest follow when not null).
_FIRST = (
    "contract_symbol", "underlying_symbol", "option_root", "option_type", "quote_date",
    "quoted_at", "expiration", "vendor_expiration", "strike", "bid", "ask",
    "is_standard_contract", "nonstandard_reason", "symbol", "date", "close",
)  # fmt: skip


def _quote_time_label(quote_time: str) -> str:
    if quote_time == CLOSE:
        return "quoted at the close (16:00 ET, 13:00 on half days)"
    return f"quoted at {quote_time} ET"


def print_formats(vendor_dir: Path) -> int:
    """Print every layout that reads ``vendor_dir`` (built-in and the user's own), its folders,
    its quote time, whether it is wide, and where it is declared; then the layout files refused.
    Returns the exit code (1 when a user layout file is refused)."""
    formats, errors = all_formats(vendor_dir)
    for fmt in formats:
        shape = "  [wide: calls and puts on one row]" if fmt.wide else ""
        print(f"{fmt.source:<26} -> raw/{fmt.vendor}/{fmt.entity}/{shape}")
        for pattern in fmt.patterns:
            quote_time = fmt.quote_time_of(pattern)
            label = f"  [{_quote_time_label(quote_time)}]" if quote_time else ""
            print(f"{'':<29}{pattern}{label}")
        print(f"{'':<29}declared in {fmt.origin}")
        if fmt.notes:
            print(f"{'':<29}({fmt.notes})")
    print(f"{'yfinance':<26} -> raw/yfinance/{{equity_bars,corporate_actions,option_quotes}}/")
    print(f"{'':<29}live fetch (load --source yfinance)  [quoted at the snapshot's own instant]")
    print(
        f"\nyour own layouts: {printable(vendor_dir / 'layouts')}/*.yaml (see loaders/layouts.py)"
    )
    for name, message in errors:
        print(f"REFUSED {printable(name)}: {printable(message)}")
    return 1 if errors else 0


def _claimants(
    path: Path, vendor_dir: Path, formats: tuple[VendorFormat, ...]
) -> list[VendorFormat]:
    resolved = path.resolve()
    if resolved.is_relative_to(vendor_dir.resolve()):
        rel = resolved.relative_to(vendor_dir.resolve()).as_posix()
        return [f for f in formats if f.claims(rel)]
    # outside the vendor folder: the layouts whose file names match and whose required
    # columns are all in the file's header
    owners = []
    for fmt in formats:
        if not fmt.header or not any(Path(path.name).match(Path(p).name) for p in fmt.patterns):
            continue
        try:
            header = pl.read_csv(
                path, n_rows=0, separator=fmt.separator, infer_schema=False
            ).columns
        except (pl.exceptions.PolarsError, OSError, EOFError):
            continue
        required = set(fmt.native_columns) - fmt.optional
        if len(header) > 2 and required <= {c.strip() for c in header}:
            owners.append(fmt)
    return owners


def check_file(path: Path, vendor_dir: Path, *, rows: int = 5) -> int:
    """Say which layout claims ``path`` and print its first ``rows`` canonical rows and any
    rejects. Returns 0 when exactly one layout claims and parses it, else 1 (the message says
    why: no layout, several, or what makes it unreadable)."""
    if not path.is_file():
        print(f"error: not a file: {printable(path)}")
        return 1
    formats, errors = all_formats(vendor_dir)
    for name, message in errors:
        print(f"REFUSED {printable(name)}: {printable(message)}")
    owners = _claimants(path, vendor_dir, formats)
    if not owners:
        print(
            f"{printable(path)}: no layout claims it. Move it into a layout's folder "
            "(`python -m loaders formats`) or declare a layout in "
            f"{printable(vendor_dir / 'layouts')}/<name>.yaml"
        )
        return 1
    if len(owners) > 1:
        print(f"{printable(path)}: claimed by several layouts {[f.source for f in owners]}")
        return 1
    fmt = owners[0]
    print(
        f"{printable(path)}: layout {fmt.source} ({fmt.origin}) -> raw/{fmt.vendor}/{fmt.entity}/"
    )
    try:
        landed, rejects = parse_file(fmt, path, vendor_dir)
    except VendorFileError as exc:
        print(f"cannot be read: {printable(exc)}")
        return 1
    print(
        f"{landed.height:,} rows parse, {rejects.height:,} rejected at parsing "
        "(validation runs at `load`)"
    )
    head = landed.head(rows)
    shown = [c for c in _FIRST if c in head.columns] + [
        c for c in head.columns if c not in _FIRST and head[c].null_count() < head.height
    ]
    with pl.Config(
        tbl_cols=-1,
        tbl_rows=-1,
        tbl_width_chars=200,
        fmt_str_lengths=40,
        tbl_hide_dataframe_shape=True,
    ):
        print(
            head.select(shown).transpose(
                include_header=True, column_names=[f"row {i + 1}" for i in range(head.height)]
            )
            if head.height
            else "(no rows)"
        )
        if rejects.height:
            print(rejects.select("rule", "source_line", "row_json").head(rows))
    return 0
