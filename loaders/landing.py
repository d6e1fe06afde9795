"""Land parsed, validated batches as parquet under ``warehouse/raw/``: idempotent, incremental,
nothing lost, never a partial batch.

A *batch* is what one source delivered at once: one vendor file, or one live fetch. Its
``load_id`` is a hash of the loader version, the layout, the file's path and the SHA-256 of its
bytes, so the same file always gives the same batch, and the same inputs the same tables.

Layout of ``raw/`` (what dbt's sources read)::

    <vendor>/<entity>/<load_id>.parquet           rows that passed (dbt reads <vendor>/<entity>/*)
    _rejects/<vendor>/<entity>/<load_id>.parquet  rows that failed, with rule, file and line
    _warnings/<vendor>/<entity>/<load_id>.parquet landed rows that broke a warning rule
    _manifest.parquet                             one row per batch (load id, file checksum,
                                                  rows in/landed/rejected/warned, landed file's
                                                  checksum, loaded_at, superseded_by)
    _rule_counts.parquet                          failing rows per batch per rule and severity
    _refused.parquet                              one row per vendor file the latest load
                                                  refused (unclaimed, unreadable), with why
                                                  (loaders/refused.py); always written
    _reports/<vendor>__<entity>.json | .md        the last run's report and great-expectations'
                                                  result, machine- and human-readable
    _superseded/...                               batches replaced by a corrected file (kept)

Discipline:

- Loading the same files again lands nothing and rewrites nothing (same rows, same checksums);
  a new file adds one batch; a file whose bytes changed supersedes its earlier batch, which is
  moved to ``_superseded/`` rather than deleted.
- Every file is written under a temporary name and renamed; the manifest is rewritten last. A
  run killed at any point leaves only whole batches; the next run removes temporary files,
  re-lands any batch the manifest does not list (same load id, same bytes) and moves batch files
  that no manifest entry claims to ``_orphans/``.
- A file that cannot be read, or that no layout claims, is reported by name (and line),
  recorded in ``_refused.parquet``, and the other files land; so do the other targets when
  landing one target fails unexpectedly (its new files are recorded as refused).
- A file with a header and no rows lands as an empty batch (nothing is lost: the manifest
  lists it) and the report warns about it by name (``empty_files``).
- ``rows_in == rows_landed + rows_rejected`` for every batch.
- Memory is bounded by the size of a group, not of a delivery: the files of one target are
  parsed, validated and landed in groups of about :data:`LANDING_GROUP_ROWS` rows (a key
  repeated in a later group is rejected as already landed, as it is across runs).
- File names are data: every log line, progress line and report escapes their control
  characters (:func:`loaders.printable.printable`), so a name cannot forge a line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl

from loaders import schemas
from loaders.layouts import all_formats
from loaders.printable import printable
from loaders.refused import REFUSED_FILE, RefusedFile, merge_refused, read_refused, reason_of
from loaders.validation import as_issue_rows, validate
from loaders.vendor import (
    DATA_SUFFIXES,
    FORMATS,
    IGNORED,
    VendorFileError,
    VendorFormat,
    complete_option_quotes,
    empty_rejects,
    read_text,
    type_text,
)

#: Bump when a parser or a rule changes what lands: every file is then landed again.
#: 3: every option quote carries ``quoted_at`` (its layout's quote time, loaders/vendor.py).
#: 4: option quotes carry the normalised expiration (vendor_expiration kept), the specs' underlying
#: (vendor_underlying_symbol kept), one contract_symbol per contract whatever the vendor's
#: convention, and the standard/adjusted-contract flag; wide and YAML-declared layouts.
LOADER_VERSION = "4"

MANIFEST: dict[str, pl.DataType] = {
    "load_id": pl.String(),
    "vendor": pl.String(),
    "entity": pl.String(),
    "source": pl.String(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "source_bytes": pl.Int64(),
    "rows_in": pl.Int64(),
    "rows_landed": pl.Int64(),
    "rows_rejected": pl.Int64(),
    "rows_warned": pl.Int64(),
    "landed_file": pl.String(),
    "landed_sha256": pl.String(),
    "loaded_at": pl.Datetime("us", "UTC"),
    "loader_version": pl.String(),
    "superseded_by": pl.String(),
}
#: What the report says of a file with a header and no rows.
EMPTY_FILE_WARNING = "header only, no rows; landed as an empty batch (0 rows)"

RULE_COUNTS: dict[str, pl.DataType] = {
    "load_id": pl.String(),
    "vendor": pl.String(),
    "entity": pl.String(),
    "rule": pl.String(),
    "severity": pl.String(),
    "rows": pl.Int64(),
}


@dataclass
class LoadReport:
    """What one (vendor, entity) landing did in one run; counts are rows of *new* batches.

    ``file_errors`` are the files that could not be landed (one message each, names escaped),
    ``refused`` the same files as records (written to ``raw/_refused.parquet``);
    ``empty_files`` the new files that had a header and no rows, landed as empty batches.
    """

    vendor: str
    entity: str
    files: int = 0
    files_new: int = 0
    files_unchanged: int = 0
    files_superseded: int = 0
    rows_in: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    rows_warned: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    warned_by_rule: dict[str, int] = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: great-expectations' result over every group landed in this run (:func:`merge_suites`)
    suite_result: dict = field(default_factory=dict, repr=False)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        text = (
            f"{self.vendor}/{self.entity}: {self.files} files ({self.files_new} new, "
            f"{self.files_unchanged} unchanged), {self.rows_in:,} rows in, "
            f"{self.rows_landed:,} landed, {self.rows_rejected:,} rejected, "
            f"{self.rows_warned:,} warnings "
            f"({self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s)"
        )
        for name in self.empty_files:
            text += f"\n  WARNING {printable(name)}: {EMPTY_FILE_WARNING}"
        for error in self.file_errors:
            text += f"\n  ERROR {printable(error)}"
        return text


@dataclass(frozen=True)
class Batch:
    """One source delivery to land: parsed rows, parse rejects and where they came from."""

    vendor: str
    entity: str
    source: str
    source_file: str
    source_sha256: str
    source_bytes: int
    rows: pl.DataFrame
    parse_rejects: pl.DataFrame

    @property
    def load_id(self) -> str:
        return batch_load_id(self.source, self.source_file, self.source_sha256)


def batch_load_id(source: str, source_file: str, source_sha256: str) -> str:
    """Deterministic id of a batch: 16 hex digits of SHA-256 over version, layout, path, bytes."""
    key = f"{LOADER_VERSION}|{source}|{source_file}|{source_sha256}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- atomic writes


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> str:
    """Write under a temporary name, fsync, rename; return the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    buffer = io.BytesIO()  # hashed in memory: the file is not read back
    frame.write_parquet(buffer, statistics=True)
    data = buffer.getvalue()
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def write_text_atomically(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Discovery:
    """Files found under the vendor directory, by layout, and the ones refused (with why).

    ``errors`` holds ``(relative path, message)``: the message starts with the path, escaped
    (:func:`loaders.printable.printable`); the path itself is kept as is, to find its layout.
    """

    files: dict[str, list[Path]]  # layout source -> files
    errors: list[tuple[str, str]]


def _ignored(relative: str) -> bool:
    path = PurePosixPath(relative)
    return any(path.match(p) for p in IGNORED) or any(part.startswith(".") for part in path.parts)


def discover(
    vendor_dir: Path, allowed_roots: Iterable[Path], formats: Iterable[VendorFormat] = FORMATS
) -> Discovery:
    """Assign every file under ``vendor_dir`` to exactly one layout.

    Documentation (``README.md``, ``SHA256SUMS``, ``LICENSES/``), layout files (``layouts/``)
    and dotfiles are skipped. Every other file must be claimed by exactly one layout (a file no
    layout claims is named for its extension when it is not ``.csv``/``.csv.gz``); a symlink
    must resolve inside one of ``allowed_roots`` (symlinked folders are not followed). Refused
    files are listed in ``errors``, each message naming the file (escaped) and the reason; they
    never stop the other files.
    """
    formats = list(formats)
    roots = [r.resolve() for r in allowed_roots]
    found: dict[str, list[Path]] = {}
    errors: list[tuple[str, str]] = []

    def refuse(rel: str, reason: str) -> None:
        errors.append((rel, f"{printable(rel)}: {printable(reason)}"))

    for dirpath, dirnames, filenames in os.walk(vendor_dir, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                rel = (base / name).relative_to(vendor_dir).as_posix()
                target = (base / name).resolve()
                if not any(target.is_relative_to(r) for r in roots):
                    refuse(
                        rel,
                        f"symlinked folder points outside the allowed folders ({target}); not read",
                    )
                else:
                    refuse(rel, "symlinked folder not followed; link the files instead")
        dirnames[:] = sorted(d for d in dirnames if not (base / d).is_symlink())
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(vendor_dir).as_posix()
            if _ignored(rel):
                continue
            resolved = path.resolve()
            if not any(resolved.is_relative_to(r) for r in roots):
                refuse(rel, f"resolves outside the allowed folders ({resolved}); not read")
                continue
            if not resolved.is_file():
                refuse(rel, "not a regular file; not read")
                continue
            owners = [f for f in formats if f.claims(rel)]
            if not owners and not name.endswith(DATA_SUFFIXES):
                suffix = "".join(Path(name).suffixes) or "(none)"
                refuse(
                    rel,
                    f"unknown extension {suffix!r}; vendor files are .csv or .csv.gz, or what a "
                    "declared layout's patterns claim (e.g. OptionsDX .txt)",
                )
                continue
            if len(owners) != 1:
                reason = (
                    "no vendor layout claims it (see `python -m loaders formats`)"
                    if not owners
                    else f"claimed by several layouts {[f.source for f in owners]}"
                )
                refuse(rel, reason)
                continue
            found.setdefault(owners[0].source, []).append(path)
    return Discovery(found, errors)


# ---------------------------------------------------------------------------- manifest


def read_manifest(raw_dir: Path) -> pl.DataFrame:
    path = raw_dir / "_manifest.parquet"
    return pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=MANIFEST)


def _read_rule_counts(raw_dir: Path) -> pl.DataFrame:
    path = raw_dir / "_rule_counts.parquet"
    return pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=RULE_COUNTS)


