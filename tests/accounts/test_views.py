from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from moto.sts.models import sts_backends

from accounts.models import Account
from posture.models import AccountScan
from tests.accounts.conftest import ACCOUNT_ID, EXTERNAL_ID, ROLE_ARN
from tests.factories import AccountFactory, AccountScanFactory, ScanFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("accounts:account-list")
CREATE_URL = reverse("accounts:account-create")


def _url(name: str, account: Account) -> str:
    return reverse(f"accounts:{name}", args=[account.pk])


def _registered() -> Account:
    return AccountFactory(
        account_id=ACCOUNT_ID, role_arn=ROLE_ARN, external_id=EXTERNAL_ID, name="Production"
    )


# Access


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "account-list"),
        ("get", "account-create"),
        ("post", "account-create"),
        ("get", "account-detail"),
        ("get", "account-update"),
        ("post", "account-update"),
        ("post", "account-verify"),
    ],
)
def test_anonymous_redirected_to_login(client, method, name):
    account = AccountFactory()
    url = reverse(f"accounts:{name}", args=[] if name in ("account-list", "account-create") else [account.pk])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_outsider_cannot_list(outsider_client):
    assert outsider_client.get(LIST_URL).status_code == 403


def test_outsider_cannot_read_detail(outsider_client):
    assert outsider_client.get(_url("account-detail", AccountFactory())).status_code == 403


def test_viewer_lists_accounts(viewer_client):
    AccountFactory(name="Log archive")
    response = viewer_client.get(LIST_URL)
    assert response.status_code == 200
    assert "Log archive" in response.content.decode()


def test_viewer_reads_detail(viewer_client):
    account = _registered()
    response = viewer_client.get(_url("account-detail", account))
    assert response.status_code == 200
    assert ROLE_ARN in response.content.decode()


def test_viewer_sees_no_admin_controls(viewer_client):
    account = _registered()
    content = viewer_client.get(_url("account-detail", account)).content.decode()
    assert _url("account-verify", account) not in content
    assert _url("account-update", account) not in content


def test_viewer_cannot_open_add_form(viewer_client):
    assert viewer_client.get(CREATE_URL).status_code == 403


def test_viewer_cannot_add(viewer_client, form_data):
    response = viewer_client.post(CREATE_URL, form_data)
    assert response.status_code == 403
    assert not Account.objects.exists()


def test_viewer_cannot_open_edit_form(viewer_client):
    assert viewer_client.get(_url("account-update", _registered())).status_code == 403


def test_viewer_cannot_edit(viewer_client, form_data):
    account = _registered()
    response = viewer_client.post(_url("account-update", account), {**form_data, "name": "Changed"})
    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).name == "Production"


def test_viewer_cannot_verify(viewer_client, mock_aws_env):
    account = _registered()
    response = viewer_client.post(_url("account-verify", account))
    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).verified_at is None
    assert not sts_backends[ACCOUNT_ID]["aws"].assumed_roles


def test_verify_rejects_get(admin_member_client):
    response = admin_member_client.get(_url("account-verify", _registered()))
    assert response.status_code == 405


def test_list_rejects_post(viewer_client):
    assert viewer_client.post(LIST_URL).status_code == 405


def test_missing_account_is_404(viewer_client):
    assert viewer_client.get(reverse("accounts:account-detail", args=[999])).status_code == 404


def test_superuser_can_open_add_form(admin_client):
    assert admin_client.get(CREATE_URL).status_code == 200


# Add and edit


def test_admin_adds_account(admin_member_client, form_data):
    response = admin_member_client.post(CREATE_URL, form_data)
    account = Account.objects.get(account_id=ACCOUNT_ID)
    assert response.status_code == 302
    assert response.url == _url("account-detail", account)
    assert account.regions == ["us-east-1", "eu-west-1"]
    assert account.environment == "production"


def test_admin_adds_with_all_regions(admin_member_client, form_data):
    admin_member_client.post(CREATE_URL, {**form_data, "regions": ""})
    assert Account.objects.get(account_id=ACCOUNT_ID).regions == []


def test_unchecked_enabled_saves_disabled(admin_member_client, form_data):
    data = {key: value for key, value in form_data.items() if key != "enabled"}
    admin_member_client.post(CREATE_URL, data)
    assert Account.objects.get(account_id=ACCOUNT_ID).enabled is False


INVALID = [
    ("account_id", "12345"),
    ("account_id", "1111111111111"),
    ("role_arn", "arn:aws:iam:111111111111:role"),
    ("role_arn", "arn:aws:iam::222222222222:role/ReadOnly"),
    ("role_arn", "arn:aws-xx:iam::111111111111:role/ReadOnly"),
    ("external_id", "x"),
    ("external_id", "has space!"),
    ("regions", "us-east-1 mars-north-1"),
]


@pytest.mark.parametrize(("field", "value"), INVALID, ids=[f"{f}-{v}" for f, v in INVALID])
def test_add_invalid_names_value(admin_member_client, form_data, field, value):
    response = admin_member_client.post(CREATE_URL, {**form_data, field: value})
    assert response.status_code == 200
    assert escape(value.split()[-1]) in response.content.decode()
    assert field in response.context["form"].errors
    assert not Account.objects.exists()


