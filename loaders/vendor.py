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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl

from loaders import calendar, contracts, schemas
from loaders.day_bars import complete_option_day_bars
from loaders.printable import printable
from loaders.schemas import ENTITY_SCHEMAS

__all__ = [
    "ENTITY_SCHEMAS",
    "FORMATS",
    "QMOMS_PERMNO_SYMBOLS",
    "VendorFileError",
    "VendorFormat",
    "complete_iv_surfaces",
    "complete_option_quotes",
    "parse_file",
    "quoted_at_expr",
]


class VendorFileError(ValueError):
    """A vendor file that cannot be parsed at all (bad header, empty, unreadable); names it, with
    the name's control characters escaped (:func:`loaders.printable.printable`)."""


#: What a file name contributes: canonical column -> value (a ticker, an option root).
FileConstants = Callable[[Path, list[str]], dict[str, object]]

#: Exchange time zone of every quote time below (DST-aware: 15:45 is 19:45 UTC in summer,
#: 20:45 UTC in winter).
EXCHANGE_TZ = "America/New_York"
#: A quote time that is the session's close: 16:00, or 13:00 on a scheduled NYSE half day.
CLOSE = "close"
CLOSE_MINUTES, EARLY_CLOSE_MINUTES = 16 * 60, 13 * 60
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


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
    quote_time
        Option quotes only (required there): when the layout's quotes were taken, New York
        local time, which sets every row's ``quoted_at`` (UTC): ``"HH:MM"`` by the clock (a
        fixed-time snapshot, e.g. ``"15:45"``), or ``"close"``: the session's close, 16:00 ET,
        13:00 ET on the NYSE's scheduled half days (:func:`loaders.calendar.session_rows`).
    quote_time_by_pattern
        A different quote time for the files of one of ``patterns`` (a file of the same layout
        from another publisher).
    wide
        For option-quote layouts with calls and puts on one row (``Strike, CallBid, CallAsk,
        ..., PutBid, PutAsk``: OptionsDX, ORATS strikes files): ``{"call": {native:
        canonical}, "put": {native: canonical}}``, each side's column group; ``columns`` then
        holds the shared columns. A line gives two quotes (its call, then its put), both with
        the line's ``source_line``.
    separator
        The field separator (one character).
    origin
        Where the layout is declared (this module, or its YAML file: :mod:`loaders.layouts`).
    reshape
        For layouts that are not one row per line (Cboe's settlement-value history: month
        header lines, then one line per index): text frame -> text frame, applied after the
        rename, with the lineage columns (``source_line`` of each kept line) already set; it
        returns canonical column names, still as text, and drops the structural lines.

    Raises
    ------
    ValueError
        On construction: an option-quote layout without a quote time, a quote time on another
        entity, a quote time that is neither ``"HH:MM"`` nor ``"close"``, or a
        ``quote_time_by_pattern`` key that is not one of ``patterns``.
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
    quote_time: str | None = None
    quote_time_by_pattern: dict[str, str] = field(default_factory=dict)
    reshape: Callable[[pl.DataFrame], pl.DataFrame] | None = field(default=None, compare=False)
    wide: dict[str, dict[str, str]] | None = field(default=None, compare=False)
    separator: str = ","
    origin: str = field(default="loaders/vendor.py", compare=False)

    def __post_init__(self) -> None:
        times = [self.quote_time, *self.quote_time_by_pattern.values()]
        if self.entity != "option_quotes":
            if any(t is not None for t in times):
                raise ValueError(
                    f"layout {self.source!r}: quote_time is for option quotes, not {self.entity!r}"
                )
            return
        if self.quote_time is None:
            raise ValueError(
                f"layout {self.source!r}: option quotes need a quote_time ('HH:MM' New York "
                "time, or 'close')"
            )
        for time in times:
            if time != CLOSE and not (isinstance(time, str) and _CLOCK_TIME.match(time)):
                raise ValueError(
                    f"layout {self.source!r}: quote_time must be 'HH:MM' (New York time) or "
                    f"{CLOSE!r}, got {time!r}"
                )
        unknown = [p for p in self.quote_time_by_pattern if p not in self.patterns]
        if unknown:
            raise ValueError(
                f"layout {self.source!r}: quote_time_by_pattern keys {unknown} are not among "
                f"its patterns {list(self.patterns)}"
            )

    @property
    def native_columns(self) -> dict[str, str]:
        """Every native column the layout reads -> its canonical column (both sides of a wide
        layout; their canonical names repeat)."""
        sides = (self.wide or {}).values()
        return {**self.columns, **{k: v for side in sides for k, v in side.items()}}

    def claims(self, relative_path: str) -> bool:
        """Whether a path relative to the vendor directory belongs to this layout."""
        return any(_glob_match(relative_path, p) for p in self.patterns)

    def quote_time_of(self, relative_path: str) -> str | None:
        """Quote time of a file of this layout: its pattern's, else the layout's (None for
        layouts of other entities)."""
        for pattern, time in self.quote_time_by_pattern.items():
            if _glob_match(relative_path, pattern) or relative_path == pattern:
                return time
        return self.quote_time


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
                f"{printable(path.name)}: value column {header[1]!r} does not match the series "
                f"{expected!r} "
                "of the file name"
            )
        return {column: expected}

    return constants


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

