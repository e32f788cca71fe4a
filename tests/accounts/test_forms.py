from __future__ import annotations

import pytest

from accounts.forms import AccountForm
from tests.accounts.conftest import ACCOUNT_ID
from tests.factories import AccountFactory, AccountScanFactory

pytestmark = pytest.mark.django_db

# (field, submitted value, text the error must contain)
INVALID = [
    ("account_id", "12345", "'12345'"),
    ("account_id", "1234567890123", "'1234567890123'"),
    ("account_id", "11111111111a", "'11111111111a'"),
    ("role_arn", "BackupPostureReadOnly", "'BackupPostureReadOnly'"),
    ("role_arn", f"arn:aws:iam::{ACCOUNT_ID}:user/alice", f"'arn:aws:iam::{ACCOUNT_ID}:user/alice'"),
    ("role_arn", "arn:aws:iam::222222222222:role/ReadOnly", "'arn:aws:iam::222222222222:role/ReadOnly'"),
    (
        "role_arn",
        f"arn:aws-xx:iam::{ACCOUNT_ID}:role/ReadOnly",
        f"'arn:aws-xx:iam::{ACCOUNT_ID}:role/ReadOnly'",
    ),
    (
        "role_arn",
        f"arn:aws-cn:iam::{ACCOUNT_ID}:role/ReadOnly",
        f"'arn:aws-cn:iam::{ACCOUNT_ID}:role/ReadOnly'",
    ),
    ("external_id", "x", "'x'"),
    ("external_id", "y" * 1225, "'" + "y" * 77 + "...'"),
    ("external_id", "has space!", "'has space!'"),
    ("regions", "us-east-1 mars-north-1", "mars-north-1"),
]


@pytest.mark.parametrize(("field", "value", "named"), INVALID, ids=[f"{f}-{v[:20]}" for f, v, _ in INVALID])
def test_invalid_value_named(form_data, field, value, named):
    form = AccountForm({**form_data, field: value})
    assert not form.is_valid()
    assert named in " ".join(form.errors[field])


def test_valid_form_cleans_regions_to_list(form_data):
    form = AccountForm(form_data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["regions"] == ["us-east-1", "eu-west-1"]


def test_regions_split_dedupe_and_lowercase(form_data):
    form = AccountForm({**form_data, "regions": "us-east-1,eu-west-1  US-EAST-1,\neu-west-1"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["regions"] == ["us-east-1", "eu-west-1"]


def test_empty_regions_means_all(form_data):
    form = AccountForm({**form_data, "regions": " "})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["regions"] == []


def test_role_arn_in_other_account_names_both(form_data):
    form = AccountForm({**form_data, "role_arn": "arn:aws:iam::222222222222:role/ReadOnly"})
    form.is_valid()
    message = " ".join(form.errors["role_arn"])
    assert "222222222222" in message
    assert ACCOUNT_ID in message


def test_bad_partition_lists_allowed(form_data):
    form = AccountForm({**form_data, "role_arn": f"arn:aws-xx:iam::{ACCOUNT_ID}:role/ReadOnly"})
    form.is_valid()
    assert "aws, aws-us-gov or aws-cn" in " ".join(form.errors["role_arn"])


def test_partition_of_installation_accepted(form_data, settings):
    settings.AWS_PARTITION = "aws-us-gov"
    form = AccountForm(
        {
            **form_data,
            "role_arn": f"arn:aws-us-gov:iam::{ACCOUNT_ID}:role/ReadOnly",
            "regions": "us-gov-west-1",
        }
    )
    assert form.is_valid(), form.errors


def test_bad_account_id_gives_one_message(form_data):
    form = AccountForm({**form_data, "account_id": "12345"})
    form.is_valid()
    assert "role_arn" not in form.errors


def test_missing_external_id_is_required_only(form_data):
    form = AccountForm({**form_data, "external_id": ""})
    form.is_valid()
    assert form.errors["external_id"] == ["This field is required."]


def test_duplicate_account_id_names_existing(form_data):
    AccountFactory(account_id=ACCOUNT_ID, name="Old production")
    form = AccountForm(form_data)
    assert not form.is_valid()
    assert "Old production" in " ".join(form.errors["account_id"])


def test_edit_keeps_own_account_id(form_data):
    account = AccountFactory(account_id=ACCOUNT_ID)
    form = AccountForm(form_data, instance=account)
    assert form.is_valid(), form.errors


def test_edit_initial_regions_text():
    account = AccountFactory(regions=["us-east-1", "eu-west-1"])
    form = AccountForm(instance=account)
    assert form["regions"].value() == "us-east-1, eu-west-1"


def test_account_id_editable_without_scans():
    form = AccountForm(instance=AccountFactory())
    assert not form.fields["account_id"].disabled


def test_account_id_fixed_once_scanned(form_data):
    account = AccountFactory(account_id=ACCOUNT_ID)
    AccountScanFactory(account=account)
    form = AccountForm({**form_data, "account_id": "333333333333"}, instance=account)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["account_id"] == ACCOUNT_ID
