"""OCC option symbols and contract terms.

An OCC (OSI) option symbol is the root (1-6 characters), the expiration as ``YYMMDD``, ``C`` or
``P``, and the strike times 1000 in 8 digits (OCC, "Options Symbology Initiative", 2010). The
padded form puts the root in a 6-character field (``SPXW  190426C02900000``, as iVolatility
delivers it); the warehouse keeps the unpadded form (``SPXW190426C02900000``, as CBOE's
end-of-day files and Yahoo write it) in ``contract_symbol`` and the vendor's own in
``vendor_symbol``.

Contract terms (exercise and settlement style, AM/PM settlement, multiplier) come from
``loaders/contract_specs.yaml`` by root, never from an assumption about the underlying.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from warehouse.safe_yaml import excerpt, read_yaml

SPECS_PATH = Path(__file__).with_name("contract_specs.yaml")
#: The OSI layout, padded (spaces) or not: root, YYMMDD, C|P, strike x 1000 in 8 digits. Written
#: with ASCII classes only (no ``\s``/``\d``), so pandas' Arrow strings match it with RE2 in
#: great-expectations' check instead of Python's ``re`` row by row (5x faster on the chain).
OCC_REGEX = r"^ *[A-Z][A-Z0-9]{0,5} *[0-9]{6}[CP][0-9]{8} *$"
#: Characters of an OSI symbol after its root: YYMMDD, C|P, 8 strike digits.
_OSI_TAIL = 15
TERM_COLUMNS = ("exercise_style", "settlement_style", "settlement_type", "contract_multiplier")
_ALLOWED = {
    "exercise_style": {"european", "american"},
    "settlement_style": {"cash", "physical"},
    "settlement_type": {"AM", "PM"},
}


def occ_symbol(
    root: pl.Expr, expiration: pl.Expr, option_type: pl.Expr, strike: pl.Expr
) -> pl.Expr:
    """Unpadded OCC symbol from a contract's terms.

    ``option_type`` is ``'call'``/``'put'``; ``strike`` in the quote currency (2900.0 gives
    ``02900000``). Null when any term is null.

    Examples
    --------
    >>> import datetime as dt
    >>> pl.select(
    ...     occ_symbol(pl.lit("SPXW"), pl.lit(dt.date(2019, 4, 26)), pl.lit("call"),
    ...                pl.lit(2912.5))
    ... ).item()
    'SPXW190426C02912500'
    """
    strike_thousandths = (strike * 1000).round(0).cast(pl.Int64)
    return pl.concat_str(
        root,
        expiration.dt.strftime("%y%m%d"),
        pl.when(option_type == "call")
        .then(pl.lit("C"))
        .when(option_type == "put")
        .then(pl.lit("P")),
        strike_thousandths.cast(pl.String).str.zfill(8),
    )


def parse_occ(symbol: pl.Expr) -> pl.Expr:
    """Parse an OCC symbol (padded or not) into a struct of its terms.

    Returns a struct with fields ``root`` (String), ``expiration`` (Date, as the symbol writes
    it: a Saturday for pre-2015 standard monthlies), ``option_type`` (``'call'``/``'put'``),
    ``strike`` (Float64) and ``strike_thousandths`` (Int64, exact: OSI's own unit); every field
    is null when the symbol does not match the OSI layout (the caller decides whether that is an
    error).
    """
    # A match-only check, then fixed positions: the 15 characters after the root are the date,
    # the type and the strike (10x faster than capturing groups on 800k symbols).
    trimmed = symbol.str.strip_chars(" ")
    tail = trimmed.str.slice(-_OSI_TAIL)
    thousandths = tail.str.slice(7, 8).cast(pl.Int64, strict=False)
    kind = tail.str.slice(6, 1)
    terms = pl.struct(
        trimmed.str.head(trimmed.str.len_chars() - _OSI_TAIL)
        .str.strip_chars_end(" ")
        .alias("root"),
        tail.str.slice(0, 6).str.strptime(pl.Date, "%y%m%d", strict=False).alias("expiration"),
        pl.when(kind == "C").then(pl.lit("call")).otherwise(pl.lit("put")).alias("option_type"),
        (thousandths / 1000).alias("strike"),
        thousandths.alias("strike_thousandths"),
    )
    return pl.when(symbol.str.contains(OCC_REGEX)).then(terms)


def with_occ_terms(
    frame: pl.DataFrame, column: str = "vendor_symbol", alias: str = "_occ"
) -> pl.DataFrame:
    """``frame`` with :func:`parse_occ` of ``column`` as the struct column ``alias``, parsed once
    per distinct symbol (a chain repeats each contract's symbol every day: 31k symbols for the
    787k quotes of the 2019 chain) and joined back; row order kept."""
    symbols = frame.select(pl.col(column).unique())
    parsed = symbols.with_columns(parse_occ(pl.col(column)).alias(alias))
    return frame.join(parsed, on=column, how="left", maintain_order="left", nulls_equal=True)


@cache
def load_specs(path: Path = SPECS_PATH) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read and check the contract-terms file.

    Returns
    -------
    (default, roots)
        The terms for unlisted roots, and the terms per listed root.

    Raises
    ------
    ValueError
        A term with a value outside its allowed set, a non-positive multiplier or a missing
        term; the message names the root, the term and the value. A file that is not safe YAML
        (an anchor or alias, over 1 MB) raises :class:`warehouse.safe_yaml.YamlFileError`, a
        ``ValueError`` naming the file and line.
    """
    spec = read_yaml(path)  # no anchors or aliases, bounded size: warehouse/safe_yaml.py
    default, roots = spec["default"], spec.get("roots") or {}
    for root, terms in {"default": default, **roots}.items():
        for term in TERM_COLUMNS:
            if term not in terms:
                raise ValueError(f"{path.name}: {root}: missing {term!r}")
        for term, allowed in _ALLOWED.items():
            if terms[term] not in allowed:
                raise ValueError(
                    f"{path.name}: {root}: {term} must be one of {sorted(allowed)}, "
                    f"got {excerpt(terms[term])}"
                )
        if not (isinstance(terms["contract_multiplier"], int) and terms["contract_multiplier"] > 0):
            raise ValueError(
                f"{path.name}: {root}: contract_multiplier must be a positive integer, "
                f"got {excerpt(terms['contract_multiplier'])}"
            )
    return default, roots


def contract_terms_frame(path: Path = SPECS_PATH) -> pl.DataFrame:
    """One row per listed root: ``option_root`` and the :data:`TERM_COLUMNS`."""
    _, roots = load_specs(path)
    return pl.DataFrame(
        [
            {"option_root": root, **{t: terms[t] for t in TERM_COLUMNS}}
            for root, terms in roots.items()
        ],
        schema={
            "option_root": pl.String,
            "exercise_style": pl.String,
            "settlement_style": pl.String,
            "settlement_type": pl.String,
            "contract_multiplier": pl.Int64,
        },
    )


def with_contract_terms(quotes: pl.DataFrame, path: Path = SPECS_PATH) -> pl.DataFrame:
    """Fill the contract-term columns from the specs by ``option_root``.

    A value the vendor delivered (iVolatility's exercise style) is kept; missing ones come from
    the root's listed terms, else from the default. Row order is preserved.
    """
    default, _ = load_specs(path)
    terms = contract_terms_frame(path).rename({t: f"{t}__spec" for t in TERM_COLUMNS})
    joined = quotes.join(terms, on="option_root", how="left", maintain_order="left")
    return joined.with_columns(
        pl.coalesce(pl.col(t), pl.col(f"{t}__spec"), pl.lit(default[t])).cast(quotes.schema[t])
        for t in TERM_COLUMNS
    ).drop(f"{t}__spec" for t in TERM_COLUMNS)


#: Standard equity and index option strikes are listed on a $0.50 grid or coarser (Cboe Rules
#: 4.5 (strike intervals), Interpretations .01-.04: $0.50, $1, $2.50, $5 ...); a strike off it
#: (65.71 = 460/7) is an adjusted contract's.
STANDARD_STRIKE_GRID_THOUSANDTHS = 500
#: A deliverable that says 100 shares (of the underlying) is standard.
_STANDARD_DELIVERABLE = r"(?i)^\s*100(\s+(shares?|shs))?(\s+(of\s+)?[A-Z][A-Z0-9.]*)?\s*$"
#: OCC adjusted roots append a digit to the original root (AAPL -> AAPL1, AAPL7).
_ADJUSTED_ROOT = r"^[A-Z]+[0-9]+$"


def strike_ten_thousandths(strike: pl.Expr) -> pl.Expr:
    """A strike in ten-thousandths of a dollar, exact for any strike written with at most four
    decimals (65.71 -> 657100; float noise such as 65.710000000000001 rounds away)."""
    return (strike * 10_000).round(0).cast(pl.Int64)


def strike_agrees_with_symbol(strike: pl.Expr, symbol_thousandths: pl.Expr) -> pl.Expr:
    """Whether a row's strike and its OSI symbol's strike field name the same strike, in exact
    decimal arithmetic (integers of ten-thousandths).

    The OSI strike is thousandths of a dollar in 8 digits (OCC, "Options Symbology
    Initiative", 2010): ``00065710`` is 65.710. A column written to the cent (65.71) agrees with
    ``00065710`` and, rounded to the cent, with ``00065714`` (a vendor that rounds 460/7 to
    cents); a column with more decimals than OSI carries (65.7143) agrees when OSI's thousandths
    are its rounding or truncation. A whole-dollar column (2900) must equal the symbol exactly
    (``02900500`` is another strike). Null when either side is null.

    Examples
    --------
    >>> frame = pl.DataFrame({
    ...     "strike": [65.71, 65.71, 65.7143, 65.71, 2900.0, 2900.0],
    ...     "osi": [65710, 65714, 65714, 65720, 2900000, 2900500],
    ... })
    >>> agrees = strike_agrees_with_symbol(pl.col("strike"), pl.col("osi"))
    >>> frame.select(agrees).to_series().to_list()
    [True, True, True, False, True, False]
    """
    column = strike_ten_thousandths(strike)
    symbol = symbol_thousandths.cast(pl.Int64) * 10
    # decimals the column was written with (0-4), from its exact ten-thousandths
    unit = (
        pl.when(column % 10_000 == 0)
        .then(10_000)
        .when(column % 1_000 == 0)
        .then(1_000)
        .when(column % 100 == 0)
        .then(100)
        .otherwise(10)
    )
    symbol_rounded = ((symbol + unit // 2) // unit) * unit  # half up, in integers
    symbol_truncated = (symbol // unit) * unit
    return (
        pl.when(column.is_null() | symbol.is_null())
        .then(None)
        .otherwise(
            (column == symbol)
            # written to the cent: the cent OSI's thousandths round or truncate to
            | ((unit == 100) & ((column == symbol_rounded) | (column == symbol_truncated)))
            # more decimals than OSI's thousandths: OSI rounded or truncated the column
            | ((unit == 10) & ((column - symbol).abs() < 10))
        )
    )


def nonstandard_reason(
    root: pl.Expr,
    strike: pl.Expr,
    multiplier: pl.Expr,
    deliverable: pl.Expr,
    listed_roots: list[str],
) -> pl.Expr:
    """Why a contract is not a standard one (an adjusted contract after a split, merger or
    special dividend), or null when it is standard.

    Reasons, ``;``-joined in this order: ``adjusted_root`` (a root not in the contract specs
    that ends in a digit, OCC's convention for adjusted series: AAPL1), ``strike_off_grid`` (a
    strike off the $0.50 grid of standard strikes: 65.71), ``multiplier_<n>`` (a multiplier
    other than 100), ``deliverable`` (a vendor deliverable other than 100 shares).

    Source: OCC Information Memos on contract adjustments (OCC By-Laws Article VI, Section
    11A); Cboe Rule 4.5 for standard strike intervals.
    """
    reasons = [
        pl.when(~root.is_in(listed_roots) & root.str.contains(_ADJUSTED_ROOT)).then(
            pl.lit("adjusted_root")
        ),
        pl.when(strike_ten_thousandths(strike) % (STANDARD_STRIKE_GRID_THOUSANDTHS * 10) != 0).then(
            pl.lit("strike_off_grid")
        ),
        pl.when(multiplier.is_not_null() & (multiplier != 100)).then(
            pl.concat_str(pl.lit("multiplier_"), multiplier.cast(pl.String))
        ),
        pl.when(
            deliverable.is_not_null()
            & (deliverable.str.strip_chars() != "")
            & ~deliverable.str.contains(_STANDARD_DELIVERABLE)
        ).then(pl.lit("deliverable")),
    ]
    joined = pl.concat_str(reasons, separator=";", ignore_nulls=True)
    return pl.when(joined != "").then(joined)