_MONTH_NUMBERS = {
    name: f"{number:02d}"
    for number, name in enumerate(
        (
            "january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december",
        ),
        start=1,
    )
}  # fmt: skip
_SETTLEMENT_MONTH_HEADER = r"(?i)^([a-z]+)\s+(\d{4})\s+settlement values$"
_SETTLEMENT_SYMBOL = r"\(([A-Z0-9]+)\)$"


def _settlement_value_blocks(text: pl.DataFrame) -> pl.DataFrame:
    """Cboe's exercise settlement-value history, as text, to one row per index per month.

    The file is two comma-separated fields per line, in blocks: ``<Month YYYY> Settlement
    Values,`` (the month), from 2020 an ``INDEX,SETTLEMENT VALUE`` line, then one
    ``<index name> (<symbol>),<value>`` line per index (before 2003 the label ends in ``:``, and
    a value may carry a leading ``*`` footnote mark). Month and column-header lines and blank
    lines are dropped; every index line takes the month of the block above it (none before the
    first block: rejected downstream as a null ``settlement_month``). A month header that does
    not name a month keeps its text, so its block's rows are rejected as
    ``unparseable:settlement_month``.

    Input has the text columns ``index_label`` and ``settlement_value`` plus lineage; output
    has ``settlement_month`` (ISO ``YYYY-MM-01``), ``index_label``, ``index_name``,
    ``settlement_symbol``, ``settlement_value``, ``has_vendor_footnote`` (text) and the lineage.

    Examples
    --------
    >>> lines = pl.DataFrame({
    ...     "index_label": ["July 2019 Settlement Values", "S&P 500 (SET)", "Dow Jones (DJS):"],
    ...     "settlement_value": [None, "3008.06", "*273.22"],
    ...     "source_line": [1, 2, 3],
    ... })
    >>> _settlement_value_blocks(lines).select(
    ...     "settlement_month", "settlement_symbol", "settlement_value", "has_vendor_footnote"
    ... ).rows()
    [('2019-07-01', 'SET', '3008.06', 'false'), ('2019-07-01', 'DJS', '273.22', 'true')]
    """
    label = pl.col("index_label").str.strip_chars()
    value = pl.col("settlement_value").str.strip_chars()
    month_name = label.str.extract(_SETTLEMENT_MONTH_HEADER, 1)
    month_number = month_name.str.to_lowercase().replace_strict(
        _MONTH_NUMBERS, default=None, return_dtype=pl.String
    )
    is_month_header = month_name.is_not_null() & (value.is_null() | (value == ""))
    is_column_header = (label.str.to_uppercase() == "INDEX") & (
        value.str.to_uppercase() == "SETTLEMENT VALUE"
    )
    is_blank = (label.is_null() | (label == "")) & (value.is_null() | (value == ""))
    index_label = label.str.strip_suffix(":").str.strip_chars()
    lineage = [c for c in schemas.LINEAGE if c in text.columns]
    return (
        text.with_columns(
            pl.when(is_month_header)
            .then(
                pl.coalesce(
                    pl.concat_str(
                        label.str.extract(_SETTLEMENT_MONTH_HEADER, 2),
                        month_number,
                        pl.lit("01"),
                        separator="-",
                    ),
                    label,
                )
            )
            .forward_fill()
            .alias("settlement_month"),
            is_month_header.alias("_is_month_header"),
            (is_column_header | is_blank).alias("_is_other"),
        )
        .filter(~pl.col("_is_month_header") & ~pl.col("_is_other"))
        .select(
            "settlement_month",
            index_label.alias("index_label"),
            index_label.str.replace(r"\s*" + _SETTLEMENT_SYMBOL, "").alias("index_name"),
            index_label.str.extract(_SETTLEMENT_SYMBOL, 1).alias("settlement_symbol"),
            value.str.strip_prefix("*").str.strip_chars().alias("settlement_value"),
            pl.when(value.is_not_null())
            .then(
                pl.when(value.str.starts_with("*")).then(pl.lit("true")).otherwise(pl.lit("false"))
            )
            .alias("has_vendor_footnote"),
            *lineage,
        )
    )


