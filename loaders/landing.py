"""Land parsed, validated vendor files as parquet under ``warehouse/raw/``.

Layout: ``raw/<vendor>/<entity>.parquet`` (what dbt's sources read),
``raw/_rejects/<vendor>__<entity>.parquet`` (rows that failed, with their rule, file and line)
and ``raw/_reports/<vendor>__<entity>.json`` (rows in / landed / rejected per rule, files that
could not be read, and the great-expectations result). Every file is written under a temporary
name and renamed, so a reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from loaders import schemas
from loaders.validation import validate
from loaders.vendor import ENTITY_SCHEMAS, FORMATS, VendorFileError, VendorFormat, parse_file


@dataclass
class LoadReport:
    """What one (vendor, entity) landing did; counts are rows."""

    vendor: str
    entity: str
    files: int = 0
    rows_in: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        text = (
            f"{self.vendor}/{self.entity}: {self.files} files, {self.rows_in:,} rows in, "
            f"{self.rows_landed:,} landed, {self.rows_rejected:,} rejected ({self.seconds:.1f} s)"
        )
        for error in self.file_errors:
            text += f"\n  ERROR {error}"
        return text


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def _write_text_atomically(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _strip_row_lists(suite_result: dict) -> dict:
    """Keep the report small: counts and a few examples, not every failing row (those are in
    the rejects file)."""
    for expectation in suite_result.get("expectations", []):
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            expectation.get("result", {}).pop(key, None)
    return suite_result


def land_entity(
    vendor: str,
    entity: str,
    formats: list[VendorFormat],
    vendor_dir: Path,
    raw_dir: Path,
) -> LoadReport:
    """Parse, validate and land every file of one (vendor, entity).

    A file that cannot be read is recorded in the report and skipped; the other files land.
    Rows that fail parsing or validation go to the rejects file; nothing is dropped silently:
    ``rows_in == rows_landed + rows_rejected`` always holds.
    """
    started = time.perf_counter()
    report = LoadReport(vendor, entity)
    frames, rejects = [], []
    for fmt in formats:
        for path in sorted(vendor_dir.glob(fmt.pattern)):
            report.files += 1
            try:
                rows, bad = parse_file(fmt, path, vendor_dir)
            except VendorFileError as exc:
                report.file_errors.append(str(exc))
                continue
            frames.append(rows)
            rejects.append(bad)
    schema = ENTITY_SCHEMAS[entity]
    parsed = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    parse_rejects = pl.concat(rejects) if rejects else pl.DataFrame(schema=schemas.REJECTS)

    outcome = validate(entity, parsed)
    all_rejects = pl.concat([parse_rejects, outcome.rejects])
    report.rows_in = parsed.height + parse_rejects.height
    report.rows_landed = outcome.landed.height
    report.rows_rejected = all_rejects.height
    report.rejected_by_rule = dict(all_rejects.group_by("rule").len().sort("rule").iter_rows())

    _write_atomically(outcome.landed, raw_dir / vendor / f"{entity}.parquet")
    _write_atomically(all_rejects, raw_dir / "_rejects" / f"{vendor}__{entity}.parquet")
    report.seconds = time.perf_counter() - started
    _write_text_atomically(
        json.dumps(
            {**report.__dict__, "suite_result": _strip_row_lists(outcome.suite_result)},
            indent=2,
            default=str,
        ),
        raw_dir / "_reports" / f"{vendor}__{entity}.json",
    )
    return report


def land_vendor_files(
    vendor_dir: Path,
    raw_dir: Path,
    *,
    only: set[str] | None = None,
    progress: Callable[[LoadReport], None] | None = None,
) -> list[LoadReport]:
    """Land every vendor layout of :data:`loaders.vendor.FORMATS` found under ``vendor_dir``.

    Parameters
    ----------
    only
        Restrict to these ``<vendor>/<entity>`` targets (e.g. ``{"cboe/option_quotes"}``).
    progress
        Called with each target's report as soon as it has landed.

    Raises
    ------
    FileNotFoundError
        If ``vendor_dir`` does not exist.
    ValueError
        If ``only`` names an unknown target; the message lists the known ones.
    """
    if not vendor_dir.is_dir():
        raise FileNotFoundError(f"vendor directory not found: {vendor_dir}")
    targets: dict[tuple[str, str], list[VendorFormat]] = {}
    for fmt in FORMATS:
        targets.setdefault((fmt.vendor, fmt.entity), []).append(fmt)
    known = {f"{v}/{e}" for v, e in targets}
    if only and not only <= known:
        raise ValueError(f"unknown target(s) {sorted(only - known)}; known: {sorted(known)}")
    reports = []
    for (vendor, entity), formats in targets.items():
        if only and f"{vendor}/{entity}" not in only:
            continue
        report = land_entity(vendor, entity, formats, vendor_dir, raw_dir)
        if progress:
            progress(report)
        reports.append(report)
    return reports