def _write_state(raw_dir: Path, manifest: pl.DataFrame, rule_counts: pl.DataFrame) -> None:
    # Sorted, so the files depend only on their content, never on the order of arrival.
    write_parquet_atomically(
        manifest.sort("vendor", "entity", "source_file", "load_id"), raw_dir / "_manifest.parquet"
    )
    write_parquet_atomically(
        rule_counts.sort("load_id", "severity", "rule"), raw_dir / "_rule_counts.parquet"
    )


def recover(raw_dir: Path) -> list[str]:
    """Clean up after a run that died: remove temporary files, move unlisted batch files aside.

    Returns what was done, one line per file, for the run's log.
    """
    notes: list[str] = []
    if not raw_dir.exists():
        return notes
    for tmp in raw_dir.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        name = printable(tmp.relative_to(raw_dir))
        notes.append(f"removed temporary file {name} of an interrupted run")
    manifest = read_manifest(raw_dir)
    listed = set(manifest.filter(pl.col("superseded_by").is_null())["landed_file"].to_list())
    for path in sorted(raw_dir.glob("*/*/*.parquet")):
        rel = path.relative_to(raw_dir).as_posix()
        if rel.startswith("_") or rel in listed:
            continue
        target = raw_dir / "_orphans" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        notes.append(f"moved {printable(rel)} (not in the manifest) to _orphans/")
    return notes