#: CRSP PERMNO (the ``id`` of OptionMetrics-style extracts such as qmoms' ``vsurfd`` file) -> the
#: ticker, for the securities of the qmoms 0.1.3 sample surface (../shared/data/README.md,
#: section surfaces/): a PERMNO is CRSP's permanent security id, which unlike a ticker never
#: changes; a row of any other PERMNO cannot be named and is rejected at landing (rule
#: ``expect_column_values_to_be_in_set:permno``), kept with its id.
QMOMS_PERMNO_SYMBOLS: dict[int, str] = {
    12490: "IBM",
    14541: "CVX",
    14593: "AAPL",
    18542: "CAT",
    93436: "TSLA",
}
#: OptionMetrics' surface delta is x100 (-25 is the 25-delta put): divided by this to a fraction.
VSURF_DELTA_SCALE = 100.0


def complete_iv_surfaces(surfaces: pl.DataFrame) -> pl.DataFrame:
    """Fill the derived canonical columns of a vendor implied-volatility surface (``vsurfd``).

    - ``delta`` to a decimal fraction: the vendor's delta is x100, negative for puts
      (OptionMetrics, IvyDB US File and Data Reference Manual v3.0, 2015, ch. 3 "Surface";
      the qmoms file holds -50 ... -10 and 10 ... 50), so -10.0 becomes -0.10;
    - ``option_type`` from the delta's sign: ``'call'`` above 0, ``'put'`` below, null at 0 or
      null (rejected at landing by the not-null and |delta| rules);
    - ``underlying_symbol`` from ``permno`` by :data:`QMOMS_PERMNO_SYMBOLS`; null for a PERMNO
      the map does not know (rejected at landing, the row kept with its id).

    Parameters
    ----------
    surfaces
        One row per permno per quote_date per days per vendor delta, with
        :data:`loaders.schemas.IV_SURFACES`' columns as :func:`type_text` casts them: ``delta``
        still in the vendor's x100 unit.

    Returns
    -------
    polars.DataFrame
        The same rows in the same order with exactly :data:`loaders.schemas.IV_SURFACES`'
        columns and dtypes. Not idempotent (``delta`` is rescaled): :func:`type_text` calls it
        once, on freshly typed rows.

    Examples
    --------
    >>> row = {c: None for c in schemas.IV_SURFACES} | {"permno": 14593, "delta": -25.0}
    >>> done = complete_iv_surfaces(pl.DataFrame([row], schema=schemas.IV_SURFACES))
    >>> done.select("underlying_symbol", "delta", "option_type").row(0)
    ('AAPL', -0.25, 'put')
    """
    delta = pl.col("delta") / VSURF_DELTA_SCALE
    return surfaces.with_columns(
        pl.col("permno")
        .replace_strict(QMOMS_PERMNO_SYMBOLS, default=None, return_dtype=pl.String)
        .alias("underlying_symbol"),
        delta.alias("delta"),
        pl.when(delta > 0)
        .then(pl.lit("call"))
        .when(delta < 0)
        .then(pl.lit("put"))
        .alias("option_type"),
    ).select(pl.col(c).cast(dtype) for c, dtype in schemas.IV_SURFACES.items())


