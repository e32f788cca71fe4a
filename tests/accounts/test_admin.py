from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from tests.accounts.conftest import ACCOUNT_ID, EXTERNAL_ID, ROLE_ARN
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _admin_form(**overrides) -> dict[str, str]:
    return {
        "account_id": ACCOUNT_ID,
        "name": "Production",
        "role_arn": ROLE_ARN,
        "external_id": EXTERNAL_ID,
        "regions": '["us-east-1"]',
        "environment": "",
        "enabled": "on",
        **overrides,
    }


def test_admin_changelist_opens(admin_client):
    AccountFactory(name="Log archive")
    response = admin_client.get(reverse("admin:accounts_account_changelist"))
    assert "Log archive" in response.content.decode()


def test_admin_add_rejects_other_account_arn(admin_client):
    arn = "arn:aws:iam::222222222222:role/ReadOnly"
    response = admin_client.post(reverse("admin:accounts_account_add"), _admin_form(role_arn=arn))
    assert arn in response.content.decode()
    assert not Account.objects.exists()


def test_admin_add_rejects_unknown_region(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_account_add"), _admin_form(regions='["mars-north-1"]')
    )
    assert "mars-north-1" in response.content.decode()
    assert not Account.objects.exists()


def test_admin_role_change_clears_verification(admin_client):
    account = AccountFactory(
        account_id=ACCOUNT_ID, role_arn=ROLE_ARN, verified_at=timezone.now(), verification_ok=True
    )
    admin_client.post(
        reverse("admin:accounts_account_change", args=[account.pk]),
        _admin_form(role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/Other"),
    )
    account.refresh_from_db()
    assert account.role_arn.endswith("role/Other")
    assert account.verification_ok is None
