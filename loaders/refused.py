"""Refused vendor files: what the latest load could not land, kept in ``raw/_refused.parquet``.

A file in the vendor folder that no layout claims, or that cannot be read (a truncated gzip, a
header without a layout's columns), lands nothing; the other files land, the pipeline goes on to
publish, and the refusal is *recorded* rather than only printed (issue 16): one row per refused
file in ``raw/_refused.parquet`` (columns :data:`REFUSED`), which dbt reads as
``stg_landing__refused_files``, the data-quality layer warns about (``dq_landing_refused_files``)
and the app lists. ``python -m loaders refused`` prints it; ``make all`` ends with it.

The file always exists after a vendor load (empty when nothing was refused), holds only the
refusals of the latest load of each target (a file refused earlier and landed now is gone from
it), and is sorted, so the same inputs give the same bytes. A file refused again, unchanged
(same bytes, same reason), keeps the ``refused_at`` of its first refusal: loading the same files
twice rewrites nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loaders.printable import printable

__all__ = [
    "REFUSED",
    "REFUSED_FILE",
    "RefusedFile",
    "is_strict",
    "merge_refused",
    "read_refused",
    "refused_frame",
    "render_refused",
]

#: Name of the record under the raw folder.
REFUSED_FILE = "_refused.parquet"

#: Columns of ``raw/_refused.parquet``, one row per refused file.
REFUSED: dict[str, pl.DataType] = {
    # path relative to the vendor folder, as delivered (not escaped: it is data)
    "source_file": pl.String(),
    # why, control characters escaped (loaders.printable), without the file name
    "reason": pl.String(),
    # layout source that claimed the file (several: comma-separated); null when none did
    "layout": pl.String(),
    "vendor": pl.String(),
    # landed entity the layout feeds; null when no (single) layout claimed the file
    "entity": pl.String(),
    # SHA-256 and size of the file's bytes; null when they were not read (outside the allowed
    # folders, not a regular file, unreadable)
    "source_sha256": pl.String(),
    "source_bytes": pl.Int64(),
    # when this file (these bytes, this reason) was first refused in a row of loads, UTC
    "refused_at": pl.Datetime("us", "UTC"),
}

_SORT = ["source_file", "layout", "reason"]


@dataclass(frozen=True)
class RefusedFile:
    """One file a load refused.

    Attributes
    ----------
    source_file
        Path relative to the vendor folder, as delivered.
    reason
        Why, escaped (:func:`loaders.printable.printable`), without the file name in front.
    layout, vendor, entity
        The layout that claimed the file and the target it feeds; ``None`` when no single
        layout claimed it.
    source_sha256, source_bytes
        The file's checksum and size; ``None`` when its bytes were not read.
    """

    source_file: str
    reason: str
    layout: str | None = None
    vendor: str | None = None
    entity: str | None = None
    source_sha256: str | None = None
    source_bytes: int | None = None

    @property
    def target(self) -> str | None:
        """``<vendor>/<entity>``, or ``None`` for a file no single target claims."""
        return f"{self.vendor}/{self.entity}" if self.vendor and self.entity else None


def reason_of(message: str, source_file: str) -> str:
    """The reason part of a refusal message ``"<file>: <reason>"`` (escaped either way).

    >>> reason_of("options/x.csv.gz: cannot read as CSV: bad gzip", "options/x.csv.gz")
    'cannot read as CSV: bad gzip'
    >>> reason_of("x.csv: missing column(s)", "options/x.csv")
    'missing column(s)'
    """
    message = printable(message)
    for prefix in (printable(source_file), printable(Path(source_file).name)):
        if message.startswith(f"{prefix}: "):
            return message[len(prefix) + 2 :]
    return message


def read_refused(raw_dir: Path) -> pl.DataFrame:
    """``raw/_refused.parquet``, or an empty frame of :data:`REFUSED` when there is none yet."""
    path = raw_dir / REFUSED_FILE
    if not path.exists():
        return pl.DataFrame(schema=REFUSED)
    return pl.read_parquet(path).select(pl.col(c).cast(t) for c, t in REFUSED.items())


def refused_frame(
    refused: Iterable[RefusedFile], refused_at: dt.datetime | None = None
) -> pl.DataFrame:
    """``refused`` as rows of :data:`REFUSED`, one per file (the first record of a file listed
    twice, e.g. claimed by two targets), sorted by file, layout and reason."""
    return (
        pl.DataFrame(
            [
                {
                    "source_file": r.source_file,
                    "reason": printable(r.reason),
                    "layout": r.layout,
                    "vendor": r.vendor,
                    "entity": r.entity,
                    "source_sha256": r.source_sha256,
                    "source_bytes": r.source_bytes,
                    "refused_at": refused_at,
                }
                for r in refused
            ],
            schema=REFUSED,
        )
        .unique(subset=["source_file"], keep="first", maintain_order=True)
        .sort(_SORT, nulls_last=True)
    )


def merge_refused(
    previous: pl.DataFrame,
    refused: Iterable[RefusedFile],
    *,
    targets: set[str] | None,
    looked_at: set[str],
    refused_at: dt.datetime,
) -> pl.DataFrame:
    """The new record: ``previous`` with the rows of this load's scope replaced by ``refused``.

    Parameters
    ----------
    previous
        The record before this load (:func:`read_refused`).
    refused
        Every file this load refused.
    targets
        The ``<vendor>/<entity>`` targets of a ``--only`` load; ``None`` for a full load, which
        replaces every row (unclaimed files included). A ``--only`` load keeps the other
        targets' rows and the unclaimed ones, except for files it looked at itself.
    looked_at
        Every vendor file (relative path) this load saw for its targets: a file refused earlier
        and landed (or refused anew) now leaves its old row.
    refused_at
        This load's clock, UTC; a file refused again with the same bytes and reason keeps its
        earlier ``refused_at``.

    Returns
    -------
    polars.DataFrame
        Columns :data:`REFUSED`, one row per file, sorted by file, layout and reason.
    """
    new = refused_frame(refused, refused_at)
    if targets is None:
        kept = previous.clear()
    else:
        row_target = pl.col("vendor") + "/" + pl.col("entity")
        out_of_scope = row_target.is_null() | ~row_target.is_in(sorted(targets))
        gone = sorted(looked_at | set(new["source_file"].to_list()))
        kept = previous.filter(out_of_scope & ~pl.col("source_file").is_in(gone))
    # unchanged refusals keep the time they were first refused
    same = ["source_file", "reason", "layout", "source_sha256"]
    earlier = previous.select(*same, pl.col("refused_at").alias("first_refused_at")).unique(
        subset=same, keep="first"
    )
    new = (
        new.join(earlier, on=same, how="left", nulls_equal=True)
        .with_columns(pl.coalesce("first_refused_at", "refused_at").alias("refused_at"))
        .select(list(REFUSED))
    )
    return pl.concat([kept.select(list(REFUSED)), new]).sort(_SORT, nulls_last=True)


def is_strict(flag: bool = False) -> bool:
    """``--strict`` given, or the environment variable ``STRICT`` set to a true value
    (``1``, ``true``, ``yes``, ``on``; ``0``, ``false``, empty and unset are false)."""
    return flag or os.environ.get("STRICT", "").strip().lower() in {"1", "true", "yes", "on"}


def render_refused(refused: pl.DataFrame, raw_dir: Path) -> str:
    """The loud summary of refused files: a banner, then one line per file with its reason.

    Every name and reason is escaped, so a file name cannot forge a line. Empty string when
    nothing was refused.
    """
    if refused.is_empty():
        return ""
    rule = "!" * 78
    lines = [
        rule,
        f"REFUSED {refused.height} file(s): nothing of them landed; "
        f"see {printable(raw_dir / REFUSED_FILE)}",
    ]
    for row in refused.sort(_SORT, nulls_last=True).iter_rows(named=True):
        layout = row["layout"] or "no layout"
        lines.append(
            f"  {printable(row['source_file'])} [{printable(layout)}]: {printable(row['reason'])}"
        )
    lines.append(rule)
    return "\n".join(lines)