#: The layouts whose reading needs code (series named by the file, Cboe's settlement blocks,
#: the Polygon bars, the qmoms surfaces); the others are declared in YAML
#: (loaders/layouts/*.yaml) and added below.
_CODE_FORMATS: tuple[VendorFormat, ...] = (
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
        source="cboe_benchmark_index_history",
        vendor="cboe",
        entity="benchmark_indices",
        patterns=("benchmarks/*_History.csv",),
        columns={"DATE": "date", "OPEN": "open", "HIGH": "high", "LOW": "low", "CLOSE": "close"},
        optional=frozenset({"OPEN", "HIGH", "LOW"}),
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        constants=_series_from_stem("index_symbol", "_History"),
        notes="Cboe strategy benchmark index history (BXM: DATE,BXM), the published levels "
        "that engine replications of the index are validated against",
    ),
    VendorFormat(
        source="fred_daily",
        vendor="fred",
        entity="rates",
        patterns=("rates/*.csv",),
        columns={"observation_date": "date"},
        constants=_series_from_stem("series_id", ""),
    ),
    VendorFormat(
        source="cboe_settlement_values",
        vendor="cboe",
        entity="settlement_values",
        patterns=("settlement/cboe/*.csv*", "settlement/cboe_settlement_values*.csv*"),
        columns={"label": "index_label", "value": "settlement_value"},
        header=False,
        reshape=_settlement_value_blocks,
        notes="Cboe exercise settlement values, monthly history ('<Month YYYY> Settlement "
        "Values' blocks; S&P 500 (SET) is the SOQ of AM-settled SPX monthlies)",
    ),
    VendorFormat(
        source="polygon_option_day_bars",
        vendor="polygon",
        entity="option_day_bars",
        patterns=("options/polygon/*.csv*", "options/polygon_option_bars_2023/*.csv*"),
        columns={
            "underlying": "underlying_symbol",
            "trade_date": "trade_date",
            "cycle_start": "cycle_start",
            "expiration": "expiration",
            "strike": "strike",
            "option_type": "option_type",
            "open": "open",
            "high": "high",
            "low": "low",
            "close": "close",
            "volume": "volume",
            "volume_weighted_average_price": "vwap",
            "number_of_transactions": "transactions",
            # Polygon's bar timestamp: the window start, midnight New York time, in UTC
            "trade_datetime_utc": "bar_start_at",
        },
        optional=frozenset({"cycle_start"}),
        notes="Polygon.io option day aggregates: TRADED OHLC, VWAP, volume and trade count per "
        "contract per day (no bid/ask); rows only on days the contract traded; "
        "loaders/day_bars.py builds the OCC contract_symbol",
    ),
    VendorFormat(
        source="qmoms_vsurfd",
        vendor="qmoms",
        entity="iv_surfaces",
        patterns=("surfaces/qmoms/*.csv*", "surfaces/qmoms_surface_*.csv*"),
        columns={
            "id": "permno",
            "date": "quote_date",
            "days": "days",
            "delta": "delta",
            "k": "strike",
            "impl_volatility": "implied_volatility",
            "f": "forward_price",
            "s": "spot_price",
            "mnes": "moneyness",
        },
        notes="OptionMetrics vsurfd-style implied-volatility surface (qmoms): vendor-smoothed "
        "IVs at fixed tenors (days) and deltas (x100 in the file, landed as fractions), not "
        "quotes; id is the CRSP PERMNO, named by QMOMS_PERMNO_SYMBOLS (12490 IBM, 14541 CVX, "
        "14593 AAPL, 18542 CAT, 93436 TSLA; another id is rejected)",
    ),
)

