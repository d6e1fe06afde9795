"""Live yfinance source: not built yet.

It will land daily bars (``auto_adjust=False``: option intrinsic values need raw prices) and
accumulate option-chain snapshots day after day, since yfinance has no option history.
"""

from __future__ import annotations


class SourceNotBuiltError(NotImplementedError):
    """A source that the CLI lists but that does not exist yet."""


def land_yfinance(*_: object, **__: object) -> None:
    """Raise: the yfinance source is not built yet (it is the next loaders issue)."""
    raise SourceNotBuiltError(
        "the yfinance source is not built yet: use --source vendor (the embedded files under "
        "warehouse/vendor/, the default). Nothing was fetched; this command never uses the network."
    )
