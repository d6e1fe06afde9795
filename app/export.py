"""Export of one saved run: a ZIP archive of its config (YAML) and its frames (CSV and Parquet).

Pure functions, no Streamlit and no database: :func:`app.queries.compare.run_export` reads the
run, :func:`run_archive` turns it into bytes (the Compare page's download button). The archive
is deterministic: the same run gives the same bytes (entries in a fixed order, a fixed entry
time of 1980-01-01 00:00, rows sorted by their keys), so two exports can be compared by hash.

Layout (``<run_id>/`` inside the archive)::

    README.txt            what each file is, the run's provenance, MODELED when it is
    config.yaml           the run's config as YAML (see :func:`config_yaml`)
    trades.csv  .parquet  backtest.trades of the run, one row per trade
    legs.csv    .parquet  backtest.legs, one row per trade per leg
    equity_daily.csv  .parquet   backtest.equity_daily, one row per session
    metrics.csv .parquet  backtest.metrics, one row

CSV: UTF-8, comma-separated, a header row, ISO dates, ``.`` decimals, empty cells for nulls
(RFC 4180 quoting). Parquet: the same columns with their types (Apache Parquet, zstd).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import polars as pl
import yaml

from app.queries.compare import RunExport
from engine.config import BacktestConfig, ConfigError, leg_mapping
from engine.strategies import StrategyError, load_catalogue

#: Time stamped on every archive entry (the ZIP format's earliest), so exports are reproducible.
ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
#: The frames of an export: file stem -> attribute of :class:`~app.queries.compare.RunExport`.
FRAMES: Mapping[str, str] = {
    "trades": "trades",
    "legs": "legs",
    "equity_daily": "equity",
    "metrics": "metrics",
}
_TOP_ORDER = ("strategy", "legs", "cash_secured")


def runnable_mapping(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored ``config_json`` mapping as the engine's YAML takes it.

    The engine stores the strategy expanded (``strategy: {name, description, legs,
    cash_secured}``, :meth:`engine.config.BacktestConfig.to_dict`); a config file names a
    catalogue strategy, overrides its legs' strike rules (``leg_overrides``) or gives inline
    ``legs:`` in the catalogue's form (:func:`engine.config.leg_mapping`). This keeps the
    name, and writes the legs as ``leg_overrides`` when only their strike rules differ from
    the catalogue's strategy of that name (so the run id is reproduced), inline otherwise.

    Raises
    ------
    ValueError
        A ``strategy`` that is neither absent, a name, nor a mapping with ``name`` and
        ``legs``.
    """
    out = {k: v for k, v in config.items() if k != "strategy"}
    strategy = config.get("strategy")
    if strategy is None:  # not an engine config; config_yaml says the engine refuses it
        return out
    if isinstance(strategy, str):
        return {"strategy": strategy, **out}
    if not isinstance(strategy, Mapping) or "name" not in strategy or "legs" not in strategy:
        raise ValueError(
            f"config_json's strategy must be a name or a mapping with name and legs, got "
            f"{json.dumps(strategy)[:80]}"
        )
    head: dict[str, Any] = {"strategy": strategy["name"]}
    try:
        known = load_catalogue().get(strategy["name"])
    except StrategyError:
        known = None
    stored = json.loads(json.dumps(dict(strategy)))
    if known is not None and _strategy_dict(known) == stored:
        return {**head, **out}
    legs = [leg_mapping(SimpleNamespace(**leg)) for leg in strategy["legs"]]
    overrides = _as_overrides(known, stored, legs) if known is not None else None
    if overrides is not None:
        head["leg_overrides"] = overrides
    else:
        head["legs"] = legs
        if strategy.get("cash_secured"):
            head["cash_secured"] = True
    return {**head, **out}


_LEG_SHAPE = ("type", "side", "ratio", "expiry")


def _as_overrides(
    known: Any, stored: dict[str, Any], legs: list[dict[str, Any]]
) -> dict[int, dict[str, Any]] | None:
    """``leg_overrides`` turning catalogue strategy ``known`` into ``stored`` when they differ
    only in option legs' strike rules (the catalogue's description and legs' shape kept), else
    ``None``."""
    catalogue = [leg_mapping(leg) for leg in known.legs]
    if (
        len(catalogue) != len(legs)
        or known.description != stored.get("description")
        or bool(known.cash_secured) != bool(stored.get("cash_secured"))
    ):
        return None
    overrides = {}
    for no, (ours, theirs) in enumerate(zip(legs, catalogue, strict=True), start=1):
        if ours == theirs:
            continue
        if ours["type"] == "stock" or any(ours.get(k) != theirs.get(k) for k in _LEG_SHAPE):
            return None
        overrides[no] = {k: v for k, v in ours.items() if k not in _LEG_SHAPE}
    return overrides