#: Files in a vendor directory that are documentation or layouts, not data.
IGNORED = ("README.md", "SHA256SUMS", "LICENSES/*", "layouts/*", ".*")
DATA_SUFFIXES = (".csv", ".csv.gz")
DATE_HEADERS = frozenset({"DATE", "Date", "date", "observation_date"})
_TWO_COLUMN_SOURCES = {"cboe_index_history", "cboe_benchmark_index_history", "fred_daily"}


def _read_text_frame(fmt: VendorFormat, path: Path, rel: str) -> pl.DataFrame:
    try:
        if fmt.header:
            text = pl.read_csv(
                path, infer_schema=False, raise_if_empty=True, separator=fmt.separator
            )
            # vendors pad their headers (OptionsDX: ", [C_BID]"): names are compared trimmed
            trimmed = [c.strip() for c in text.columns]
            if len(set(trimmed)) == len(trimmed):
                text.columns = trimmed
            return text
        return pl.read_csv(
            path,
            infer_schema=False,
            raise_if_empty=True,
            has_header=False,
            new_columns=list(fmt.columns),
            separator=fmt.separator,
        )
    except (
        pl.exceptions.NoDataError,
        pl.exceptions.ComputeError,
        pl.exceptions.SchemaError,  # a header-less file with more fields on a line
        OSError,
        EOFError,
    ) as exc:
        # the reader's message may quote the path, over several lines: one escaped line
        raise VendorFileError(f"{printable(rel)}: cannot read as CSV: {printable(exc)}") from exc


