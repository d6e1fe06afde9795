"""Parse vendor files in their native layouts into the canonical schemas of :mod:`loaders.schemas`.

Each layout is a :class:`VendorFormat`: which files it claims (globs relative to the vendor
directory), which native header maps to which canonical column (*by name*, never by position:
the SPX 2019 and SPY 2021 CBOE files differ in columns), and what the file name says (a ticker, an
option root). A parser reads every column as text, renames, then casts. A value that does not
parse (``strike = "abc"``) neither fails the file nor is silently nulled: its row goes to the
rejects with the rule ``unparseable:<column>`` and its file and line.

Option quotes are then completed the same way for every layout (:func:`complete_option_quotes`):
the OCC symbol is rebuilt from the row's own terms, and the contract terms come from
``loaders/contract_specs.yaml`` by root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl

from loaders import contracts, schemas
from loaders.schemas import ENTITY_SCHEMAS

__all__ = [
    "ENTITY_SCHEMAS",
    "FORMATS",
    "VendorFileError",
    "VendorFormat",
    "complete_option_quotes",
    "parse_file",
]


class VendorFileError(ValueError):
    """A vendor file that cannot be parsed at all (bad header, empty, unreadable); names it."""


#: What a file name contributes: canonical column -> value (a ticker, an option root).
FileConstants = Callable[[Path, list[str]], dict[str, object]]


@dataclass(frozen=True)
class VendorFormat:
    """One vendor layout: which files it claims, what entity they hold, how to read them.

    Attributes
    ----------
    source
        Name recorded in every landed row's ``source`` column.
    vendor
        Folder under ``warehouse/raw/`` (the dbt source name).
    entity
        Landed table; its schema is ``ENTITY_SCHEMAS[entity]``.
    patterns
        Globs relative to the vendor directory, matched segment by segment (``*`` never crosses
        a ``/``). The first is the layout's own drop folder for a user's files.
    columns
        Native column -> canonical column.
    optional
        Native columns that some files of the layout lack (the SPY 2021 CBOE file has no
        ``exchange``; the SPX 2019 files have no ``theta``).
    date_formats
        strptime formats tried in order (chrono syntax, accepts unpadded month/day).
    constants
        Values that come from the file name rather than a column; a column of the same name in
        the file wins.
    header
        False for header-less layouts, whose columns are then named ``columns``' keys in order.
    """

    source: str
    vendor: str
    entity: str
    patterns: tuple[str, ...]
    columns: dict[str, str]
    optional: frozenset[str] = frozenset()
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    constants: FileConstants | None = None
    header: bool = True
    notes: str = field(default="", compare=False)

    def claims(self, relative_path: str) -> bool:
        """Whether a path relative to the vendor directory belongs to this layout."""
        return any(_glob_match(relative_path, p) for p in self.patterns)


def _glob_match(relative_path: str, pattern: str) -> bool:
    path, pat = PurePosixPath(relative_path), PurePosixPath(pattern)
    return len(path.parts) == len(pat.parts) and path.match(pattern)


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".csv")


def _const(**values: object) -> FileConstants:
    return lambda path, header: dict(values)


def _symbol_from_stem(column: str, *, suffix: str = "", extra: dict | None = None) -> FileConstants:
    def constants(path: Path, header: list[str]) -> dict[str, object]:
        return {column: _stem(path).removesuffix(suffix), **(extra or {})}

    return constants


def _series_from_stem(column: str, suffix: str) -> FileConstants:
    """Two-column layouts (CBOE close-only ``DATE,VVIX``, FRED ``observation_date,DGS3MO``) name
    their value column after the series, which must then match the file name; FRED files
    re-saved by other tools say ``date,value``."""

    def constants(path: Path, header: list[str]) -> dict[str, object]:
        expected = _stem(path).removesuffix(suffix)
        if len(header) == 2 and header[1] not in (expected, "value", "CLOSE"):
            raise VendorFileError(
                f"{path.name}: value column {header[1]!r} does not match the series {expected!r} "
                "of the file name"
            )
        return {column: expected}

    return constants


def _root_from_file_name(path: Path, header: list[str]) -> dict[str, object]:
    """DataShop exports are named ``<root>_<date>_...``; a ``root`` column, when present, wins."""
    return {"option_root": path.name.split("_", 1)[0].upper()}


#: Yahoo's daily layout, as its CSV downloads and yfinance exports write it.
_YAHOO_OHLCV = {
    "Date": "date",
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_L2_OPTIONAL = frozenset({"exchange", "last", "net", "theta", "vega", "optionalias"})

FORMATS: tuple[VendorFormat, ...] = (
    VendorFormat(
        source="cboe_eod_chain",
        vendor="cboe",
        entity="option_quotes",
        patterns=(
            "options/cboe_l2/*.csv*",
            "options/spx_2019q2_cboe/*.csv*",
            "options/spy_2021_top20.csv.gz",
        ),
        columns={
            "underlying": "underlying_symbol",
            "underlying_last": "underlying_price",
            "exchange": "exchange",
            "optionroot": "vendor_symbol",
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
            "theta": "theta",
            "vega": "vega",
        },
        optional=_L2_OPTIONAL,
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        notes="CBOE end-of-day 'L2' layout (HistoricalOptionData); SPX 2019 and SPY 2021 samples",
    ),
    VendorFormat(
        source="cboe_datashop_1545",
        vendor="cboe_datashop",
        entity="option_quotes",
        patterns=("options/cboe_datashop/*.csv*", "options/*_cboe_datashop.csv*"),
        columns={
            "underlying_symbol": "underlying_symbol",
            "root": "option_root",
            "quote_date": "quote_date",
            "expiration": "expiration",
            "strike": "strike",
            "option_type": "option_type",
            "bid_size_1545": "bid_size",
            "bid_1545": "bid",
            "ask_size_1545": "ask_size",
            "ask_1545": "ask",
            "underlying_bid_1545": "underlying_bid",
            "underlying_ask_1545": "underlying_ask",
            "trade_volume": "volume",
            "open_interest": "open_interest",
        },
        optional=frozenset({"underlying_symbol", "root"}),
        constants=_root_from_file_name,
        notes="CBOE DataShop option quotes at 15:45 ET; the root comes from the file name "
        "(<root>_...) when the export has no root column",
    ),
    VendorFormat(
        source="ivolatility_eod",
        vendor="ivolatility",
        entity="option_quotes",
        patterns=("options/ivolatility/*.csv*", "options/*_ivolatility.csv*"),
        columns={
            "symbol": "underlying_symbol",
            "exchange": "exchange",
            "date": "quote_date",
            "stock_price_close": "underlying_price",
            "option_symbol": "vendor_symbol",
            "option_expiration": "expiration",
            "strike": "strike",
            "call/put": "option_type",
            "style": "exercise_style",
            "ask": "ask",
            "bid": "bid",
            "iv": "implied_volatility",
            "volume": "volume",
            "open_interest": "open_interest",
            "delta": "delta",
            "vega": "vega",
            "gamma": "gamma",
            "theta": "theta",
            "rho": "rho",
        },
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        notes="iVolatility end-of-day options with vendor IV and greeks; padded OSI symbols",
    ),
    VendorFormat(
        source="yahoo_index_close",
        vendor="yahoo",
        entity="index_bars",
        patterns=("prices/SP500_index_close_*.csv",),
        columns={"Date": "date", "SP500": "close"},
        constants=_const(symbol="SPX", is_adjusted=False),
    ),
    VendorFormat(
        source="yahoo_index_ohlc",
        vendor="yahoo",
        entity="index_bars",
        patterns=("prices/SP500_index_ohlc_*.csv",),
        columns=_YAHOO_OHLCV,
        optional=frozenset({"Adj Close"}),
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        constants=_const(symbol="SPX", is_adjusted=False),
    ),
    VendorFormat(
        source="yahoo_raw_close",
        vendor="yahoo",
        entity="equity_bars",
        patterns=("prices/*_raw_close_*.csv",),
        columns={"Date": "date", "Close": "close"},
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        constants=lambda path, header: {
            "symbol": path.name.split("_raw_close_")[0],
            "is_adjusted": False,
        },
    ),
    VendorFormat(
        source="yfinance_csv",
        vendor="yahoo",
        entity="equity_bars",
        patterns=("prices/yfinance_auto_adjusted/*.csv",),
        columns=_YAHOO_OHLCV,
        optional=frozenset({"Adj Close"}),
        constants=_symbol_from_stem("symbol", extra={"is_adjusted": True}),
        notes="yfinance.download() saved as CSV; auto_adjust=True: never value intrinsic on these",
    ),
    VendorFormat(
        source="quantconnect_raw_daily",
        vendor="quantconnect",
        entity="equity_bars",
        patterns=("prices/raw_daily/*.csv",),
        columns={
            "date": "date",
            "open": "open",
            "high": "high",
            "low": "low",
            "close": "close",
            "volume": "volume",
        },
        constants=_symbol_from_stem("symbol", extra={"is_adjusted": False}),
    ),
    VendorFormat(
        source="quantconnect_factor_file",
        vendor="quantconnect",
        entity="adjustment_factors",
        patterns=("prices/raw_daily/factor_files/*.csv",),
        columns={
            "date": "date",
            "price_factor": "price_factor",
            "split_factor": "split_factor",
            "reference_price": "reference_price",
        },
        date_formats=("%Y%m%d",),
        constants=_symbol_from_stem("symbol"),
        header=False,
        notes="Lean factor files: a row's factors apply to every date up to and including it",
    ),
    VendorFormat(
        source="cboe_index_history",
        vendor="cboe",
        entity="volatility_indices",
        patterns=("volatility/*_History.csv",),
        columns={"DATE": "date", "OPEN": "open", "HIGH": "high", "LOW": "low", "CLOSE": "close"},
        optional=frozenset({"OPEN", "HIGH", "LOW"}),
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        constants=_series_from_stem("index_symbol", "_History"),
    ),
    VendorFormat(
        source="fred_daily",
        vendor="fred",
        entity="rates",
        patterns=("rates/*.csv",),
        columns={"observation_date": "date"},
        constants=_series_from_stem("series_id", ""),
    ),
)

#: Files in a vendor directory that are documentation, not data.
IGNORED = ("README.md", "SHA256SUMS", "LICENSES/*", ".*")
DATA_SUFFIXES = (".csv", ".csv.gz")
DATE_HEADERS = frozenset({"DATE", "Date", "date", "observation_date"})
_TWO_COLUMN_SOURCES = {"cboe_index_history", "fred_daily"}


def _read_text_frame(fmt: VendorFormat, path: Path, rel: str) -> pl.DataFrame:
    try:
        if fmt.header:
            return pl.read_csv(path, infer_schema=False, raise_if_empty=True)
        return pl.read_csv(
            path,
            infer_schema=False,
            raise_if_empty=True,
            has_header=False,
            new_columns=list(fmt.columns),
        )
    except (pl.exceptions.NoDataError, pl.exceptions.ComputeError, OSError, EOFError) as exc:
        raise VendorFileError(f"{rel}: cannot read as CSV: {exc}") from exc


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
        ``rows`` has exactly ``ENTITY_SCHEMAS[fmt.entity]``'s columns and dtypes, ``load_id``
        still null, in file order; ``rejects`` has :data:`loaders.schemas.REJECTS`' columns, one
        row per line with an unparseable value.

    Raises
    ------
    VendorFileError
        The file is empty, unreadable (a truncated gzip), has a header-only body, lacks a
        required column, or its header has a column twice; the message names the file.
    """
    rel = path.relative_to(vendor_dir).as_posix() if path.is_relative_to(vendor_dir) else str(path)
    text = _read_text_frame(fmt, path, rel)
    header = text.columns
    constants = fmt.constants(path, header) if fmt.constants else {}

    renames = dict(fmt.columns)
    if fmt.source in _TWO_COLUMN_SOURCES and len(header) == 2 and header[1] not in renames:
        if header[0] not in DATE_HEADERS:
            raise VendorFileError(
                f"{rel}: first column {header[0]!r} is not a date column {sorted(DATE_HEADERS)}"
            )
        value_column = "value_pct" if fmt.entity == "rates" else "close"
        renames = {header[0]: "date", header[1]: value_column}
        optional: frozenset[str] = frozenset()
    else:
        optional = fmt.optional
    missing = [c for c in renames if c not in header and c not in optional]
    if missing:
        raise VendorFileError(
            f"{rel}: missing column(s) {missing} for layout {fmt.source!r}; header is {header}"
        )
    present = {native: canonical for native, canonical in renames.items() if native in header}
    text = text.select(list(present)).rename(present)
    text = text.with_columns(
        pl.lit(str(v)).alias(k) for k, v in constants.items() if k not in text.columns
    ).with_columns(
        pl.lit(fmt.source).alias("source"),
        pl.lit(rel).alias("source_file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + (2 if fmt.header else 1)).alias("source_line"),
    )
    if "option_type" in text.columns:
        option_type = pl.col("option_type").str.strip_chars().str.to_lowercase()
        text = text.with_columns(
            pl.when(option_type.is_in(["c", "call"]))
            .then(pl.lit("call"))
            .when(option_type.is_in(["p", "put"]))
            .then(pl.lit("put"))
            .otherwise(option_type)
            .alias("option_type")
        )
    if "exercise_style" in text.columns:  # iVolatility: E / A
        style = pl.col("exercise_style").str.strip_chars().str.to_uppercase()
        text = text.with_columns(
            pl.when(style == "E")
            .then(pl.lit("european"))
            .when(style == "A")
            .then(pl.lit("american"))
            .otherwise(pl.col("exercise_style"))
            .alias("exercise_style")
        )

    schema = ENTITY_SCHEMAS[fmt.entity]
    typed = text.select(**{c: _cast(c, dtype, text.columns, fmt) for c, dtype in schema.items()})

    # A value present in the file but null after casting did not parse.
    checked = [
        c
        for c in schema
        if c in text.columns and c not in schemas.LINEAGE and schema[c] != pl.String()
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
    if fmt.entity == "option_quotes":
        typed = complete_option_quotes(typed)
    if not bad.any():
        return typed, empty_rejects()
    rejects = text.filter(bad).select(
        pl.lit(fmt.entity).alias("entity"),
        rule.filter(bad).alias("rule"),
        pl.lit("error").alias("severity"),
        "source",
        "source_file",
        "source_line",
        pl.lit(None, dtype=pl.String).alias("load_id"),
        pl.struct([c for c in text.columns if c not in schemas.LINEAGE])
        .struct.json_encode()
        .alias("row_json"),
    )
    return typed.filter(~bad), rejects


def _cast(column: str, dtype: pl.DataType, present: list[str], fmt: VendorFormat) -> pl.Expr:
    if column not in present:
        return pl.lit(None, dtype=dtype)
    if column in schemas.LINEAGE:
        return pl.col(column)
    value = pl.col(column).str.strip_chars()
    if dtype == pl.Date():
        return pl.coalesce(value.str.strptime(pl.Date, f, strict=False) for f in fmt.date_formats)
    if dtype == pl.Int64():
        # Some vendors write integer counts as "12.0": accept integral floats.
        as_float = value.cast(pl.Float64, strict=False)
        return pl.when(as_float == as_float.round()).then(as_float).cast(pl.Int64)
    if dtype == pl.Float64():
        return value.cast(pl.Float64, strict=False)
    if dtype == pl.Boolean():
        return value.str.to_lowercase().replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    return pl.col(column)


_DATASHOP_QUOTE_TIME = "15:45"


def complete_option_quotes(quotes: pl.DataFrame) -> pl.DataFrame:
    """Fill the derived canonical columns of option quotes, whatever the layout.

    - ``option_root`` from the vendor's OCC symbol when the file has no root column;
    - ``underlying_symbol`` from the root's contract terms when the file has none (DataShop);
    - ``underlying_price`` as the mid of the underlying's bid and ask when only those are given;
    - ``quoted_at`` 15:45 America/New_York for DataShop's 15:45 snapshot (DST-aware, UTC);
    - ``contract_symbol``: the vendor's OCC symbol unpadded, or, where the vendor gives none (or
      one that does not parse), the OCC symbol built from root, expiration, type and strike;
    - contract terms from ``loaders/contract_specs.yaml``.

    Input and output have :data:`loaders.schemas.OPTION_QUOTES`' columns; rows keep their order.
    """
    occ = contracts.parse_occ(pl.col("vendor_symbol"))
    _, roots = contracts.load_specs()
    root_underlying = {root: terms["underlying_symbol"] for root, terms in roots.items()}
    completed = quotes.with_columns(
        pl.coalesce(pl.col("option_root"), occ.struct.field("root")).alias("option_root"),
    ).with_columns(
        pl.coalesce(
            pl.col("underlying_symbol"),
            pl.col("option_root").replace_strict(root_underlying, default=None),
            pl.col("option_root"),
        ).alias("underlying_symbol"),
        pl.coalesce(
            pl.col("underlying_price"), (pl.col("underlying_bid") + pl.col("underlying_ask")) / 2
        ).alias("underlying_price"),
        pl.when(pl.col("source") == "cboe_datashop_1545")
        .then(
            (pl.col("quote_date").cast(pl.Datetime("us")) + pl.duration(hours=15, minutes=45))
            .dt.replace_time_zone("America/New_York")
            .dt.convert_time_zone("UTC")
        )
        .otherwise(pl.col("quoted_at"))
        .alias("quoted_at"),
        # The vendor's own OCC symbol, unpadded, when it parses (it carries the legacy Saturday
        # expiration of pre-2015 monthlies); else the symbol built from the row's terms.
        pl.coalesce(
            pl.concat_str(
                occ.struct.field("root"),
                pl.col("vendor_symbol").str.extract(r"(\d{6}[CP]\d{8})\s*$", 1),
            ),
            contracts.occ_symbol(
                pl.col("option_root"), pl.col("expiration"), pl.col("option_type"), pl.col("strike")
            ),
        ).alias("contract_symbol"),
    )
    return contracts.with_contract_terms(completed).select(list(schemas.OPTION_QUOTES))


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=schemas.REJECTS)