def _strategy_dict(spec: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(spec), default=str, sort_keys=True))


def config_yaml(config_json: str, *, run_id: str | None = None) -> str:
    """The run's config as a YAML file ``python -m engine run --config`` reads.

    Parameters
    ----------
    config_json
        ``backtest.runs.config_json``.
    run_id
        The run's id: the header says whether the YAML reproduces it (the engine's run id is
        the strategy and a hash of the whole config, :attr:`BacktestConfig.run_id`).

    Returns
    -------
    str
        ``#`` header lines, then the mapping of :func:`runnable_mapping` (keys in the stored
        order, strategy first).

    Raises
    ------
    ValueError
        ``config_json`` is not a JSON object.
    """
    try:
        config = json.loads(config_json)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config_json is not JSON: {str(config_json)[:80]!r}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"config_json is not a JSON object: {str(config_json)[:80]!r}")
    mapping = runnable_mapping(config)
    header = [f"# Backtest config of run {run_id}" if run_id else "# Backtest config"]
    try:
        rebuilt = BacktestConfig.from_mapping(mapping).run_id
    except ConfigError as exc:
        header.append(f"# The engine of this checkout refuses it: {str(exc)[:300]}")
    else:
        if run_id is None or rebuilt == run_id:
            header.append("# Rerun it with: python -m engine run --config <this file>")
        else:
            header.append(
                f"# This checkout's engine gives it run id {rebuilt}, not {run_id} (inline legs "
                "lose the catalogue's description, or the catalogue changed); the settings "
                "are the run's."
            )
    body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return "\n".join(header) + "\n" + body


def _csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(date_format="%Y-%m-%d", null_value="").encode()


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def _readme(export: RunExport, name: str | None, published_version: str | None) -> str:
    run = export.run
    modeled = run.get("chain_source") == "modeled"
    lines = [
        f"Backtest run {run['run_id']}" + (f' "{name}"' if name else ""),
        "",
        f"strategy: {run.get('strategy')}, underlying: {run.get('underlying_symbol')}, "
        f"sessions {run.get('first_date')} to {run.get('last_date')}",
        f"option chain: {run.get('chain_source') or 'real'}"
        + (f" (model {run.get('chain_model_version')})" if modeled else ""),
    ]
    if modeled:
        lines.append(
            "MODELED: the chain's quotes are model prices (marts.fct_option_quotes_modeled), "
            "not market quotes; fills, marks and P&L are model prices."
        )
    for key in ("forecast_model", "model_version", "config_hash", "data_fingerprint"):
        if run.get(key) is not None:
            lines.append(f"{key}: {run[key]}")
    if published_version:
        lines.append(f"exported from the published warehouse version {published_version}")
    lines += [
        "",
        "config.yaml         the run's config (python -m engine run --config config.yaml)",
        f"trades.*            backtest.trades, {export.trades.height} rows (one per trade)",
        f"legs.*              backtest.legs, {export.legs.height} rows (one per trade per leg)",
        f"equity_daily.*      backtest.equity_daily, {export.equity.height} rows (one per session)",
        f"metrics.*           backtest.metrics, {export.metrics.height} row",
        "",
        "Each table comes as CSV (UTF-8, ISO dates, empty = null) and Parquet (typed).",
        "Units: *_usd dollars; returns, drawdowns and rates decimal fractions (0.01 = 1 %).",
    ]
    return "\n".join(lines) + "\n"


def run_archive(
    export: RunExport, *, name: str | None = None, published_version: str | None = None
) -> bytes:
    """The ZIP archive of one run (layout in the module docstring).

    Parameters
    ----------
    export
        :func:`app.queries.compare.run_export` of the run.
    name
        The user's name of the run, for the README.
    published_version
        :attr:`app.page.Published.version` it was read from, for the README.

    Returns
    -------
    bytes
        The archive; the same inputs give the same bytes.

    Raises
    ------
    ValueError
        The run's ``config_json`` is not a JSON object.
    """
    run_id = export.run["run_id"]
    entries: list[tuple[str, bytes]] = [
        ("README.txt", _readme(export, name, published_version).encode()),
        ("config.yaml", config_yaml(export.run.get("config_json") or "{}", run_id=run_id).encode()),
    ]
    for stem, attribute in FRAMES.items():
        frame = getattr(export, attribute)
        entries.append((f"{stem}.csv", _csv(frame)))
        entries.append((f"{stem}.parquet", _parquet(frame)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file_name, data in entries:
            info = zipfile.ZipInfo(f"{run_id}/{file_name}", date_time=ENTRY_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def archive_name(run_id: str) -> str:
    """The download's file name.

    >>> archive_name("iron_condor-56dc87d1f0a3")
    'backtest-iron_condor-56dc87d1f0a3.zip'
    """
    return f"backtest-{run_id}.zip"
