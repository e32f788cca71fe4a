"""Test set-up shared by every test: no network but loopback, fake AWS, moto helpers.

pyproject.toml sets fake AWS credentials and AWS_EC2_METADATA_DISABLED before Django loads.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.aws import AwsFakes, aws_account, mock_aws_env  # noqa: F401 - fixtures re-exported

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(AssertionError):
    pass


def _guard_address(address) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host = address[0]
    if not _is_loopback(host):
        raise NetworkBlocked(f"A test tried to connect to {host!r}; only 127.0.0.1 is allowed.")


def _guarded_connect(self, address):
    _guard_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _guard_address(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise NetworkBlocked(f"A test tried to resolve {host!r}; only loopback names are allowed.")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config) -> None:
    # Installed for the whole run, before any test or fixture can open a socket.
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Run tasks in-process, except in tests marked integration, which use a real worker."""
    from config.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def aws_fakes():
    """Replace single AWS operations on every client the scanner creates (see tests/aws.py)."""
    fakes = AwsFakes()
    with fakes.installed():
        yield fakes


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Start every test with an empty cache: cached figures are keyed by row ids, which SQLite reuses."""
    from django.core.cache import cache

    cache.clear()
