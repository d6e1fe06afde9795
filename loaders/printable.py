"""Names in log lines: a vendor file's name is data, and must not be able to forge a line.

A file named ``a.csv\\nlanded 0 rows ...`` would otherwise print a second, fake line in the
loaders' output, reports and progress (issue 15); a carriage return or an escape sequence
could rewrite what a terminal shows. Every name (and every message that embeds one) goes
through :func:`printable` before it is printed or written to a report.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: object) -> str:
    """``str(text)`` with every non-printable character written as its Python escape.

    Newlines, carriage returns, tabs, escape and other control or format characters, line
    separators and the lone surrogates that undecodable file-name bytes become are shown as
    ``repr`` shows them (``\\n``, ``\\r``, ``\\x1b``, ``\\u2028``, ``\\udcff``); printable
    text, non-ASCII letters included, is unchanged. The result is one line, and applying it
    twice changes nothing more (backslashes are kept as they are: ``\\n`` in the output is
    either an escaped newline or the two characters, never a line break).

    >>> printable("SPX_2019.csv\\nlanded 0 rows")
    'SPX_2019.csv\\\\nlanded 0 rows'
    >>> printable("Zürich.csv")
    'Zürich.csv'
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
