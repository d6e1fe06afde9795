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
- A file that cannot be read is reported by name (and line) and the other files land.
- A file with a header and no rows lands as an empty batch (nothing is lost: the manifest
  lists it) and the report warns about it by name (``empty_files``).
- ``rows_in == rows_landed + rows_rejected`` for every batch.
- File names are data: every log line, progress line and report escapes their control
  characters (:func:`loaders.printable.printable`), so a name cannot forge a line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl

from loaders import schemas
from loaders.printable import printable
from loaders.validation import as_issue_rows, validate
from loaders.vendor import (
    DATA_SUFFIXES,
    FORMATS,
    IGNORED,
    VendorFileError,
    VendorFormat,
    complete_option_quotes,
    empty_rejects,
    parse_file,
)

#: Bump when a parser or a rule changes what lands: every file is then landed again.
#: 3: every option quote carries ``quoted_at`` (its layout's quote time, loaders/vendor.py).
LOADER_VERSION = "3"

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

    ``file_errors`` are the files that could not be landed (one message each, names escaped);
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
    empty_files: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
    frame.write_parquet(tmp, statistics=True)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    digest = sha256_file(tmp)
    os.replace(tmp, path)
    return digest


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

    Documentation (``README.md``, ``SHA256SUMS``, ``LICENSES/``) and dotfiles are skipped. Every
    other file must be a ``.csv``/``.csv.gz`` claimed by one layout; a symlink must resolve inside
    one of ``allowed_roots`` (symlinked folders are not followed). Refused files are listed in
    ``errors``, each message naming the file (escaped) and the reason; they never stop the
    other files.
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
            if not name.endswith(DATA_SUFFIXES):
                suffix = "".join(Path(name).suffixes) or "(none)"
                refuse(rel, f"unknown extension {suffix!r}; vendor files are .csv or .csv.gz")
                continue
            owners = [f for f in formats if f.claims(rel)]
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


def _landed_keys(raw_dir: Path, entity: str, files: list[str]) -> pl.DataFrame:
    key = list(schemas.ENTITY_KEYS[entity])
    if not files:
        return pl.DataFrame(schema={k: schemas.ENTITY_SCHEMAS[entity][k] for k in key})
    return pl.concat([pl.read_parquet(raw_dir / f, columns=key) for f in files]).unique()


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
    seen = _landed_keys(raw_dir, entity, keep["landed_file"].to_list())
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
    for batch in new:
        load_id = batch.load_id
        mine = pl.col("load_id") == load_id
        batch_rows = landed.filter(mine)
        batch_rejects = rejects.filter(mine)
        batch_warnings = warnings.filter(mine)
        landed_file = f"{vendor}/{entity}/{load_id}.parquet"
        digest = write_parquet_atomically(batch_rows, raw_dir / landed_file)
        write_parquet_atomically(
            batch_rejects, raw_dir / "_rejects" / vendor / entity / f"{load_id}.parquet"
        )
        write_parquet_atomically(
            batch_warnings, raw_dir / "_warnings" / vendor / entity / f"{load_id}.parquet"
        )
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
    _write_report(raw_dir, report, outcome.suite_result)
    return report


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
    payload = {**report.__dict__, "rows_per_second": report.rows_per_second, "suite_result": suite}
    write_text_atomically(json.dumps(payload, indent=2, default=str), stem.with_suffix(".json"))
    write_text_atomically(render_suite_markdown(report, suite), stem.with_suffix(".md"))


def parse_batches(
    fmt: VendorFormat,
    paths: list[Path],
    vendor_dir: Path,
    report: LoadReport,
    progress: Callable[[str, int, int, int, float], None] | None = None,
) -> list[Batch]:
    """Parse each file of one layout into a :class:`Batch`; unreadable files go to the report.

    ``progress(target, files_done, files_total, rows_so_far, seconds)`` is called per file.
    """
    batches = []
    started = time.perf_counter()
    rows_so_far = 0
    target = f"{fmt.vendor}/{fmt.entity}"
    for done, path in enumerate(paths, start=1):
        rel = path.relative_to(vendor_dir).as_posix()
        try:
            rows, bad = parse_file(fmt, path, vendor_dir)
        except VendorFileError as exc:
            report.file_errors.append(str(exc))
            continue
        batches.append(
            Batch(
                fmt.vendor,
                fmt.entity,
                fmt.source,
                rel,
                sha256_file(path),
                path.stat().st_size,
                rows,
                bad,
            )
        )
        rows_so_far += rows.height + bad.height
        if progress:
            progress(target, done, len(paths), rows_so_far, time.perf_counter() - started)
    return batches


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
    raw_dir.mkdir(parents=True, exist_ok=True)
    for note in recover(raw_dir):
        print(f"recovered: {printable(note)}", file=sys.stderr)
    discovery = discover(vendor_dir, allowed_roots or [vendor_dir])
    landed = _known_batches(raw_dir)
    reports = []
    for (vendor, entity), formats in targets.items():
        if only and f"{vendor}/{entity}" not in only:
            continue
        report = LoadReport(vendor, entity)
        report.file_errors += [
            message for rel, message in discovery.errors if any(f.claims(rel) for f in formats)
        ]
        batches: list[Batch] = []
        for fmt in formats:
            paths = discovery.files.get(fmt.source, [])
            report.files += len(paths)
            # Unchanged files are not even parsed: their checksum is in the manifest.
            todo = []
            for path in paths:
                rel = path.relative_to(vendor_dir).as_posix()
                if landed.get((fmt.source, rel)) == sha256_file(path):
                    report.files_unchanged += 1
                else:
                    todo.append(path)
            batches += parse_batches(fmt, todo, vendor_dir, report, file_progress)
        land_batches(vendor, entity, batches, raw_dir, report=report, now=now)
        if progress:
            progress(report)
        reports.append(report)
    unassigned = [
        message for rel, message in discovery.errors if not any(f.claims(rel) for f in FORMATS)
    ]
    if unassigned:
        reports.append(LoadReport("vendor", "unclaimed", file_errors=unassigned))
        if progress:
            progress(reports[-1])
    return reports


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
