"""The body and the bearer token of ``POST /backtests``: who may post, and what a config is.

:func:`require_token` checks ``Authorization: Bearer`` against ``OPTIONS_API_TOKEN`` in constant
time; :func:`config_mapping` turns a JSON (``{"config_yaml": "..."}`` or ``{"config": {...}}``) or
YAML body into a mapping, reading YAML only through :func:`warehouse.safe_yaml.read_yaml` (no
anchors or aliases, at most 1 MB and 32 levels); :func:`validated_config` builds the engine's
own :class:`engine.config.BacktestConfig`, whose :class:`~engine.config.ConfigError` names the
bad key and value. Every refusal is an :class:`app.api.errors.ApiError`.
"""

from __future__ import annotations

import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Request

from app.api import params
from app.api.errors import ApiError, bad_request
from engine.config import BacktestConfig, ConfigError
from warehouse.safe_yaml import YamlFileError, excerpt, read_yaml

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/x-yaml", "application/yaml", "text/yaml", "text/x-yaml")
#: Keys of a JSON body (the source design's ``BacktestReq`` and a parsed mapping).
BODY_KEYS = ("config_yaml", "config")


def require_token(request: Request, token_env: str) -> None:
    """Check ``Authorization: Bearer <token>`` against the environment variable ``token_env``
    (constant-time, :func:`hmac.compare_digest`).

    Raises
    ------
    ApiError
        ``UNAUTHORIZED`` when the variable is unset or empty (POST disabled), or the header is
        missing or wrong (the token is never echoed).
    """
    expected = os.environ.get(token_env, "")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not expected:
        raise ApiError(
            "UNAUTHORIZED",
            f"POST is disabled on this server: {token_env} is not set",
            {"token_env": token_env},
            challenge,
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8"), expected.encode("utf-8")
    ):
        raise ApiError(
            "UNAUTHORIZED",
            "missing or wrong bearer token (Authorization: Bearer <token>)",
            {"token_env": token_env},
            challenge,
        )


def parse_yaml(data: bytes, label: str = "config_yaml") -> Any:
    """The YAML document ``data`` read by :func:`warehouse.safe_yaml.read_yaml` (through a
    private temporary file, its only entry point), errors prefixed with ``label``.

    Raises
    ------
    ApiError
        ``BAD_REQUEST``: not UTF-8, invalid YAML, an anchor or alias, too deep or too large
        (the message gives ``label:line:column``).
    """
    with tempfile.TemporaryDirectory(prefix="options-api-yaml-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(data)
        try:
            return read_yaml(path)
        except YamlFileError as exc:
            raise ApiError(
                "BAD_REQUEST", str(exc).replace(str(path), label), {"parameter": label}
            ) from None


def config_mapping(content_type: str, body: bytes) -> tuple[dict[str, Any], str]:
    """The config mapping of a ``POST /backtests`` body and where it came from (``config``,
    ``config_yaml`` or ``body``, for error messages).

    Raises
    ------
    ApiError
        ``UNSUPPORTED_MEDIA`` for a body that is neither JSON nor YAML; ``BAD_REQUEST`` for an
        empty or malformed body, unknown or missing keys, or a config that is not a mapping.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in YAML_TYPES:
        mapping, source = parse_yaml(body, "body"), "body"
    elif media in JSON_TYPES:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ApiError("BAD_REQUEST", f"body is not valid JSON ({str(exc)[:120]})") from None
        if not isinstance(payload, dict):
            raise bad_request(
                "body", payload, f"must be a JSON object with one of {list(BODY_KEYS)}"
            )
        unknown = sorted(set(payload) - set(BODY_KEYS))
        given = [k for k in BODY_KEYS if k in payload]
        if unknown:
            raise bad_request("body key", unknown[0], f"is not one of {list(BODY_KEYS)}")
        if len(given) != 1:
            raise bad_request(
                "body", sorted(payload), f"must have exactly one of {list(BODY_KEYS)}"
            )
        source = given[0]
        if source == "config_yaml":
            if not isinstance(payload[source], str):
                raise bad_request("config_yaml", payload[source], "must be a string of YAML")
            mapping = parse_yaml(payload[source].encode("utf-8"))
        else:
            mapping = _json_leg_numbers(payload[source])
    else:
        raise ApiError(
            "UNSUPPORTED_MEDIA",
            f"Content-Type must be application/json or application/x-yaml, got "
            f"{excerpt(content_type or None)}",
        )
    if mapping is None:
        raise bad_request(source, None, "must be a backtest config (a mapping), not empty")
    if not isinstance(mapping, dict):
        raise bad_request(source, mapping, "must be a backtest config mapping")
    return mapping, source


def _json_leg_numbers(mapping: Any) -> Any:
    """JSON object keys are strings: ``leg_overrides`` keys that are decimal digits (``"1"``)
    become the leg numbers (``1``) that YAML configs give; anything else is left for the
    engine's validation to name."""
    overrides = mapping.get("leg_overrides") if isinstance(mapping, dict) else None
    if not isinstance(overrides, dict):
        return mapping
    numbered = {
        int(k) if isinstance(k, str) and k.isdecimal() and len(k) <= 2 else k: v
        for k, v in overrides.items()
    }
    return {**mapping, "leg_overrides": numbered}


def validated_config(mapping: dict[str, Any], source: str) -> BacktestConfig:
    """``mapping`` as the engine's config; a strategy name must match
    :data:`app.api.params.STRATEGY_NAME_PATTERN` (so the run id is addressable).

    Raises
    ------
    ApiError
        ``BAD_REQUEST`` with the engine's message (``config: entry.threshold must be in
        [0, 1], got 2.0``).
    """
    name = mapping.get("strategy")
    if isinstance(name, str) and not params.STRATEGY_NAME_PATTERN.fullmatch(name):
        raise bad_request("strategy", name, f"must match {params.STRATEGY_NAME_PATTERN.pattern}")
    try:
        return BacktestConfig.from_mapping(mapping, source=source)
    except (ConfigError, ValueError, TypeError) as exc:
        raise ApiError("BAD_REQUEST", str(exc)[:1000], {"source": source}) from None
