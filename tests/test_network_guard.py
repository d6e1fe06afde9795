"""The guard in conftest.py: a test that tries the internet fails at once instead of reaching it."""

from __future__ import annotations

import socket
import urllib.request

import pytest


def test_dns_lookup_is_blocked() -> None:
    with pytest.raises(OSError, match="may not reach the network"):
        socket.getaddrinfo("query1.finance.yahoo.com", 443)


def test_connect_to_public_address_is_blocked() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match="may not reach the network"):
            sock.connect(("1.1.1.1", 443))


def test_http_client_is_blocked() -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen("https://fc.yahoo.com", timeout=2)


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