# ---------------------------------------------------------------------------- landing


def _landed_keys(
    raw_dir: Path, entity: str, files: list[str], new_rows: pl.DataFrame
) -> pl.DataFrame:
    """The keys of the landed ``files`` that could collide with ``new_rows``.

    Only keys sharing a value of the new rows' date key (``quote_date``, ``date``...) are read,
    with the filter pushed into the parquet scan: a load landed in groups of files
    (:data:`LANDING_GROUP_ROWS`) reads the earlier groups' keys of its own days, not every
    key landed so far (23 M keys at 30x the real chain).
    """
    key = list(schemas.ENTITY_KEYS[entity])
    schema = schemas.ENTITY_SCHEMAS[entity]
    if not files or new_rows.is_empty():
        return pl.DataFrame(schema={k: schema[k] for k in key})
    scan = pl.scan_parquet([raw_dir / f for f in files]).select(key)
    dated = [k for k in key if schema[k] == pl.Date()]
    if dated:
        days = new_rows.get_column(dated[0]).unique()
        scan = scan.filter(pl.col(dated[0]).is_in(days.implode()))
    return scan.unique().collect()


#: Threads writing a run's batch files (polars' writer, fsync and SHA-256 release the GIL).
_WRITERS = 4


def _split_by_load_id(frame: pl.DataFrame) -> Callable[[str], pl.DataFrame]:
    """``load_id -> its rows`` (frame order kept; no rows: an empty frame of the same schema)."""
    parts = frame.partition_by("load_id", maintain_order=True, as_dict=True)
    empty = frame.clear()
    return lambda load_id: parts.get((load_id,), empty)


def _write_batch_files(
    load_ids: list[str],
    raw_dir: Path,
    vendor: str,
    entity: str,
    *split: Callable[[str], pl.DataFrame],
) -> dict[str, str]:
    """Write each batch's landed rows, rejects and warnings (``split`` in that order), each
    atomically; return each batch's landed file's SHA-256. Every write is waited for, and the
    first that failed raises."""
    folders = ("", "_rejects/", "_warnings/")
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        futures = {
            (load_id, folder): pool.submit(
                write_parquet_atomically,
                rows_of(load_id),
                raw_dir / f"{folder}{vendor}/{entity}/{load_id}.parquet",
            )
            for load_id in load_ids
            for folder, rows_of in zip(folders, split, strict=True)
        }
    written = {key: future.result() for key, future in futures.items()}  # raises the first error
    return {load_id: written[load_id, ""] for load_id in load_ids}


