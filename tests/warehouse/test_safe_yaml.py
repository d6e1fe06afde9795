"""warehouse.safe_yaml: every YAML file people write is read with bounded time and memory (issue
15): anchors and aliases are refused before any value is built, and bad values are quoted in
bounded excerpts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.config import ConfigError, read_mapping
from engine.scan import ScanConfigError, cli_main
from engine.strategies import StrategyError, load_catalogue
from loaders.contracts import load_specs
from warehouse.safe_yaml import (
    MAX_YAML_DEPTH,
    YamlFileError,
    excerpt,
    excerpt_keys,
    read_yaml,
)

#: The 516-byte bomb of issue 15 (9 ** 9 strings), as a list under each of nine keys.
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{this}: &{this} [" + ",".join([f"*{prev}"] * 9) + "]"
        for this, prev in zip("bcdefghi", "abcdefgh", strict=True)
    ]
)


def _scan_args(config: Path) -> argparse.Namespace:
    flags = ("structure", "side", "option_type", "max_entry_dte", "exit_dte", "bucket_by")
    return argparse.Namespace(config=config, underlying="SPX", roots="SPX", **dict.fromkeys(flags))


READERS = {
    "backtest config": (read_mapping, ConfigError),
    "strategy catalogue": (load_catalogue, StrategyError),
    "scan config": (
        lambda path: cli_main(_scan_args(path), path.with_suffix(".db")),
        ScanConfigError,
    ),
    "contract terms": (load_specs.__wrapped__, ValueError),
}


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
def test_every_yaml_reader_of_user_files_refuses_the_alias_bomb(tmp_path, reader):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\n")
    read, error = READERS[reader]
    with pytest.raises(error, match=rf"^{path}:1:4: YAML anchors are not allowed \(found &a\)"):
        read(path)


def test_an_alias_is_refused_where_it_stands(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text("a: 1\nb: [1, *x]\n")
    with pytest.raises(YamlFileError, match=rf"^{path}:2:8: YAML aliases are not allowed"):
        read_yaml(path)


def test_size_and_depth_are_bounded(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "1" * 2_000 + "\n")
    with pytest.raises(YamlFileError, match=rf"^{path}: larger than 1,000 bytes"):
        read_yaml(path, max_bytes=1_000)
    path.write_text("a: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n")
    with pytest.raises(YamlFileError, match=rf"nested deeper than {MAX_YAML_DEPTH} levels"):
        read_yaml(path)
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(YamlFileError, match=rf"^{path}: not UTF-8 text"):
        read_yaml(path)


def test_plain_yaml_still_reads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("a: {b: [1, 2.5, x]}\nd: 2019-04-25\n")
    assert read_yaml(path) == {
        "a": {"b": [1, 2.5, "x"]},
        "d": __import__("datetime").date(2019, 4, 25),
    }
    path.write_text("")
    assert read_yaml(path) is None


def test_excerpts_are_bounded_whatever_the_value():
    assert excerpt("abc") == "'abc'"
    assert len(excerpt("x" * 10**6)) == 80
    nested: list = []
    for _ in range(10_000):
        nested = [nested] * 9  # shared, as an alias would be: 9**10000 leaves
    assert len(excerpt(nested)) <= 80
    assert excerpt(10**5000).startswith("<int of")
    assert excerpt_keys(["b", "a", 1]) == "['a', 'b', 1]"
    assert excerpt_keys([f"k{i}" for i in range(100)]).endswith(", ... 90 more]")
