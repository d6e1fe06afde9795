"""Parse vendor files in their native layouts into the canonical schemas of :mod:`loaders.schemas`.

Each parser reads every column as text, maps the native header *by name* to the canonical one, then
casts. A value that does not parse (``strike = "abc"``) does not fail the file and is not silently
nulled: its row goes to the rejects with the rule ``unparseable:<column>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loaders import schemas


class VendorFileError(ValueError):
    """A vendor file that cannot be parsed at all (bad header, empty, unreadable); names it."""


@dataclass(frozen=True)
class VendorFormat:
    """One vendor layout: where its files are, what entity they hold, and how to read them.

    Attributes
    ----------
    source
        Name recorded in every landed row's ``source`` column.
    vendor
        Folder under ``warehouse/raw/`` (the dbt source name).
    entity
        Landed table name; its schema is ``ENTITY_SCHEMAS[entity]``.
    pattern
        Glob, relative to the vendor directory.
    header
        Native column -> canonical column; every key must be in the file's header.
    date_format
        strptime format of the date columns (chrono syntax, accepts unpadded month/day).
    symbol
        Callable giving the symbol column's value from the file path, for layouts that carry it
        only in the file name; None when the file has a symbol column.
    """

    source: str
    vendor: str
    entity: str
    pattern: str
    header: dict[str, str]
    date_format: str
    symbol: Callable[[Path, list[str]], tuple[str, str]] | None = None


ENTITY_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "option_quotes": schemas.OPTION_QUOTES,
    "index_bars": schemas.BARS,
    "equity_bars": schemas.BARS,
    "volatility_indices": schemas.VOLATILITY_INDICES,
    "rates": schemas.RATES,
}

DATE_COLUMNS = {"quote_date", "expiration", "date"}
LINEAGE_COLUMNS = frozenset(schemas.LINEAGE)
# Date headers of the two-column layouts: CBOE close-only (DATE), FRED (observation_date), and
# FRED exports re-saved by other tools (date,value).
DATE_HEADERS = frozenset({"DATE", "Date", "date", "observation_date"})


def _const_symbol(name: str) -> Callable[[Path, list[str]], tuple[str, str]]:
    return lambda path, header: ("symbol", name)


def _symbol_from_stem(column: str) -> Callable[[Path, list[str]], tuple[str, str]]:
    return lambda path, header: (column, path.name.removesuffix(".csv"))


def _close_only_series(column: str, suffix: str) -> Callable[[Path, list[str]], tuple[str, str]]:
    """The symbol of two-column layouts comes from the file name.

    CBOE close-only files (``DATE,VVIX``) and FRED files (``observation_date,DGS3MO``) name their
    value column after the series, which must then match the file name; FRED files re-saved by
    other tools say ``date,value``."""

    def symbol(path: Path, header: list[str]) -> tuple[str, str]:
        expected = path.name.removesuffix(".csv").removesuffix(suffix)
        if len(header) == 2 and header[1] not in (expected, "value"):
            raise VendorFileError(
                f"{path}: value column {header[1]!r} does not match the series {expected!r} "
                "of the file name"
            )
        return column, expected

    return symbol


FORMATS: tuple[VendorFormat, ...] = (
    VendorFormat(
        source="cboe_eod_chain",
        vendor="cboe",
        entity="option_quotes",
        pattern="options/spx_2019q2_cboe/*.csv.gz",
        header={
            "underlying": "underlying_symbol",
            "underlying_last": "underlying_price",
            "exchange": "exchange",
            "optionroot": "contract_symbol",
            "type": "option_type",
            "expiration": "expiration",
            "quotedate": "quote_date",
            "strike": "strike",
            "last": "last",
            "bid": "bid",
            "ask": "ask",
            "volume": "volume",
            "openinterest": "open_interest",
            "impliedvol": "implied_volatility",
            "delta": "delta",
            "gamma": "gamma",
        },
        date_format="%m/%d/%Y",
    ),
    VendorFormat(
        source="yahoo_index_close",
        vendor="yahoo",
        entity="index_bars",
        pattern="prices/SP500_index_close_*.csv",
        header={"Date": "date", "SP500": "close"},
        date_format="%Y-%m-%d",
        symbol=_const_symbol("SPX"),
    ),
    VendorFormat(
        source="yahoo_index_ohlc",
        vendor="yahoo",
        entity="index_bars",
        pattern="prices/SP500_index_ohlc_*.csv",
        header={
            "Date": "date",
            "Open": "open",
            "High": "high",
            "Low": "low",
            "Close": "close",
            "Volume": "volume",
        },
        date_format="%m/%d/%Y",
        symbol=_const_symbol("SPX"),
    ),
    VendorFormat(
        source="yahoo_raw_close",
        vendor="yahoo",
        entity="equity_bars",
        pattern="prices/SPY_raw_close_*.csv",
        header={"Date": "date", "Close": "close"},
        date_format="%m/%d/%Y",
        symbol=_const_symbol("SPY"),
    ),
    VendorFormat(
        source="quantconnect_raw_daily",
        vendor="quantconnect",
        entity="equity_bars",
        pattern="prices/raw_daily/*.csv",
        header={
            "date": "date",
            "open": "open",
            "high": "high",
            "low": "low",
            "close": "close",
            "volume": "volume",
        },
        date_format="%Y-%m-%d",
        symbol=_symbol_from_stem("symbol"),
    ),
    VendorFormat(
        source="cboe_index_history",
        vendor="cboe",
        entity="volatility_indices",
        pattern="volatility/*_History.csv",
        header={"DATE": "date", "OPEN": "open", "HIGH": "high", "LOW": "low", "CLOSE": "close"},
        date_format="%m/%d/%Y",
        symbol=_close_only_series("index_symbol", "_History"),
    ),
    VendorFormat(
        source="fred_daily",
        vendor="fred",
        entity="rates",
        pattern="rates/*.csv",
        header={"observation_date": "date"},
        date_format="%Y-%m-%d",
        symbol=_close_only_series("series_id", ""),
    ),
)


def parse_file(
    fmt: VendorFormat, path: Path, vendor_dir: Path
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse one vendor file into its canonical schema.

    Parameters
    ----------
    fmt
        The file's layout.
    path
        The file (``.csv`` or ``.csv.gz``).
    vendor_dir
        Root the ``source_file`` lineage column is relative to.

    Returns
    -------
    (rows, rejects)
        ``rows`` has exactly ``ENTITY_SCHEMAS[fmt.entity]``'s columns and dtypes; ``rejects`` has
        :data:`loaders.schemas.REJECTS`' columns, one row per row with an unparseable value.

    Raises
    ------
    VendorFileError
        The file is empty, unreadable (e.g. a truncated gzip) or lacks a required column; the
        message names the file and the missing columns.
    """
    rel = path.relative_to(vendor_dir).as_posix() if path.is_relative_to(vendor_dir) else str(path)
    try:
        text = pl.read_csv(path, infer_schema=False, raise_if_empty=True)
    except (pl.exceptions.NoDataError, pl.exceptions.ComputeError, OSError, EOFError) as exc:
        raise VendorFileError(f"{rel}: cannot read as CSV: {exc}") from exc
    header = text.columns

    renames = dict(fmt.header)
    if fmt.symbol is not None:
        symbol_column, symbol_value = fmt.symbol(path, header)
        text = text.with_columns(pl.lit(symbol_value).alias(symbol_column))
        if len(header) == 2 and header[1] not in renames:  # close-only / FRED value column
            value_column = "value_pct" if fmt.entity == "rates" else "close"
            if header[0] not in DATE_HEADERS:
                raise VendorFileError(
                    f"{rel}: first column {header[0]!r} is not a date column {sorted(DATE_HEADERS)}"
                )
            renames = {header[0]: "date", header[1]: value_column}
    missing = [c for c in renames if c not in header]
    if missing:
        raise VendorFileError(
            f"{rel}: missing column(s) {missing} for layout {fmt.source!r}; header is {header}"
        )
    text = text.select([*renames, *[c for c in text.columns if c not in header]]).rename(renames)

    schema = ENTITY_SCHEMAS[fmt.entity]
    text = text.with_columns(
        pl.lit(fmt.source).alias("source"),
        pl.lit(rel).alias("source_file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("source_line"),
    )
    if "option_type" in text.columns:
        text = text.with_columns(pl.col("option_type").str.strip_chars().str.to_lowercase())

    casts = {}
    for column, dtype in schema.items():
        if column in LINEAGE_COLUMNS:
            casts[column] = pl.col(column)
        elif column not in text.columns:
            casts[column] = pl.lit(None, dtype=dtype)
        elif column in DATE_COLUMNS:
            casts[column] = (
                pl.col(column)
                .str.strip_chars()
                .str.strptime(pl.Date, fmt.date_format, strict=False)
            )
        elif dtype == pl.Int64():
            # Some vendors write integer counts as "12.0": accept integral floats.
            as_float = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
            casts[column] = pl.when(as_float == as_float.round()).then(as_float).cast(pl.Int64)
        elif dtype == pl.Float64():
            casts[column] = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
        else:
            casts[column] = pl.col(column)
    typed = text.select(**casts)

    # A value present in the file but null after casting did not parse.
    checked = [
        c
        for c in schema
        if c in text.columns and c not in LINEAGE_COLUMNS and schema[c] != pl.String()
    ]
    both = pl.concat(
        [text.select(checked), typed.select(pl.col(checked).name.suffix("__typed"))],
        how="horizontal",
    )
    rule = both.select(
        pl.coalesce(
            pl.when((pl.col(c).str.strip_chars() != "") & pl.col(f"{c}__typed").is_null()).then(
                pl.lit(f"unparseable:{c}")
            )
            for c in checked
        ).alias("rule")
    )["rule"]
    bad = rule.is_not_null()
    if not bad.any():
        return typed, _empty_rejects()
    rejects = text.filter(bad).select(
        pl.lit(fmt.entity).alias("entity"),
        rule.filter(bad).alias("rule"),
        "source",
        "source_file",
        "source_line",
        pl.struct([c for c in text.columns if c not in LINEAGE_COLUMNS])
        .struct.json_encode()
        .alias("row_json"),
    )
    return typed.filter(~bad), rejects


def _empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=schemas.REJECTS)