def _long_from_wide(fmt: VendorFormat, text: pl.DataFrame, header: list[str]) -> pl.DataFrame:
    """One row per line per side of a wide option layout, canonical names, still text: each
    line's call, then its put, both with the line's ``source_line``."""
    lineage = [c for c in schemas.LINEAGE if c in text.columns]
    shared = {n: c for n, c in fmt.columns.items() if n in header}
    sides = []
    for order, (option_type, group) in enumerate(sorted((fmt.wide or {}).items())):
        present = {n: c for n, c in group.items() if n in header}
        sides.append(
            text.select(
                *[pl.col(n).alias(c) for n, c in shared.items()],
                *[pl.col(n).alias(c) for n, c in present.items()],
                pl.lit(option_type).alias("option_type"),
                *lineage,
                pl.lit(order).alias("_side"),
            )
        )
    return pl.concat(sides, how="diagonal").sort("source_line", "_side").drop("_side")


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
        The file is empty, unreadable (a truncated gzip), lacks a required column, or its
        header has a column twice; the message names the file. A header with no rows is not an
        error: it parses to no rows (and lands as an empty batch, which the landing report
        warns about).
    """
    rel = relative_name(path, vendor_dir)
    return type_text(fmt, read_text(fmt, path, vendor_dir), fmt.quote_time_of(rel))


def relative_name(path: Path, vendor_dir: Path) -> str:
    """``source_file`` of a file: its path relative to the vendor folder (else as given)."""
    return path.relative_to(vendor_dir).as_posix() if path.is_relative_to(vendor_dir) else str(path)


def read_text(fmt: VendorFormat, path: Path, vendor_dir: Path) -> pl.DataFrame:
    """The first half of :func:`parse_file`, per file: read every column as text, check the
    header, rename to canonical names, add the lineage and the file's constants, reshape.

    Returns a text frame (canonical names, every value still text, lineage set) that
    :func:`type_text` turns into rows; the frames of several files of one layout and quote time
    may be concatenated (``how="diagonal"``) and typed at once, which is how the loader does it.

    Raises
    ------
    VendorFileError
        As :func:`parse_file`.
    """
    rel = relative_name(path, vendor_dir)
    text = _read_text_frame(fmt, path, rel)
    header = text.columns
    constants = fmt.constants(path, header) if fmt.constants else {}

    renames = dict(fmt.columns)
    if fmt.source in _TWO_COLUMN_SOURCES and len(header) == 2 and header[1] not in renames:
        if header[0] not in DATE_HEADERS:
            raise VendorFileError(
                f"{printable(rel)}: first column {header[0]!r} is not a date column "
                f"{sorted(DATE_HEADERS)}"
            )
        value_column = "value_pct" if fmt.entity == "rates" else "close"
        renames = {header[0]: "date", header[1]: value_column}
        optional: frozenset[str] = frozenset()
    else:
        optional = fmt.optional
    if fmt.wide:
        renames = fmt.native_columns
    missing = [c for c in renames if c not in header and c not in optional]
    if missing:
        raise VendorFileError(
            f"{printable(rel)}: missing column(s) {missing} for layout {fmt.source!r}; "
            f"header is {header}"
        )
    lineage = [
        pl.lit(fmt.source).alias("source"),
        pl.lit(rel).alias("source_file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + (2 if fmt.header else 1)).alias("source_line"),
    ]
    if fmt.wide:
        text = _long_from_wide(fmt, text.with_columns(lineage), header)
    else:
        present = {native: canonical for native, canonical in renames.items() if native in header}
        text = text.select(list(present)).rename(present).with_columns(lineage)
    text = text.with_columns(
        pl.lit(str(v)).alias(k) for k, v in constants.items() if k not in text.columns
    )
    if fmt.reshape is not None:
        text = fmt.reshape(text)
    return text


def type_text(
    fmt: VendorFormat, text: pl.DataFrame, quote_time: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The second half of :func:`parse_file`: cast a text frame of :func:`read_text` (one file's,
    or several files' of one layout and ``quote_time`` concatenated) to the entity's schema;
    a value that does not parse sends its row to the rejects (``unparseable:<column>``); option
    quotes are completed (:func:`complete_option_quotes`, with ``quote_time``).

    Returns ``(rows, rejects)`` as :func:`parse_file`, rows in the text frame's order.
    """
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

    # A value present in the file but null after casting did not parse. A column with as many
    # nulls typed as in the text has none such (typed nulls include the text's): not checked.
    candidates = [
        c
        for c in schema
        if c in text.columns and c not in schemas.LINEAGE and schema[c] != pl.String()
    ]
    text_nulls = text.select(candidates).null_count().row(0) if candidates else ()
    typed_nulls = typed.select(candidates).null_count().row(0) if candidates else ()
    checked = [
        c
        for c, n_text, n_typed in zip(candidates, text_nulls, typed_nulls, strict=True)
        if n_typed > n_text
    ]
    both = pl.concat(
        [text.select(checked), typed.select(pl.col(checked).name.suffix("__typed"))],
        how="horizontal",
    )
    rule = (
        both.select(
            pl.coalesce(
                pl.when((pl.col(c).str.strip_chars() != "") & pl.col(f"{c}__typed").is_null()).then(
                    pl.lit(f"unparseable:{c}")
                )
                for c in checked
            ).alias("rule")
        )["rule"]
        if checked
        else pl.Series("rule", [None] * typed.height, dtype=pl.String)
    )
    bad = rule.is_not_null()
    if fmt.entity == "option_quotes":
        typed = complete_option_quotes(typed, quote_time=quote_time)
    if fmt.entity == "option_day_bars":
        typed = complete_option_day_bars(typed)
    if fmt.entity == "iv_surfaces":
        typed = complete_iv_surfaces(typed)
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


