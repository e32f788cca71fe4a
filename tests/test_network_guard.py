from __future__ import annotations

import socket

import pytest


def test_connect_to_public_address_fails():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(AssertionError, match="only 127.0.0.1 is allowed"):
        sock.connect(("192.0.2.1", 443))
    sock.close()


def test_resolving_public_name_fails():
    with pytest.raises(AssertionError, match="only loopback names"):
        socket.getaddrinfo("sts.amazonaws.com", 443)


def test_loopback_connect_allowed():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
