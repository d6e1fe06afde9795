"""Vendor layouts declared in YAML, without code: the built-in ones in ``loaders/layouts/`` and a
user's own in ``<vendor dir>/layouts/`` (``python -m loaders formats`` lists both).

One file declares one layout::

    source: optionsdx_eod            # required: recorded in every landed row's `source`
    entity: option_quotes            # default option_quotes
    vendor: declared                 # raw/<vendor>/<entity>/ (default: declared)
    patterns: [options/optionsdx/*.txt]   # globs under the vendor folder, `*` within one folder
    separator: ","                   # one character (default ",")
    header: true                     # false: columns are named by `columns`' keys, in order
    date_formats: ["%Y-%m-%d"]       # strptime formats tried in order
    quote_time: close                # option quotes: "HH:MM" New York time, or close
    quote_time_by_pattern: {}        # a pattern's own quote time
    underlying_symbol: SPX           # the underlying, when the file does not say it
    constants: {exercise_style: european}   # canonical column -> value for every row
    file_name: '^(?P<option_root>[a-z]+)_'  # named groups of a regex on the file name
    columns: {QUOTE_DATE: quote_date, STRIKE: strike}   # native header -> canonical column
    optional: [C_LAST]               # native columns some files lack
    wide:                            # calls and puts on one row: each side's column group
      call: {C_BID: bid, C_ASK: ask}
      put: {P_BID: bid, P_ASK: ask}
    notes: free text shown by `python -m loaders formats`

Rules, each failing with a :class:`LayoutError` that names the file and the key: known keys
only; ``source`` a lowercase identifier; every canonical column one of the entity's schema
(:mod:`loaders.schemas`); ``wide`` only for option quotes, with both sides, the same canonical
columns on each side and no ``option_type`` (the side is the type); patterns relative, without
``..``; a ``vendor`` that has a dbt source for the entity (:data:`DBT_SOURCES`): a declared
layout lands where the warehouse reads it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from loaders import schemas
from warehouse.safe_yaml import YamlFileError, excerpt, read_yaml

if TYPE_CHECKING:
    from loaders.vendor import VendorFormat
# loaders.vendor imports this module to add the YAML layouts to its FORMATS: the classes it
# defines are imported where they are used.

__all__ = [
    "BUILTIN_DIR",
    "DBT_SOURCES",
    "LayoutError",
    "builtin_layouts",
    "read_layout",
    "user_layouts",
]

#: The built-in layouts declared in YAML.
BUILTIN_DIR = Path(__file__).with_name("layouts")
#: Folder, under the vendor directory, of a user's own layouts.
USER_FOLDER = "layouts"

#: (vendor, entity) pairs that a dbt source reads (models_sql/models/staging/_sources.yml): a
#: layout must land into one of them, or its rows would reach no model.
DBT_SOURCES: frozenset[tuple[str, str]] = frozenset(
    {
        ("cboe", "option_quotes"),
        ("cboe_datashop", "option_quotes"),
        ("ivolatility", "option_quotes"),
        ("declared", "option_quotes"),
        ("yahoo", "equity_bars"),
        ("yahoo", "index_bars"),
        ("quantconnect", "equity_bars"),
        ("quantconnect", "adjustment_factors"),
        ("cboe", "volatility_indices"),
        ("cboe", "benchmark_indices"),
        ("fred", "rates"),
        ("cboe", "settlement_values"),
        ("polygon", "option_day_bars"),
        ("qmoms", "iv_surfaces"),
    }
)
_KEYS = {
    "source", "entity", "vendor", "patterns", "separator", "header", "date_formats",
    "quote_time", "quote_time_by_pattern", "underlying_symbol", "constants", "file_name",
    "columns", "optional", "wide", "notes",
}  # fmt: skip
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
#: Columns a file-name regex or a constant may set with upper-cased values (tickers, roots).
_UPPER = {"option_root", "underlying_symbol", "symbol", "index_symbol", "series_id"}


class LayoutError(ValueError):
    """A layout file that cannot be used; the message names the file and the offending key."""


def _fail(path: Path, key: str, message: str) -> LayoutError:
    return LayoutError(f"{path.name}: {key}: {message}")


def _mapping(path: Path, key: str, value: Any, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or not value:
        raise _fail(path, key, f"must be a non-empty mapping, got {excerpt(value)}")
    for native, canonical in value.items():
        if not isinstance(native, str) or not isinstance(canonical, str):
            raise _fail(
                path, key, f"names must be text, got {excerpt(native)}: {excerpt(canonical)}"
            )
    return {str(k).strip(): str(v) for k, v in value.items()}


def _strings(path: Path, key: str, value: Any, *, required: bool = False) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"must be a list of text, got {excerpt(value)}")
    return tuple(value)


def _file_name_constants(path: Path, regex: str | None, constants: dict[str, str]) -> Any:
    """The layout's constants plus what its ``file_name`` regex's named groups capture."""
    pattern = None
    if regex is not None:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise _fail(
                path, "file_name", f"not a regular expression ({exc}): {excerpt(regex)}"
            ) from None
        if not pattern.groupindex:
            raise _fail(path, "file_name", "needs named groups, e.g. '^(?P<option_root>[a-z]+)_'")

    def constants_of(file: Path, header: list[str]) -> dict[str, object]:
        from loaders.vendor import VendorFileError

        values: dict[str, object] = dict(constants)
        if pattern is not None:
            match = pattern.search(file.name)
            if match is None:
                raise VendorFileError(
                    f"{file.name}: the file name does not match layout {path.stem!r}'s "
                    f"file_name pattern {regex!r}"
                )
            values.update({k: v for k, v in match.groupdict().items() if v is not None})
        return {k: (str(v).upper() if k in _UPPER else v) for k, v in values.items()}

    return constants_of if (pattern is not None or constants) else None


def read_layout(path: Path) -> VendorFormat:
    """Read one layout file into a :class:`loaders.vendor.VendorFormat`.

    Raises
    ------
    LayoutError
        A key that is unknown, missing or invalid; the message names the file and the key.
    warehouse.safe_yaml.YamlFileError
        A file that is not safe YAML (anchors, aliases, over 1 MB), naming the file and line.
    """
    from loaders.vendor import VendorFormat

    spec = read_yaml(path)
    if not isinstance(spec, dict):
        raise _fail(path, "(file)", f"must be a mapping of layout keys, got {excerpt(spec)}")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise _fail(path, ", ".join(map(str, unknown)), f"unknown key(s); known: {sorted(_KEYS)}")
    source = spec.get("source")
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise _fail(path, "source", f"must be a lowercase identifier, got {excerpt(source)}")
    entity = spec.get("entity", "option_quotes")
    if entity not in schemas.ENTITY_SCHEMAS:
        raise _fail(
            path,
            "entity",
            f"must be one of {sorted(schemas.ENTITY_SCHEMAS)}, got {excerpt(entity)}",
        )
    vendor = spec.get("vendor", "declared")
    if (vendor, entity) not in DBT_SOURCES:
        known = sorted(v for v, e in DBT_SOURCES if e == entity)
        raise _fail(
            path,
            "vendor",
            f"{excerpt(vendor)} has no dbt source for {entity}; use one of {known}",
        )
    patterns = _strings(path, "patterns", spec.get("patterns"), required=True)
    for pattern in patterns:
        pure = PurePosixPath(pattern)
        if pure.is_absolute() or ".." in pure.parts or pattern.startswith(USER_FOLDER + "/"):
            raise _fail(path, "patterns", f"must be relative to the vendor folder, got {pattern!r}")
    schema = schemas.ENTITY_SCHEMAS[entity]
    columns = _mapping(path, "columns", spec.get("columns"), required=True)
    wide = spec.get("wide")
    sides: dict[str, dict[str, str]] = {}
    if wide is not None:
        if entity != "option_quotes":
            raise _fail(path, "wide", f"is for option quotes, not {entity}")
        if not isinstance(wide, dict) or set(wide) != {"call", "put"}:
            raise _fail(path, "wide", f"must map exactly call and put, got {excerpt(wide)}")
        sides = {
            side: _mapping(path, f"wide.{side}", wide[side], required=True)
            for side in ("call", "put")
        }
        if set(sides["call"].values()) != set(sides["put"].values()):
            raise _fail(
                path,
                "wide",
                "call and put must fill the same columns, got "
                f"{sorted(sides['call'].values())} and {sorted(sides['put'].values())}",
            )
        shared = set(columns.values()) & set(sides["call"].values())
        if shared or "option_type" in sides["call"].values() or "option_type" in columns.values():
            raise _fail(
                path,
                "wide",
                "a column is both shared and per side, or option_type is mapped: "
                f"{sorted(shared) or ['option_type']}",
            )
    for key, mapping in (("columns", columns), *((f"wide.{s}", m) for s, m in sides.items())):
        bad = sorted(c for c in mapping.values() if c not in schema or c in schemas.LINEAGE)
        if bad:
            raise _fail(
                path,
                key,
                f"{bad} are not {entity} columns; known: "
                f"{sorted(c for c in schema if c not in schemas.LINEAGE)}",
            )
    constants = spec.get("constants") or {}
    if not isinstance(constants, dict) or any(c not in schema for c in constants):
        raise _fail(
            path, "constants", f"must map {entity} columns to values, got {excerpt(constants)}"
        )
    constants = {str(k): v for k, v in constants.items()}
    if spec.get("underlying_symbol") is not None:
        if entity != "option_quotes":
            raise _fail(path, "underlying_symbol", f"is for option quotes, not {entity}")
        constants["underlying_symbol"] = str(spec["underlying_symbol"])
    separator = spec.get("separator", ",")
    if not (isinstance(separator, str) and len(separator) == 1):
        raise _fail(path, "separator", f"must be one character, got {excerpt(separator)}")
    header = spec.get("header", True)
    if not isinstance(header, bool):
        raise _fail(path, "header", f"must be true or false, got {excerpt(header)}")
    quote_by_pattern = spec.get("quote_time_by_pattern") or {}
    if not isinstance(quote_by_pattern, dict):
        raise _fail(
            path, "quote_time_by_pattern", f"must be a mapping, got {excerpt(quote_by_pattern)}"
        )
    try:
        return VendorFormat(
            source=source,
            vendor=vendor,
            entity=entity,
            patterns=patterns,
            columns=columns,
            optional=frozenset(_strings(path, "optional", spec.get("optional"))),
            date_formats=_strings(path, "date_formats", spec.get("date_formats")) or ("%Y-%m-%d",),
            constants=_file_name_constants(path, spec.get("file_name"), constants),
            header=header,
            notes=str(spec.get("notes") or "").strip(),
            quote_time=None if spec.get("quote_time") is None else str(spec["quote_time"]),
            quote_time_by_pattern={str(k): str(v) for k, v in quote_by_pattern.items()},
            wide=sides or None,
            separator=separator,
            origin=_display(path),
        )
    except ValueError as exc:  # VendorFormat's own checks (quote times)
        raise LayoutError(f"{path.name}: {exc}") from None


def _display(path: Path) -> str:
    """A layout file's path as shown to users: relative to the repository when inside it."""
    repo = Path(__file__).resolve().parents[1]
    resolved = path.resolve()
    return resolved.relative_to(repo).as_posix() if resolved.is_relative_to(repo) else str(path)