def quoted_at_expr(quotes: pl.DataFrame, quote_time: str) -> pl.Expr:
    """The instant (UTC) of a quote taken at ``quote_time`` New York time on its ``quote_date``.

    Parameters
    ----------
    quotes
        Frame with a ``quote_date`` (Date, exchange-local) column; only its date range is read,
        to find the half days when ``quote_time`` is ``"close"``.
    quote_time
        ``"HH:MM"`` by the clock, or ``"close"``: 16:00, 13:00 on the NYSE's scheduled half days.

    Returns
    -------
    polars.Expr
        ``Datetime("us", "UTC")``: the New York wall time converted with that day's offset
        (DST-aware: 15:45 is 19:45 UTC under EDT, 20:45 UTC under EST); null where
        ``quote_date`` is null.

    Examples
    --------
    >>> import datetime as dt
    >>> days = pl.DataFrame({"quote_date": [dt.date(2011, 1, 3), dt.date(2019, 7, 3)]})
    >>> def utc(quote_time):
    ...     at = quoted_at_expr(days, quote_time).dt.strftime("%Y-%m-%d %H:%M")
    ...     return days.select(at.alias("quoted_at"))["quoted_at"].to_list()
    >>> utc("15:45")  # EST in January, EDT in July
    ['2011-01-03 20:45', '2019-07-03 19:45']
    >>> utc("close")  # 2019-07-03 is a half day: 13:00 ET
    ['2011-01-03 21:00', '2019-07-03 17:00']
    """
    if quote_time == CLOSE:
        dates = quotes["quote_date"].drop_nulls()
        early = (
            [day for day, is_early in calendar.session_rows(dates.min(), dates.max()) if is_early]
            if len(dates)
            else []
        )
        minutes = (
            pl.when(pl.col("quote_date").is_in(early))
            .then(EARLY_CLOSE_MINUTES)
            .otherwise(CLOSE_MINUTES)
        )
    else:
        clock = _CLOCK_TIME.match(quote_time)
        if clock is None:
            raise ValueError(f"quote_time must be 'HH:MM' or {CLOSE!r}, got {quote_time!r}")
        minutes = pl.lit(int(clock[1]) * 60 + int(clock[2]))
    return (
        (pl.col("quote_date").cast(pl.Datetime("us")) + pl.duration(minutes=minutes))
        .dt.replace_time_zone(EXCHANGE_TZ, non_existent="raise", ambiguous="raise")
        .dt.convert_time_zone("UTC")
    )


def _quoted_at_by_date(quotes: pl.DataFrame, quote_time: str) -> pl.Expr:
    """:func:`quoted_at_expr` computed once per distinct ``quote_date`` and mapped onto the
    rows (the time-zone conversion of 800k rows is the costly part)."""
    days = quotes.select(pl.col("quote_date").unique().drop_nulls())
    if days.is_empty():
        return pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    at = days.with_columns(quoted_at_expr(days, quote_time).alias("at"))
    return pl.col("quote_date").replace_strict(
        at["quote_date"], at["at"], default=None, return_dtype=pl.Datetime("us", "UTC")
    )


