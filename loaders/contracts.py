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
OCC_PATTERN = r"^\s*([A-Z][A-Z0-9]{0,5})\s*(\d{6})([CP])(\d{8})\s*$"
#: The same layout without capture groups, for a match-only check.
OCC_REGEX = r"^\s*[A-Z][A-Z0-9]{0,5}\s*\d{6}[CP]\d{8}\s*$"
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

    Returns a struct with fields ``root`` (String), ``expiration`` (Date), ``option_type``
    (``'call'``/``'put'``) and ``strike`` (Float64); every field is null when the symbol does not
    match the OSI layout (the caller decides whether that is an error).
    """
    parts = symbol.str.extract_groups(OCC_PATTERN)
    return pl.struct(
        parts.struct.field("1").alias("root"),
        parts.struct.field("2").str.strptime(pl.Date, "%y%m%d", strict=False).alias("expiration"),
        pl.when(parts.struct.field("3") == "C")
        .then(pl.lit("call"))
        .when(parts.struct.field("3") == "P")
        .then(pl.lit("put"))
        .alias("option_type"),
        (parts.struct.field("4").cast(pl.Int64, strict=False) / 1000).alias("strike"),
    )


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