@cache
def builtin_layouts() -> tuple[VendorFormat, ...]:
    """The layouts of ``loaders/layouts/*.yaml``, sorted by file name."""
    return tuple(read_layout(p) for p in sorted(BUILTIN_DIR.glob("*.yaml")))


def user_layouts(folder: Path) -> tuple[tuple[VendorFormat, ...], list[tuple[str, str]]]:
    """A user's layouts (``*.yaml``/``*.yml`` in ``folder``) and the files refused, with why.

    A broken layout file never stops the others: it comes back as ``(file name, message)`` and
    the files it would have claimed are refused as unclaimed.
    """
    formats: list[VendorFormat] = []
    errors: list[tuple[str, str]] = []
    if not folder.is_dir():
        return (), errors
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            formats.append(read_layout(path))
        except (LayoutError, YamlFileError) as exc:
            errors.append((f"{USER_FOLDER}/{path.name}", f"layout not used: {exc}"))
    return tuple(formats), errors


def all_formats(vendor_dir: Path) -> tuple[tuple[VendorFormat, ...], list[tuple[str, str]]]:
    """Every layout that reads ``vendor_dir``: the built-in ones and the user's own in
    ``<vendor_dir>/layouts/``, with the user layout files refused (``(file, message)``).

    A user layout whose ``source`` repeats another layout's is refused: a row's ``source``
    must name one layout.
    """
    from loaders.vendor import FORMATS

    declared, errors = user_layouts(vendor_dir / USER_FOLDER)
    formats = list(FORMATS)
    for fmt in declared:
        clash = next((f for f in formats if f.source == fmt.source), None)
        if clash is not None:
            name = f"{USER_FOLDER}/{Path(fmt.origin).name}"
            errors.append(
                (
                    name,
                    f"layout not used: {Path(fmt.origin).name}: source: {fmt.source!r} is "
                    f"already the source of the layout in {clash.origin}",
                )
            )
            continue
        formats.append(fmt)
    return tuple(formats), errors
