"""Validation of every path and query parameter: a bad value is a ``BAD_REQUEST`` naming it.

Values reach SQL only as bound parameters (:mod:`app.queries`), and no parameter names a file;
these checks refuse path-like and SQL-like strings early, with a clear message, instead of
letting them come back as "not found".
"""

from __future__ import annotations

import datetime as dt
import re

from app.api.errors import bad_request

#: A backtest run id: the engine's ``<strategy name>-<12 hex digits of the config hash>``
#: (:attr:`engine.config.BacktestConfig.run_id`); strategy names are catalogue keys or inline
#: names, lower-case words joined by ``_`` (``engine/strategies.yaml``).
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}-[0-9a-f]{12}")
#: A strategy name the API accepts for a run it computes (so its run id matches the above).
STRATEGY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}")
#: A model name of ``ml.model_registry`` (``xgb_direction_5d``, ``logit_iv_regime_5d``, ...).
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}")
#: An underlying symbol (``SPX``, ``SPY``, ``^GSPC`` is not one: the warehouse keys on tickers).
SYMBOL_PATTERN = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
#: A save job id (:meth:`app.api.state.ApiState.new_job`).
JOB_ID_PATTERN = re.compile(r"save-[0-9]{1,9}")
#: Bounds of ``top_k`` (contracts per as-of date of a contract model).
TOP_K_RANGE = (1, 1000)
#: ``top_k`` when a contract model's predictions are asked for without it.
DEFAULT_TOP_K = 20


def _match(pattern: re.Pattern[str], parameter: str, value: str, what: str) -> str:
    if len(value) > 200 or not pattern.fullmatch(value):
        raise bad_request(parameter, value, f"must be {what} (pattern {pattern.pattern})")
    return value


def run_id(value: str) -> str:
    """A run id (:data:`RUN_ID_PATTERN`), e.g. ``iron_condor-56dc87d1f0a3``.

    >>> run_id("iron_condor-56dc87d1f0a3")
    'iron_condor-56dc87d1f0a3'
    """
    return _match(
        RUN_ID_PATTERN, "run_id", value, "a backtest run id like iron_condor-56dc87d1f0a3"
    )


def model_name(value: str, parameter: str = "model") -> str:
    """A model name (:data:`MODEL_NAME_PATTERN`)."""
    return _match(MODEL_NAME_PATTERN, parameter, value, "a model name like xgb_direction_5d")


def symbol(value: str) -> str:
    """An underlying symbol (:data:`SYMBOL_PATTERN`)."""
    return _match(SYMBOL_PATTERN, "underlying", value, "an underlying symbol like SPX")


def job_id(value: str) -> str:
    """A save job id (:data:`JOB_ID_PATTERN`)."""
    return _match(JOB_ID_PATTERN, "job_id", value, "a save job id like save-1")


def iso_date(value: str | None, parameter: str = "as_of_date") -> dt.date | None:
    """``YYYY-MM-DD`` as a date; ``None`` stays ``None``.

    >>> iso_date("2019-07-22")
    datetime.date(2019, 7, 22)
    """
    if value is None:
        return None
    if len(value) != 10 or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise bad_request(parameter, value, "must be an ISO date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(parameter, value, f"is not a calendar date ({exc})") from exc


def top_k(value: int | None) -> int | None:
    """``top_k`` within :data:`TOP_K_RANGE`; ``None`` stays ``None``."""
    low, high = TOP_K_RANGE
    if value is not None and not low <= value <= high:
        raise bad_request("top_k", value, f"must be in [{low}, {high}]")
    return value


def boolean(value: str | None, parameter: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``); ``None`` is false."""
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_request(parameter, value, "must be true or false")