def land_batches(
    vendor: str,
    entity: str,
    batches: list[Batch],
    raw_dir: Path,
    *,
    report: LoadReport | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> LoadReport:
    """Validate and land new batches of one (vendor, entity); skip the ones already landed.

    Parameters
    ----------
    batches
        Parsed deliveries; their rows have the entity's canonical schema (``load_id`` may be
        null: it is filled here).
    report
        Report to add to (file counts of the caller's discovery are kept).
    now
        Clock for ``loaded_at`` (UTC); tests pass a fixed one.

    Returns
    -------
    LoadReport
        Counts of the new batches only. ``rows_in == rows_landed + rows_rejected``.
    """
    started = time.perf_counter()
    report = report or LoadReport(vendor, entity)
    now = now or (lambda: dt.datetime.now(dt.UTC))
    manifest = read_manifest(raw_dir)
    rule_counts = _read_rule_counts(raw_dir)
    active = manifest.filter(pl.col("superseded_by").is_null())
    landed_ids = set(active["load_id"].to_list())

    new = []
    for batch in batches:
        landed_file = f"{vendor}/{entity}/{batch.load_id}.parquet"
        if batch.load_id in landed_ids and (raw_dir / landed_file).exists():
            report.files_unchanged += 1
        else:
            new.append(batch)
    if not new:
        report.seconds += time.perf_counter() - started
        return report

    new_ids = {b.load_id for b in new}
    # A file whose bytes changed supersedes its earlier batch (same layout, same path).
    replaced = active.filter(
        (pl.col("vendor") == vendor)
        & (pl.col("entity") == entity)
        & pl.col("source_file").is_in([b.source_file for b in new])
        & ~pl.col("load_id").is_in(list(new_ids))
    )
    keep = active.filter(
        (pl.col("vendor") == vendor)
        & (pl.col("entity") == entity)
        & ~pl.col("load_id").is_in(replaced["load_id"].to_list())
        & ~pl.col("load_id").is_in(list(new_ids))
    )
    schema = schemas.ENTITY_SCHEMAS[entity]
    rows = pl.concat(
        [b.rows.with_columns(pl.lit(b.load_id).alias("load_id")).select(list(schema)) for b in new]
    )
    parse_rejects = pl.concat(
        [b.parse_rejects.with_columns(pl.lit(b.load_id).alias("load_id")) for b in new]
    )

    outcome = validate(entity, rows)
    # Keys already landed by another batch: the earlier batch stands, the repeat is rejected.
    key = list(schemas.ENTITY_KEYS[entity])
    seen = _landed_keys(raw_dir, entity, keep["landed_file"].to_list(), outcome.landed)
    if seen.is_empty():  # nothing landed before (a first load): no join over every row
        repeated, landed = outcome.landed.clear(), outcome.landed
    else:
        repeated = outcome.landed.join(seen, on=key, how="semi", nulls_equal=True)
        landed = outcome.landed.join(seen, on=key, how="anti", nulls_equal=True)
    repeat_rejects = repeated.with_columns(
        pl.lit(f"key_already_landed:{','.join(key)}").alias("rule"),
        pl.lit("error").alias("severity"),
    )
    rejects = pl.concat([parse_rejects, outcome.rejects, as_issue_rows(entity, repeat_rejects)])
    warnings = outcome.warnings.join(
        repeated.select("source_file", "source_line"), on=["source_file", "source_line"], how="anti"
    )

    loaded_at = now()
    manifest_rows, count_rows = [], []
    # One pass splits each frame by batch (a filter per batch rescanned it for every batch).
    rows_of, rejects_of, warnings_of = map(_split_by_load_id, (landed, rejects, warnings))
    digests = _write_batch_files(
        [b.load_id for b in new], raw_dir, vendor, entity, rows_of, rejects_of, warnings_of
    )
    for batch in new:
        load_id = batch.load_id
        batch_rows = rows_of(load_id)
        batch_rejects = rejects_of(load_id)
        batch_warnings = warnings_of(load_id)
        landed_file = f"{vendor}/{entity}/{load_id}.parquet"
        digest = digests[load_id]
        rows_in = batch.rows.height + batch.parse_rejects.height
        if rows_in != batch_rows.height + batch_rejects.height:  # never lose a row
            raise RuntimeError(
                f"{printable(batch.source_file)}: {rows_in} rows in but {batch_rows.height} "
                f"landed + {batch_rejects.height} rejected"
            )
        if rows_in == 0:  # a header and no rows: lands (the manifest lists it), with a warning
            report.empty_files.append(batch.source_file)
        manifest_rows.append(
            {
                "load_id": load_id,
                "vendor": vendor,
                "entity": entity,
                "source": batch.source,
                "source_file": batch.source_file,
                "source_sha256": batch.source_sha256,
                "source_bytes": batch.source_bytes,
                "rows_in": rows_in,
                "rows_landed": batch_rows.height,
                "rows_rejected": batch_rejects.height,
                "rows_warned": batch_warnings.height,
                "landed_file": landed_file,
                "landed_sha256": digest,
                "loaded_at": loaded_at,
                "loader_version": LOADER_VERSION,
                "superseded_by": None,
            }
        )
        for issues in (batch_rejects, batch_warnings):
            for rule, severity, n in issues.group_by("rule", "severity").len().iter_rows():
                count_rows.append(
                    {
                        "load_id": load_id,
                        "vendor": vendor,
                        "entity": entity,
                        "rule": rule,
                        "severity": severity,
                        "rows": n,
                    }
                )
        report.load_ids.append(load_id)
        report.files_new += 1
        report.rows_in += rows_in
        report.rows_landed += batch_rows.height
        report.rows_rejected += batch_rejects.height
        report.rows_warned += batch_warnings.height

    # Move superseded batches aside (kept, never deleted) and mark them in the manifest.
    superseded_by = {}
    for old in replaced.iter_rows(named=True):
        successor = next(b.load_id for b in new if b.source_file == old["source_file"])
        superseded_by[old["load_id"]] = successor
        for folder in ("", "_rejects/", "_warnings/"):
            src = raw_dir / f"{folder}{old['vendor']}/{old['entity']}/{old['load_id']}.parquet"
            if src.exists():
                dst = (
                    raw_dir / "_superseded" / f"{folder}{old['vendor']}/{old['entity']}" / src.name
                )
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        report.files_superseded += 1
    manifest = manifest.filter(~pl.col("load_id").is_in(list(new_ids))).with_columns(
        pl.col("load_id")
        .replace_strict(superseded_by, default=None, return_dtype=pl.String)
        .fill_null(pl.col("superseded_by"))
        .alias("superseded_by")
    )
    manifest = pl.concat([manifest, pl.DataFrame(manifest_rows, schema=MANIFEST)])
    rule_counts = pl.concat(
        [
            rule_counts.filter(~pl.col("load_id").is_in(list(new_ids))),
            pl.DataFrame(count_rows, schema=RULE_COUNTS),
        ]
    )
    _write_state(raw_dir, manifest, rule_counts)

    for issues, by_rule in ((rejects, report.rejected_by_rule), (warnings, report.warned_by_rule)):
        for rule, n in issues.group_by("rule").len().sort("rule").iter_rows():
            by_rule[rule] = by_rule.get(rule, 0) + n
    report.seconds += time.perf_counter() - started
    report.suite_result = merge_suites(report.suite_result, outcome.suite_result)
    _write_report(raw_dir, report, report.suite_result)
    return report


def merge_suites(first: dict, second: dict) -> dict:
    """One great-expectations suite result (``describe_dict`` form) for two groups of rows
    validated by the same suite: success only if both succeeded; per expectation, row counts
    summed, the failing share recomputed over the rows, the first examples kept.

    An empty ``first`` (no group validated yet) returns ``second``.
    """
    if not first:
        return second
    merged = {**second, "success": bool(first.get("success")) and bool(second.get("success"))}
    expectations = []
    pairs = zip(first.get("expectations", []), second.get("expectations", []), strict=True)
    for a, b in pairs:
        ra, rb = a.get("result", {}), b.get("result", {})
        result = {**rb}
        for count in ("element_count", "unexpected_count", "missing_count"):
            if count in ra or count in rb:
                result[count] = int(ra.get(count) or 0) + int(rb.get(count) or 0)
        if "unexpected_percent" in result:
            judged = result.get("element_count", 0) - result.get("missing_count", 0)
            result["unexpected_percent"] = (
                100.0 * result.get("unexpected_count", 0) / judged if judged else 0.0
            )
        examples = (ra.get("partial_unexpected_list") or []) + (
            rb.get("partial_unexpected_list") or []
        )
        if examples:
            result["partial_unexpected_list"] = examples[:3]
        expectations.append(
            {**b, "success": bool(a.get("success")) and bool(b.get("success")), "result": result}
        )
    merged["expectations"] = expectations
    if "statistics" in merged:
        passed = sum(1 for e in expectations if e["success"])
        merged["statistics"] = {
            **merged["statistics"],
            "successful_expectations": passed,
            "unsuccessful_expectations": len(expectations) - passed,
            "success_percent": 100.0 * passed / len(expectations) if expectations else None,
        }
    return merged


def _strip_row_lists(suite_result: dict) -> dict:
    """Keep the report small: counts and a few examples, not every failing row (those are in the
    rejects and warnings files)."""
    for expectation in suite_result.get("expectations", []):
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            expectation.get("result", {}).pop(key, None)
    return suite_result


def render_suite_markdown(report: LoadReport, suite_result: dict) -> str:
    """The great-expectations result as a human-readable Markdown table."""
    lines = [
        f"# Landing validation: {report.vendor}/{report.entity}",
        "",
        f"{report.files_new} new file(s), {report.rows_in:,} rows in, {report.rows_landed:,} "
        f"landed, {report.rows_rejected:,} rejected, {report.rows_warned:,} flagged with a "
        f"warning. Suite success: {suite_result.get('success')}.",
        "",
        "| expectation | severity | success | failing rows | failing % | examples |",
        "|---|---|---|---:|---:|---|",
    ]
    for exp in suite_result.get("expectations", []):
        kwargs = exp.get("kwargs", {})
        columns = (
            kwargs.get("column")
            or kwargs.get("column_list")
            or [
                kwargs.get("column_A"),
                kwargs.get("column_B"),
            ]
        )
        result = exp.get("result", {})
        examples = result.get("partial_unexpected_list") or []
        lines.append(
            f"| `{exp.get('expectation_type')}` {columns} | {exp.get('severity', 'critical')} | "
            f"{'yes' if exp.get('success') else '**no**'} | "
            f"{result.get('unexpected_count', 0):,} | "
            f"{float(result.get('unexpected_percent') or 0):.3f} | "
            f"{', '.join(printable(x) for x in examples[:3])} |"
        )
    for rule, n in sorted({**report.rejected_by_rule}.items()):
        if rule.startswith(("unparseable:", "key_already_landed:")):
            lines.append(f"| `{rule}` | critical | **no** | {n:,} | | |")
    if report.empty_files:
        lines += ["", "## Files with a header and no rows (landed as empty batches)", ""]
        lines += [
            f"- WARNING {printable(name)}: {EMPTY_FILE_WARNING}" for name in report.empty_files
        ]
    if report.file_errors:
        lines += ["", "## Files that could not be read", ""]
        lines += [f"- {printable(e)}" for e in report.file_errors]
    return "\n".join(lines) + "\n"


def _write_report(raw_dir: Path, report: LoadReport, suite_result: dict) -> None:
    stem = raw_dir / "_reports" / f"{report.vendor}__{report.entity}"
    suite = _strip_row_lists(suite_result)
    payload = {
        **{k: v for k, v in report.__dict__.items() if k != "suite_result"},
        "refused": [asdict(r) for r in report.refused],
        "rows_per_second": report.rows_per_second,
        "suite_result": suite,
    }
    write_text_atomically(json.dumps(payload, indent=2, default=str), stem.with_suffix(".json"))
    write_text_atomically(render_suite_markdown(report, suite), stem.with_suffix(".md"))


def _identity(path: Path, roots: Iterable[Path] | None = None) -> tuple[str | None, int | None]:
    """SHA-256 and size of a regular file (inside ``roots`` when given); ``(None, None)`` for
    anything else or an unreadable file (a file outside the allowed folders is never read, not
    even to checksum it)."""
    try:
        resolved = path.resolve()
        inside = roots is None or any(resolved.is_relative_to(r.resolve()) for r in roots)
        if not inside or not resolved.is_file():
            return None, None
        return sha256_file(path), path.stat().st_size
    except OSError:
        return None, None


#: Files read at once: polars releases the GIL, so two reads overlap one's Python with the
#: other's kernels.
_READERS = min(2, os.cpu_count() or 1)


#: Rows parsed before a group of files is validated and landed (a file is never split). At
#: ~1.4 KB of peak memory per chain row this bounds a load near 3 GB whatever its size; the
#: 30x pipeline benchmark (23 M chain rows in 1,680 files) is the case it exists for.
LANDING_GROUP_ROWS = 2_000_000


def _read_ahead(
    fmt: VendorFormat, paths: list[Path], vendor_dir: Path
) -> Iterator[Future[pl.DataFrame]]:
    """:func:`loaders.vendor.read_text` of each path, in order, run by :data:`_READERS` threads
    at most ``2 * _READERS`` files ahead of the consumer (a slow consumer never has every file
    of a large delivery read into memory); a file that cannot be read raises from its future's
    ``result()``."""
    pool = ThreadPoolExecutor(max_workers=_READERS)
    remaining = iter(paths)
    try:
        pending = deque(
            pool.submit(read_text, fmt, path, vendor_dir)
            for path in itertools.islice(remaining, 2 * _READERS)
        )
        while pending:
            future = pending.popleft()
            following = next(remaining, None)
            if following is not None:
                pending.append(pool.submit(read_text, fmt, following, vendor_dir))
            yield future
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def parse_groups(
    fmt: VendorFormat,
    paths: list[Path],
    vendor_dir: Path,
    report: LoadReport,
    progress: Callable[[str, int, int, int, float], None] | None = None,
    digests: dict[Path, str] | None = None,
    group_rows: int | None = None,
) -> Iterator[list[Batch]]:
    """Parse the files of one layout into :class:`Batch` es, yielded in groups of whole files
    of about ``group_rows`` rows (default :data:`LANDING_GROUP_ROWS`); unreadable files go to
    the report (``file_errors`` and ``refused``).

    Each file is read as text on its own (:func:`loaders.vendor.read_text`: header, renames,
    lineage); the text of every file of one quote time in a group is then typed and completed
    at once (:func:`loaders.vendor.type_text`) and split back by file, which spares 56 small
    passes of the same expressions. ``progress(target, files_done, files_total, rows_so_far,
    seconds)`` is called per file read. ``digests`` are the SHA-256 of files the caller has
    already checksummed (not read again).

    Raises
    ------
    ValueError
        If ``group_rows`` is below 1.
    """
    group_rows = LANDING_GROUP_ROWS if group_rows is None else group_rows
    if group_rows < 1:
        raise ValueError(f"group_rows must be at least 1, got {group_rows}")
    digests = digests or {}
    started = time.perf_counter()
    rows_so_far = 0
    target = f"{fmt.vendor}/{fmt.entity}"
    read: list[tuple[Path, str, pl.DataFrame]] = []
    group_height = 0
    for done, (path, future) in enumerate(
        zip(paths, _read_ahead(fmt, paths, vendor_dir), strict=True), 1
    ):
        rel = path.relative_to(vendor_dir).as_posix()
        try:
            text = future.result()
        except VendorFileError as exc:
            report.file_errors.append(str(exc))
            report.refused.append(
                RefusedFile(
                    rel,
                    reason_of(str(exc), rel),
                    fmt.source,
                    fmt.vendor,
                    fmt.entity,
                    *_identity(path),
                )
            )
            continue
        read.append((path, rel, text))
        rows_so_far += text.height
        group_height += text.height
        if progress:
            progress(target, done, len(paths), rows_so_far, time.perf_counter() - started)
        if group_height >= group_rows:
            yield _typed_batches(fmt, read, digests)
            read, group_height = [], 0
    if read:
        yield _typed_batches(fmt, read, digests)


def _typed_batches(
    fmt: VendorFormat, read: list[tuple[Path, str, pl.DataFrame]], digests: dict[Path, str]
) -> list[Batch]:
    """Type the text of ``read`` files (path, relative name, text), one pass per quote time,
    and split it back into one :class:`Batch` per file."""
    by_quote_time: dict[str | None, list[pl.DataFrame]] = {}
    for _, rel, text in read:
        by_quote_time.setdefault(fmt.quote_time_of(rel), []).append(text)
    rows_of: dict[str, pl.DataFrame] = {}
    rejects_of: dict[str, pl.DataFrame] = {}
    empty_rows = pl.DataFrame(schema=schemas.ENTITY_SCHEMAS[fmt.entity])
    for quote_time, texts in by_quote_time.items():
        rows, rejects = type_text(fmt, pl.concat(texts, how="diagonal"), quote_time)
        for (rel,), part in rows.partition_by("source_file", as_dict=True).items():
            rows_of[rel] = part
        for (rel,), part in rejects.partition_by("source_file", as_dict=True).items():
            rejects_of[rel] = part
    return [
        Batch(
            fmt.vendor,
            fmt.entity,
            fmt.source,
            rel,
            digests.get(path) or sha256_file(path),
            path.stat().st_size,
            rows_of.get(rel, empty_rows),
            rejects_of.get(rel, empty_rejects()),
        )
        for path, rel, _ in read
    ]


def _known_batches(raw_dir: Path) -> dict[tuple[str, str], str]:
    """(source, source_file) -> source_sha256 of the landed, current batches of this loader
    version: a batch an earlier version landed is parsed again (new load id) and supersedes
    the old one, as :data:`LOADER_VERSION` promises."""
    manifest = read_manifest(raw_dir).filter(
        pl.col("superseded_by").is_null() & (pl.col("loader_version") == LOADER_VERSION)
    )
    return {
        (r["source"], r["source_file"]): r["source_sha256"]
        for r in manifest.iter_rows(named=True)
        if (raw_dir / r["landed_file"]).exists()
    }


def land_vendor_files(
    vendor_dir: Path,
    raw_dir: Path,
    *,
    only: set[str] | None = None,
    allowed_roots: Iterable[Path] | None = None,
    progress: Callable[[LoadReport], None] | None = None,
    file_progress: Callable[[str, int, int, int, float], None] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> list[LoadReport]:
    """Land every vendor file under ``vendor_dir`` that is not landed yet.

    A refused file (no layout claims it, it cannot be read) never stops the others, nor does a
    target whose landing raises (its new files are refused with the exception's message, the
    traceback goes to stderr; KeyboardInterrupt still stops the run). The refusals are in the
    reports (``file_errors``, ``refused``) and in ``raw/_refused.parquet``, rewritten at the end
    (:func:`loaders.refused.merge_refused`: a ``--only`` load replaces its targets' rows only).

    Parameters
    ----------
    only
        Restrict to these ``<vendor>/<entity>`` targets (e.g. ``{"cboe/option_quotes"}``).
    allowed_roots
        Folders files may resolve into (symlinks included); default ``[vendor_dir]``.
    progress
        Called with each target's report as soon as it has landed.
    file_progress
        Called per parsed file: ``(target, files_done, files_total, rows, seconds)``.
    now
        Clock (UTC) of ``loaded_at`` and ``refused_at``; tests pass a fixed one.

    Raises
    ------
    FileNotFoundError
        If ``vendor_dir`` does not exist.
    ValueError
        If ``only`` names an unknown target; the message lists the known ones.
    """
    if not vendor_dir.is_dir():
        raise FileNotFoundError(f"vendor directory not found: {vendor_dir}")
    # the built-in layouts and the user's own (<vendor dir>/layouts/*.yaml); a broken layout
    # file is refused like an unreadable data file and never stops the others
    every_format, layout_errors = all_formats(vendor_dir)
    targets: dict[tuple[str, str], list[VendorFormat]] = {}
    for fmt in every_format:
        targets.setdefault((fmt.vendor, fmt.entity), []).append(fmt)
    known = {f"{v}/{e}" for v, e in targets}
    if only and not only <= known:
        raise ValueError(f"unknown target(s) {sorted(only - known)}; known: {sorted(known)}")
    raw_dir.mkdir(parents=True, exist_ok=True)
    for note in recover(raw_dir):
        print(f"recovered: {printable(note)}", file=sys.stderr)
    roots = list(allowed_roots or [vendor_dir])
    discovery = discover(vendor_dir, roots, every_format)
    discovery.errors.extend(
        (rel, f"{printable(rel)}: {printable(message)}") for rel, message in layout_errors
    )
    refused_at_discovery = {
        rel: _refused_at_discovery(rel, message, vendor_dir, roots, every_format)
        for rel, message in discovery.errors
    }
    landed = _known_batches(raw_dir)
    reports = []
    looked_at: set[str] = set()
    for (vendor, entity), formats in targets.items():
        if only and f"{vendor}/{entity}" not in only:
            continue
        report = LoadReport(vendor, entity)
        for rel, message in discovery.errors:
            if any(f.claims(rel) for f in formats):
                report.file_errors.append(message)
                report.refused.append(refused_at_discovery[rel])
                looked_at.add(rel)
        paths = {f.source: discovery.files.get(f.source, []) for f in formats}
        looked_at |= {p.relative_to(vendor_dir).as_posix() for ps in paths.values() for p in ps}
        try:
            _land_target(
                vendor,
                entity,
                formats,
                paths,
                vendor_dir,
                raw_dir,
                report,
                landed,
                file_progress,
                now,
            )
        except Exception as exc:
            # One target's failure must not stop the others (issue 16); KeyboardInterrupt and
            # SystemExit are not Exceptions: they still stop the run.
            traceback.print_exc(file=sys.stderr)
            report = _target_failed(report, exc, paths, vendor_dir, raw_dir)
        if progress:
            progress(report)
        reports.append(report)
    # A --only load records its targets' refusals only; unclaimed files are recorded (and their
    # earlier rows replaced) by a full load.
    recorded = [r for report in reports for r in report.refused]
    unassigned = [
        (rel, message)
        for rel, message in discovery.errors
        if not any(f.claims(rel) for f in every_format)
    ]
    if unassigned:
        reports.append(
            LoadReport(
                "vendor",
                "unclaimed",
                file_errors=[message for _, message in unassigned],
                refused=[refused_at_discovery[rel] for rel, _ in unassigned],
            )
        )
        if progress:
            progress(reports[-1])
        if not only:
            recorded += reports[-1].refused
    _write_refused(
        raw_dir,
        recorded,
        targets=set(only) if only else None,
        looked_at=looked_at,
        refused_at=(now or (lambda: dt.datetime.now(dt.UTC)))(),
    )
    return reports


def _refused_at_discovery(
    rel: str, message: str, vendor_dir: Path, roots: list[Path], formats: Iterable[VendorFormat]
) -> RefusedFile:
    """The record of a file :func:`discover` refused: the layout(s) that claim it, if any."""
    owners = [f for f in formats if f.claims(rel)]
    targets = {(f.vendor, f.entity) for f in owners}
    vendor, entity = next(iter(targets)) if len(targets) == 1 else (None, None)
    return RefusedFile(
        rel,
        reason_of(message, rel),
        ",".join(sorted(f.source for f in owners)) or None,
        vendor,
        entity,
        *_identity(vendor_dir / rel, roots),
    )


def _land_target(
    vendor: str,
    entity: str,
    formats: list[VendorFormat],
    paths: dict[str, list[Path]],
    vendor_dir: Path,
    raw_dir: Path,
    report: LoadReport,
    landed: dict[tuple[str, str], str],
    file_progress: Callable[[str, int, int, int, float], None] | None,
    now: Callable[[], dt.datetime] | None,
) -> None:
    """Parse the new files of one (vendor, entity) and land them, a group of about
    :data:`LANDING_GROUP_ROWS` rows at a time; counts go to ``report``."""
    for fmt in formats:
        report.files += len(paths[fmt.source])
        # Unchanged files are not even parsed: their checksum is in the manifest.
        todo, digests = [], {}
        for path in paths[fmt.source]:
            rel = path.relative_to(vendor_dir).as_posix()
            digests[path] = sha256_file(path)  # once: parse_groups reuses it
            if landed.get((fmt.source, rel)) == digests[path]:
                report.files_unchanged += 1
            else:
                todo.append(path)
        for group in parse_groups(fmt, todo, vendor_dir, report, file_progress, digests):
            land_batches(vendor, entity, group, raw_dir, report=report, now=now)


def _target_failed(
    report: LoadReport,
    exc: Exception,
    paths: dict[str, list[Path]],
    vendor_dir: Path,
    raw_dir: Path,
) -> LoadReport:
    """The report of a target whose landing raised: every file of it that is not landed now
    (new or changed, not refused already) is refused with the exception's message."""
    reason = printable(
        f"landing {report.vendor}/{report.entity} failed ({type(exc).__name__}: {exc}); "
        "its files not landed before the failure are refused, see the traceback in the load's log"
    )
    failed = LoadReport(
        report.vendor,
        report.entity,
        files=sum(len(p) for p in paths.values()),
        file_errors=list(report.file_errors),
        refused=list(report.refused),
    )
    already = {r.source_file for r in failed.refused}
    landed = _known_batches(raw_dir)  # what is landed now, the batches of this run included
    for source, files in paths.items():
        for path in files:
            rel = path.relative_to(vendor_dir).as_posix()
            digest, size = _identity(path)
            if rel in already:
                continue
            if digest is not None and landed.get((source, rel)) == digest:
                failed.files_unchanged += 1
                continue
            failed.file_errors.append(f"{printable(rel)}: {reason}")
            failed.refused.append(
                RefusedFile(rel, reason, source, report.vendor, report.entity, digest, size)
            )
    return failed


def _write_refused(
    raw_dir: Path,
    refused: list[RefusedFile],
    *,
    targets: set[str] | None,
    looked_at: set[str],
    refused_at: dt.datetime,
) -> None:
    """Rewrite ``raw/_refused.parquet`` (see :func:`loaders.refused.merge_refused`); always
    written once, empty when nothing was refused, and left untouched when unchanged."""
    path = raw_dir / REFUSED_FILE
    previous = read_refused(raw_dir)
    record = merge_refused(
        previous, refused, targets=targets, looked_at=looked_at, refused_at=refused_at
    )
    if not path.exists() or not record.equals(previous):
        write_parquet_atomically(record, path)


def land_frames(
    vendor: str,
    entity: str,
    frame: pl.DataFrame,
    raw_dir: Path,
    *,
    now: Callable[[], dt.datetime] | None = None,
) -> LoadReport:
    """Land rows fetched live (not from a file) as batches, one per ``source_file`` value.

    The batch's checksum is the SHA-256 of its rows' canonical parquet bytes, so fetching the
    same rows twice lands them once. Option quotes are completed (OCC symbol, contract terms).
    """
    schema = schemas.ENTITY_SCHEMAS[entity]
    missing = [c for c in frame.columns if c not in schema]
    if missing:
        raise ValueError(f"columns {missing} are not in the {entity} schema")
    full = frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    )
    if entity == "option_quotes":
        full = complete_option_quotes(full)
    batches = []
    for (source, source_file), rows in full.group_by("source", "source_file", maintain_order=True):
        digest = hashlib.sha256(rows.drop("load_id").write_ipc(None).getvalue()).hexdigest()
        batches.append(
            Batch(
                vendor,
                entity,
                source,
                source_file,
                digest,
                rows.estimated_size(),
                rows,
                empty_rejects(),
            )
        )
    report = LoadReport(vendor, entity, files=len(batches))
    return land_batches(vendor, entity, batches, raw_dir, report=report, now=now)
