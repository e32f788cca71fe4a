from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from moto.sts.models import sts_backends

from accounts import services
from accounts.models import Account
from tests.accounts.conftest import ACCOUNT_ID, EXTERNAL_ID, ROLE_ARN
from tests.factories import AccountFactory, AccountScanFactory

pytestmark = pytest.mark.django_db


def _create(**overrides) -> Account:
    fields = {
        "account_id": ACCOUNT_ID,
        "name": "Production",
        "role_arn": ROLE_ARN,
        "external_id": EXTERNAL_ID,
        "regions": ["us-east-1"],
        **overrides,
    }
    return services.account_create(**fields)


def _last_assumed_role():
    return sts_backends[ACCOUNT_ID]["aws"].assumed_roles[-1]


def _verified_account(**fields) -> Account:
    return AccountFactory(
        account_id=ACCOUNT_ID,
        role_arn=ROLE_ARN,
        external_id=EXTERNAL_ID,
        verified_at=timezone.now(),
        verification_ok=True,
        verification_message="Assumed the role.",
        **fields,
    )


def test_create_stores_account():
    account = _create()
    assert Account.objects.get(pk=account.pk).role_arn == ROLE_ARN


def test_create_removes_duplicate_regions():
    account = _create(regions=["eu-west-1", "us-east-1", "eu-west-1"])
    assert account.regions == ["eu-west-1", "us-east-1"]


def test_create_invalid_saves_nothing():
    with pytest.raises(ValidationError):
        _create(role_arn="arn:aws:iam::222222222222:role/ReadOnly")
    assert not Account.objects.exists()


def test_create_reports_every_bad_field():
    with pytest.raises(ValidationError) as caught:
        _create(account_id="123", external_id="x", regions=["mars-north-1"])
    assert set(caught.value.error_dict) == {"account_id", "external_id", "regions"}


def test_create_rejects_regions_not_list():
    with pytest.raises(ValidationError) as caught:
        _create(regions="us-east-1")
    assert "'us-east-1'" in caught.value.message_dict["regions"][0]


def test_create_duplicate_names_account():
    AccountFactory(account_id=ACCOUNT_ID, name="First")
    with pytest.raises(ValidationError) as caught:
        _create()
    assert ACCOUNT_ID in caught.value.message_dict["account_id"][0]


def test_update_saves_changed_fields():
    account = _verified_account()
    services.account_update(account=account, name="Renamed", environment="staging")
    account.refresh_from_db()
    assert (account.name, account.environment) == ("Renamed", "staging")


def test_update_name_keeps_verification():
    account = _verified_account()
    services.account_update(account=account, name="Renamed")
    account.refresh_from_db()
    assert account.verification_ok is True


@pytest.mark.parametrize(
    "changes",
    [
        {"role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/Other"},
        {"external_id": "another-external-id"},
        {"account_id": "222222222222", "role_arn": "arn:aws:iam::222222222222:role/ReadOnly"},
    ],
    ids=["role_arn", "external_id", "account_id"],
)
def test_update_role_clears_verification(changes):
    account = _verified_account()
    services.account_update(account=account, **changes)
    account.refresh_from_db()
    assert account.verification_ok is None
    assert account.verified_at is None
    assert account.verification_message == ""


def test_update_invalid_changes_nothing():
    account = _verified_account()
    with pytest.raises(ValidationError):
        services.account_update(account=account, name="Renamed", external_id="x")
    stored = Account.objects.get(pk=account.pk)
    assert stored.name != "Renamed"
    assert stored.verification_ok is True


def test_update_invalid_restores_object():
    account = _verified_account()
    with pytest.raises(ValidationError):
        services.account_update(account=account, external_id="x")
    assert account.external_id == EXTERNAL_ID
    assert account.verification_ok is True


def test_update_account_id_locked_by_scans():
    account = _verified_account()
    AccountScanFactory(account=account)
    with pytest.raises(ValidationError) as caught:
        services.account_update(
            account=account, account_id="222222222222", role_arn="arn:aws:iam::222222222222:role/ReadOnly"
        )
    assert "222222222222" in caught.value.message_dict["account_id"][0]
    assert Account.objects.get(pk=account.pk).account_id == ACCOUNT_ID


def test_update_unknown_field_raises():
    with pytest.raises(TypeError):
        services.account_update(account=AccountFactory(), verification_ok=True)


def test_verify_succeeds(mock_aws_env):
    account = services.account_verify(account=AccountFactory(account_id=ACCOUNT_ID, role_arn=ROLE_ARN))
    account.refresh_from_db()
    assert account.verification_ok is True
    assert account.verified_at is not None
    assert "assumed-role/BackupPostureReadOnly" in account.verification_message


def test_verify_sends_registered_external_id(mock_aws_env):
    account = AccountFactory(account_id=ACCOUNT_ID, role_arn=ROLE_ARN, external_id=EXTERNAL_ID)
    services.account_verify(account=account)
    assert _last_assumed_role().external_id == EXTERNAL_ID


def test_verify_denied_names_error_code(mock_aws_env, aws_fakes):
    aws_fakes.deny("sts", "AssumeRole")
    account = services.account_verify(account=_verified_account())
    account.refresh_from_db()
    assert account.verification_ok is False
    assert "AccessDenied" in account.verification_message


def test_verify_other_account_names_both(mock_aws_env, aws_fakes):
    aws_fakes.add(
        "sts",
        "GetCallerIdentity",
        lambda params: {
            "Account": "999999999999",
            "Arn": "arn:aws:sts::999999999999:assumed-role/BackupPostureReadOnly/s",
            "UserId": "AROAEXAMPLE:s",
            "ResponseMetadata": {"HTTPStatusCode": 200},
        },
    )
    account = services.account_verify(account=AccountFactory(account_id=ACCOUNT_ID, role_arn=ROLE_ARN))
    assert account.verification_ok is False
    assert "999999999999" in account.verification_message
    assert ACCOUNT_ID in account.verification_message


def test_verify_keeps_credentials_out(mock_aws_env, caplog):
    caplog.set_level(logging.DEBUG)
    account = services.account_verify(account=AccountFactory(account_id=ACCOUNT_ID, role_arn=ROLE_ARN))
    assumed = _last_assumed_role()
    for secret in (assumed.secret_access_key, assumed.session_token):
        assert secret not in account.verification_message
        assert secret not in caplog.text


def test_verify_saves_only_verification_fields(mock_aws_env):
    account = AccountFactory(account_id=ACCOUNT_ID, role_arn=ROLE_ARN, name="Stored")
    account.name = "Unsaved"
    services.account_verify(account=account)
    assert Account.objects.get(pk=account.pk).name == "Stored"


def test_create_rejects_blank_name():
    with pytest.raises(ValidationError) as caught:
        _create(name="")
    assert "name" in caught.value.error_dict


def test_create_rejects_long_environment():
    with pytest.raises(ValidationError) as caught:
        _create(environment="e" * 41)
    assert "environment" in caught.value.error_dict
