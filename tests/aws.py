"""Helpers for tests against moto: in-process AWS, assumed accounts, injected errors and fakes.

Typical check test:

    def test_volume_unencrypted_fails(mock_aws_env):
        ec2 = aws_account.client("111111111111", "ec2")
        ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=False)
        results = check_results("ebs_volume_encrypted", "111111111111")
        ...

`aws_account.client(account_id, service)` returns a client with credentials assumed into that
account, the same way the scanner reaches it, so seeding and scanning see the same simulated account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from django.conf import settings as django_settings
from django.utils import timezone
from moto import mock_aws

from posture.aws.collectors import collect_account
from posture.aws.inventory import AccountData
from posture.aws.session import ClientFactory, assume_role_session
from posture.checks.base import Result, Status, get_check
from posture.checks.runner import run_check

DEFAULT_REGION = "us-east-1"


def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/BackupPostureReadOnly"


class _AwsAccount:
    """Clients and sessions inside a simulated account, reached through AssumeRole."""

    def session(self, account_id: str) -> boto3.Session:
        return assume_role_session(role_arn=role_arn(account_id), external_id="test-external-id")

    def client(self, account_id: str, service: str, region: str = DEFAULT_REGION):
        # With AWS_ENDPOINT_URL set the tests talk to a moto server on 127.0.0.1; otherwise in-process.
        endpoint = django_settings.AWS_ENDPOINT_URL or None
        return self.session(account_id).client(service, region_name=region, endpoint_url=endpoint)


aws_account = _AwsAccount()


@pytest.fixture
def mock_aws_env(settings):
    """In-process moto for the duration of the test, with no endpoint override."""
    settings.AWS_ENDPOINT_URL = ""
    with mock_aws():
        yield


def collect(account_id: str, regions: list[str] | None = None) -> AccountData:
    """Collect a simulated account exactly as a scan does (through AssumeRole)."""
    session = aws_account.session(account_id)
    return collect_account(
        clients=ClientFactory(session),
        account_id=account_id,
        partition="aws",
        regions=regions or [DEFAULT_REGION],
        max_workers=2,
    )


def evaluate(
    check_id: str,
    data: AccountData,
    *,
    now: dt.datetime | None = None,
    **thresholds: Any,
) -> list[Result]:
    definition = get_check(check_id)
    effective = {**definition.default_thresholds(), **thresholds}
    return run_check(definition, data, thresholds=effective, now=now or timezone.now())


def check_results(
    check_id: str,
    account_id: str,
    regions: list[str] | None = None,
    *,
    now: dt.datetime | None = None,
    **thresholds: Any,
) -> list[Result]:
    """Collect the account and run one check over it."""
    return evaluate(check_id, collect(account_id, regions), now=now, **thresholds)


def by_status(results: list[Result], status: Status) -> list[Result]:
    return [r for r in results if r.status == status]


def statuses(results: list[Result]) -> dict[str, str]:
    """Map resource id to status, for compact asserts."""
    return {r.resource_id: r.status for r in results}


# Fakes for single operations (moto gaps and injected errors).
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def error_response(code: str, message: str = "", status: int = 400) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": message or f"Injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


class AwsFakes:
    """Fake chosen (service, operation) pairs on every client created while installed.

    Only the faked operation is replaced; every other call on the same client still reaches moto.
    A handler receives the request parameters and returns the parsed response dict (use
    `error_response` to make the client raise the modeled ClientError), or None to let the call
    through to moto.
    """

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Handler] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def add(self, service: str, operation: str, handler: Handler) -> None:
        self.handlers[(service, operation)] = handler

    def deny(self, service: str, operation: str, code: str = "AccessDenied") -> None:
        """Make the operation fail with an AccessDenied-style error."""
        self.add(service, operation, lambda params: error_response(code, "Injected denial", 403))

    def _register(self, client) -> None:
        service_name = client.meta.service_model.service_name
        event_name = client.meta.service_model.service_id.hyphenize()
        stash: dict[str, Any] = {}

        def before_parameter_build(params, model, **kwargs):
            stash[model.name] = dict(params)

        def before_call(model, params, **kwargs):
            handler = self.handlers.get((service_name, model.name))
            if handler is None:
                return None
            request = stash.get(model.name, {})
            self.calls.append((service_name, model.name, request))
            parsed = handler(request)
            if parsed is None:  # the handler lets this call through to moto
                return None
            status = parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
            return AWSResponse("https://fake.invalid", status, {}, None), parsed

        client.meta.events.register(f"before-parameter-build.{event_name}", before_parameter_build)
        client.meta.events.register(f"before-call.{event_name}", before_call)

    @contextlib.contextmanager
    def installed(self) -> Iterator[AwsFakes]:
        original = botocore.session.Session.create_client
        fakes = self

        def create_client(session_self, *args, **kwargs):
            client = original(session_self, *args, **kwargs)
            fakes._register(client)
            return client

        botocore.session.Session.create_client = create_client
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original