def complete_option_quotes(quotes: pl.DataFrame, *, quote_time: str | None = None) -> pl.DataFrame:
    """Fill the derived canonical columns of option quotes, whatever the layout.

    - ``option_root`` from the vendor's OCC symbol when the file has no root column;
    - ``underlying_symbol``: the underlying the contract specs declare for the root (SPXW, SPXPM
      and SPXQ are SPX options), else the vendor's, else the root less an adjusted root's digit;
      the vendor's value as delivered stays in ``vendor_underlying_symbol``;
    - ``expiration``: the expiry's last trading session (:func:`loaders.calendar.
      last_session_on_or_before`), from the vendor's column, else its OCC symbol; a Saturday
      (the formal expiration of standard options until February 2015, written in the column by
      some vendors, in the symbol by others) becomes its Friday. The column as delivered stays in
      ``vendor_expiration``;
    - ``underlying_price`` as the mid of the underlying's bid and ask when only those are given;
    - ``quoted_at``, where the row has none, from the layout's ``quote_time`` (New York time on
      ``quote_date``, DST-aware, in UTC; :func:`quoted_at_expr`); live snapshots bring their own;
    - ``contract_symbol``: the unpadded OCC symbol of root, normalised expiration, type and
      strike (the vendor symbol's exact thousandths where it parses), so one contract has one
      symbol whatever convention its vendor wrote;
    - contract terms from ``loaders/contract_specs.yaml``, and whether the contract is a
      standard one (:func:`loaders.contracts.nonstandard_reason`).

    Input and output have :data:`loaders.schemas.OPTION_QUOTES`' columns; rows keep their order.
    ``quote_time`` is :attr:`VendorFormat.quote_time` (``"HH:MM"`` or ``"close"``); None keeps
    ``quoted_at`` as given. Idempotent.
    """
    _, roots = contracts.load_specs()
    root_underlying = {root: terms["underlying_symbol"] for root, terms in roots.items()}
    vendor_underlying = pl.col("vendor_underlying_symbol").str.strip_chars().str.to_uppercase()
    # the vendor symbol is parsed once (a column), its fields read below
    quotes = contracts.with_occ_terms(quotes)
    occ = pl.col("_occ")
    staged = quotes.with_columns(
        pl.coalesce(
            pl.col("option_root").str.strip_chars().str.to_uppercase(), occ.struct.field("root")
        ).alias("option_root"),
        pl.coalesce(pl.col("vendor_underlying_symbol"), pl.col("underlying_symbol")).alias(
            "vendor_underlying_symbol"
        ),
        pl.coalesce(pl.col("vendor_expiration"), pl.col("expiration")).alias("vendor_expiration"),
        pl.coalesce(pl.col("expiration"), occ.struct.field("expiration")).alias("expiration"),
        pl.coalesce(pl.col("option_type"), occ.struct.field("option_type")).alias("option_type"),
        pl.coalesce(
            occ.struct.field("strike_thousandths"),
            (pl.col("strike") * 1000).round(0).cast(pl.Int64),
        ).alias("_strike_thousandths"),
    )
    staged = staged.with_columns(
        calendar.last_session_on_or_before(staged["expiration"]).alias("expiration")
    )
    completed = staged.with_columns(
        pl.coalesce(
            pl.col("option_root").replace_strict(root_underlying, default=None),
            pl.when(vendor_underlying != "").then(vendor_underlying),
            pl.col("option_root").str.replace(r"[0-9]+$", ""),
        ).alias("underlying_symbol"),
        pl.coalesce(
            pl.col("underlying_price"), (pl.col("underlying_bid") + pl.col("underlying_ask")) / 2
        ).alias("underlying_price"),
        (
            pl.coalesce(pl.col("quoted_at"), _quoted_at_by_date(quotes, quote_time))
            if quote_time is not None
            else pl.col("quoted_at")
        ).alias("quoted_at"),
        pl.concat_str(
            pl.col("option_root"),
            pl.col("expiration").dt.strftime("%y%m%d"),
            pl.when(pl.col("option_type") == "call")
            .then(pl.lit("C"))
            .when(pl.col("option_type") == "put")
            .then(pl.lit("P")),
            # 8 digits, zero-padded (strikes under $100,000)
            (pl.col("_strike_thousandths") + 100_000_000).cast(pl.String).str.slice(1),
        ).alias("contract_symbol"),
    )
    termed = contracts.with_contract_terms(completed)
    reason = contracts.nonstandard_reason(
        pl.col("option_root"),
        pl.col("strike"),
        pl.col("contract_multiplier"),
        pl.col("deliverable"),
        list(roots),
    )
    return termed.with_columns(
        reason.alias("nonstandard_reason"), reason.is_null().alias("is_standard_contract")
    ).select(list(schemas.OPTION_QUOTES))


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=schemas.REJECTS)


# The YAML layouts are read with VendorFormat defined above (loaders/layouts.py imports it).
from loaders.layouts import builtin_layouts  # noqa: E402

#: Every built-in layout: the code-declared ones, then loaders/layouts/*.yaml. A user's own
#: layouts (<vendor dir>/layouts/*.yaml) are added per vendor folder: layouts.all_formats().
FORMATS: tuple[VendorFormat, ...] = _CODE_FORMATS + builtin_layouts()
