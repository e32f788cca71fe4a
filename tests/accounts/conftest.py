"""Users in each role, a logged-in client per role, and valid form data for an account."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import ADMIN, VIEWER
from tests.factories import UserFactory

ACCOUNT_ID = "111111111111"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/BackupPostureReadOnly"
EXTERNAL_ID = "ext-id-registered"


@pytest.fixture
def form_data() -> dict[str, str]:
    """POST data of a valid account, as the browser sends it."""
    return {
        "account_id": ACCOUNT_ID,
        "name": "Production",
        "role_arn": ROLE_ARN,
        "external_id": EXTERNAL_ID,
        "regions": "us-east-1, eu-west-1",
        "environment": "production",
        "enabled": "on",
    }


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(db) -> Client:
    return _client_for(UserFactory(roles=[VIEWER]))


@pytest.fixture
def admin_member_client(db) -> Client:
    """A client of a user in the admin group (not a superuser)."""
    return _client_for(UserFactory(roles=[ADMIN]))


@pytest.fixture
def outsider_client(db) -> Client:
    """A client of a user who is logged in but has no role."""
    return _client_for(UserFactory())