def test_add_long_external_id_names_start(admin_member_client, form_data):
    response = admin_member_client.post(CREATE_URL, {**form_data, "external_id": "z" * 1225})
    errors = " ".join(response.context["form"].errors["external_id"])
    assert "z" * 77 + "..." in errors
    assert not Account.objects.exists()


def test_add_invalid_keeps_input(admin_member_client, form_data):
    response = admin_member_client.post(CREATE_URL, {**form_data, "account_id": "12345"})
    assert escape(form_data["role_arn"]) in response.content.decode()


def test_admin_opens_edit_form(admin_member_client):
    account = _registered()
    response = admin_member_client.get(_url("account-update", account))
    assert response.status_code == 200
    assert EXTERNAL_ID in response.content.decode()


def test_admin_edits_account(admin_member_client, form_data):
    account = _registered()
    response = admin_member_client.post(
        _url("account-update", account), {**form_data, "name": "Prod EU", "regions": "eu-west-1"}
    )
    account.refresh_from_db()
    assert response.status_code == 302
    assert account.name == "Prod EU"
    assert account.regions == ["eu-west-1"]


def test_edit_invalid_saves_nothing(admin_member_client, form_data):
    account = _registered()
    response = admin_member_client.post(
        _url("account-update", account), {**form_data, "name": "Prod EU", "external_id": "x"}
    )
    assert response.status_code == 200
    assert Account.objects.get(pk=account.pk).name == "Production"


def test_edit_ignores_account_id_once_scanned(admin_member_client, form_data):
    account = _registered()
    AccountScanFactory(account=account)
    admin_member_client.post(
        _url("account-update", account),
        {**form_data, "account_id": "222222222222", "role_arn": "arn:aws:iam::222222222222:role/ReadOnly"},
    )
    assert Account.objects.get(pk=account.pk).account_id == ACCOUNT_ID


# Verify


def test_admin_verifies_role(admin_member_client, mock_aws_env):
    account = _registered()
    response = admin_member_client.post(_url("account-verify", account), follow=True)
    account.refresh_from_db()
    assert account.verification_ok is True
    assert account.verification_message in response.content.decode()


def test_verify_sends_registered_external_id(admin_member_client, mock_aws_env):
    account = _registered()
    admin_member_client.post(_url("account-verify", account))
    assert sts_backends[ACCOUNT_ID]["aws"].assumed_roles[-1].external_id == EXTERNAL_ID


def test_verify_denied_shows_error_code(admin_member_client, mock_aws_env, aws_fakes):
    aws_fakes.deny("sts", "AssumeRole")
    account = _registered()
    response = admin_member_client.post(_url("account-verify", account), follow=True)
    account.refresh_from_db()
    assert account.verification_ok is False
    assert "AccessDenied" in response.content.decode()


def test_verify_redirects_to_detail(admin_member_client, mock_aws_env):
    account = _registered()
    response = admin_member_client.post(_url("account-verify", account))
    assert response.status_code == 302
    assert response.url == _url("account-detail", account)


def test_verify_page_shows_no_credentials(admin_member_client, mock_aws_env):
    account = _registered()
    content = admin_member_client.post(_url("account-verify", account), follow=True).content.decode()
    assumed = sts_backends[ACCOUNT_ID]["aws"].assumed_roles[-1]
    assert assumed.secret_access_key not in content
    assert assumed.session_token not in content


# List and detail content


def test_list_empty_regions_read_all_enabled(viewer_client):
    AccountFactory(regions=[])
    assert "all enabled" in viewer_client.get(LIST_URL).content.decode()


def test_list_shows_regions(viewer_client):
    AccountFactory(regions=["eu-west-1", "eu-central-1"])
    assert "eu-west-1, eu-central-1" in viewer_client.get(LIST_URL).content.decode()


def test_list_shows_verification_result(viewer_client):
    AccountFactory(verified_at=timezone.now(), verification_ok=False)
    assert "failed" in viewer_client.get(LIST_URL).content.decode()


def test_list_shows_latest_scan_state(viewer_client):
    account = AccountFactory()
    older = ScanFactory(scanned_at=timezone.now() - timezone.timedelta(days=1))
    AccountScanFactory(account=account, scan=older, state=AccountScan.State.COMPLETED)
    AccountScanFactory(account=account, state=AccountScan.State.FAILED)
    response = viewer_client.get(LIST_URL)
    listed = response.context["accounts"][0]
    assert listed.latest_scans[0].state == AccountScan.State.FAILED


def test_list_never_scanned(viewer_client):
    AccountFactory()
    assert "never scanned" in viewer_client.get(LIST_URL).content.decode()


def test_list_queries_do_not_grow_per_row(viewer_client, django_assert_max_num_queries):
    AccountScanFactory()
    with django_assert_max_num_queries(50) as one_row:
        viewer_client.get(LIST_URL)
    for _ in range(5):
        AccountScanFactory()
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        viewer_client.get(LIST_URL)


def test_detail_lists_recent_scans(viewer_client):
    account = _registered()
    AccountScanFactory(account=account, state=AccountScan.State.FAILED, error_code="AccessDenied")
    content = viewer_client.get(_url("account-detail", account)).content.decode()
    assert "AccessDenied" in content


def test_detail_leaves_out_other_accounts_scans(viewer_client):
    account = _registered()
    AccountScanFactory(error_code="OtherAccountError")
    content = viewer_client.get(_url("account-detail", account)).content.decode()
    assert "OtherAccountError" not in content
