"""The docstring examples of the engine run as written."""

from __future__ import annotations

import doctest

import pytest

from engine import metrics


@pytest.mark.parametrize("module", [metrics], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
