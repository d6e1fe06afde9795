"""Read YAML that people write (backtest and scan configs, the strategy catalogue, contract
terms) with bounded time and memory, and quote bad values in bounded excerpts.

``yaml.safe_load`` refuses code (``!!python/object``) but not size: an *alias bomb* (the
"billion laughs": an anchor of nine items, an alias list of nine of those, nested nine deep)
is 516 bytes that stand for 9**9 items. PyYAML shares the aliased node, so loading is cheap;
the blow-up comes when anything walks the value (an error message's ``repr``, ``json.dumps``):
3.4 GB and 37 s before a ``MemoryError`` in an engine config error message (issue 15). So:

- :func:`read_yaml` refuses every anchor (``&a``) and alias (``*a``) while composing, before
  any object is built, naming the file, line and column (a config has no need for them: write
  the value out); it refuses files over :data:`MAX_YAML_BYTES` and nesting deeper than
  :data:`MAX_YAML_DEPTH`. Without aliases the parsed value is no bigger than the text.
- :func:`excerpt` is the ``repr`` of a value cut to :data:`EXCERPT_CHARS` characters, built
  with :mod:`reprlib` limits so a huge value is never rendered whole.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "EXCERPT_CHARS",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "YamlFileError",
    "excerpt",
    "excerpt_keys",
    "read_yaml",
]

#: Largest YAML file read (bytes); the repository's largest, the strategy catalogue, is ~5 kB.
MAX_YAML_BYTES = 1_000_000
#: Deepest nesting of mappings and sequences (a config is 3 deep: ``leg_overrides: {1: {...}}``).
MAX_YAML_DEPTH = 32
#: Longest excerpt of a bad value in an error message (characters).
EXCERPT_CHARS = 80

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = EXCERPT_CHARS


class YamlFileError(ValueError):
    """A YAML file that cannot be read safely: the message starts ``<file>:<line>:<column>:``
    (or ``<file>:`` for the whole file) and says why."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)``, at most ``limit`` characters (cut ones end in ``...``).

    Nested containers are shortened level by level (:mod:`reprlib`), so the cost does not grow
    with the size of ``value``.

    >>> excerpt("x" * 1000)[:12], len(excerpt("x" * 1000))
    ("'xxxxxxxxxxx", 80)
    >>> excerpt([[1, 2], {"a": 3}])
    "[[1, 2], {'a': 3}]"
    """
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int past Python's 4,300-digit str() limit
        text = f"<{type(value).__name__} of {value.bit_length():,} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def excerpt_keys(keys: Iterable[Any], limit: int = 10) -> str:
    """``['a', 'b', 1]``: sorted excerpts of ``keys`` (mapping keys of any type), at most
    ``limit`` of them and then how many more.

    >>> excerpt_keys(["b", "a", 1])
    "['a', 'b', 1]"
    >>> excerpt_keys(range(12), limit=2)
    '[0, 1, ... 10 more]'
    """
    shown = sorted(excerpt(k) for k in keys)
    more = f", ... {len(shown) - limit} more" if len(shown) > limit else ""
    return f"[{', '.join(shown[:limit])}{more}]"


def _where(path: Path | str, mark: yaml.Mark | None) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else f"{path}"


class _RefusingLoader(yaml.SafeLoader):
    """``SafeLoader`` that raises on anchors, aliases and deep nesting while composing."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases are not allowed (found *{event.anchor[:40]}); write the value out",
                event.start_mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML anchors are not allowed (found &{anchor[:40]}); write the value out",
                event.start_mark,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            if self._depth >= MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
                )
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML builds an impossible date (2019-02-30) or an int past Python's 4,300-digit
        # limit with a bare ValueError: give it the file's line
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid value {excerpt(node.value)}: {str(exc)[:80]}", node.start_mark
            ) from exc


def read_yaml(path: Path | str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The value of the YAML document in ``path``: safe tags only, no anchors or aliases, at
    most ``max_bytes`` bytes and :data:`MAX_YAML_DEPTH` levels (an empty file gives ``None``).

    Raises
    ------
    YamlFileError
        The file is too large, not UTF-8, not valid YAML, or uses an anchor or alias; the
        message starts with the file and, where known, ``:line:column``.
    FileNotFoundError
        If ``path`` does not exist.
    """
    with Path(path).open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlFileError(f"{path}: larger than {max_bytes:,} bytes; not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    loader = _RefusingLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlFileError(f"{_where(path, mark)}: {problem[:200]}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{path}: not valid YAML ({str(exc)[:200]})") from None
    finally:
        loader.dispose()
