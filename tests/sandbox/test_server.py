from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox import patches
from sandbox.server import SandboxServer


def test_server_listens_on_loopback():
    with SandboxServer() as server:
        assert urlsplit(server.url).hostname == "127.0.0.1"


def test_server_answers_sts():
    with SandboxServer() as server:
        sts = boto3.client("sts", region_name="us-east-1", endpoint_url=server.url)
        assert sts.get_caller_identity()["Account"] == "123456789012"


def test_server_installs_patches():
    with SandboxServer() as server:
        patches.state.sealed_accounts.add("111122223333")
        sts = boto3.client("sts", region_name="us-east-1", endpoint_url=server.url)
        with pytest.raises(ClientError) as error:
            sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/Missing", RoleSessionName="test-session")
    assert error.value.response["Error"]["Code"] == "AccessDenied"


def test_server_stop_removes_patches():
    with SandboxServer():
        pass
    with SandboxServer():
        # A second server in the same process can install the patches again.
        assert patches.state.sealed_accounts == set()


def test_server_stop_clears_url():
    server = SandboxServer()
    server.start()
    server.stop()
    assert server.url == ""
