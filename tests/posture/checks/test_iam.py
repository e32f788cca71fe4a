from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from django.utils import timezone
from moto.ec2.models import ec2_backends
from moto.iam.models import AccessKeyLastUsed, IAMBackend, iam_backends

import posture.aws.collectors as collectors_module
from posture.checks.base import Status
from tests.aws import aws_account, check_results, collect, evaluate

ACCOUNT = "111111111111"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ACCOUNT_RESOURCE = f"arn:aws::{ACCOUNT}:account"
REGION = "us-east-1"

# A root row as AWS writes it for a root user with a password, MFA and no access keys.
ROOT_DEFAULTS = {
    "user": "<root_account>",
    "arn": ROOT_ARN,
    "user_creation_time": "2020-01-01T00:00:00+00:00",
    "password_enabled": "not_supported",
    "password_last_used": "no_information",
    "password_last_changed": "not_supported",
    "password_next_rotation": "not_supported",
    "mfa_active": "true",
    "access_key_1_active": "false",
    "access_key_1_last_rotated": "N/A",
    "access_key_1_last_used_date": "N/A",
    "access_key_1_last_used_region": "N/A",
    "access_key_1_last_used_service": "N/A",
    "access_key_2_active": "false",
    "access_key_2_last_rotated": "N/A",
    "access_key_2_last_used_date": "N/A",
    "access_key_2_last_used_region": "N/A",
    "access_key_2_last_used_service": "N/A",
    "cert_1_active": "false",
    "cert_1_last_rotated": "N/A",
    "cert_2_active": "false",
    "cert_2_last_rotated": "N/A",
}


# Helpers.
def days_ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def moto_time(days: int) -> dt.datetime:
    """A time `days` ago in moto's own form (naive UTC)."""
    return days_ago(days).astimezone(dt.UTC).replace(tzinfo=None)


def csv_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return str(value)


def backend():
    return iam_backends[ACCOUNT]["aws"]


def only(results):
    assert len(results) == 1, results
    return results[0]


def result_for(results, resource_id):
    matches = [r for r in results if r.resource_id == resource_id]
    assert len(matches) == 1, results
    return matches[0]


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def key_pair_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:ec2:{region}:{ACCOUNT}:key-pair/{name}"


@pytest.fixture(autouse=True)
def iam_collectors_only(monkeypatch):
    """Run only the collectors these checks read, which keeps each test's scan short."""
    every_collector = collectors_module.collectors

    def selected(phase):
        return [c for c in every_collector(phase) if c.name in ("iam", "ec2_keys")]

    monkeypatch.setattr(collectors_module, "collectors", selected)


@pytest.fixture
def session(mock_aws_env):
    return aws_account.session(ACCOUNT)


@pytest.fixture
def iam(session):
    return session.client("iam", region_name=REGION)


@pytest.fixture
def ec2(session):
    return session.client("ec2", region_name=REGION)


@pytest.fixture
def make_user(iam):
    def make(name: str, *, password: bool = False, keys: int = 0, mfa: bool = False):
        iam.create_user(UserName=name)
        if password:
            iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-1")
        for _ in range(keys):
            iam.create_access_key(UserName=name)
        if mfa:
            device = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")
            iam.enable_mfa_device(
                UserName=name,
                SerialNumber=device["VirtualMFADevice"]["SerialNumber"],
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        return backend().users[name]

    return make


@pytest.fixture
def root_row(monkeypatch):
    """Add a `<root_account>` row to moto's credential report (moto writes none)."""
    original = IAMBackend.get_credential_report

    def install(**columns) -> None:
        values = {**ROOT_DEFAULTS, **{name: csv_value(value) for name, value in columns.items()}}

        def with_root(self) -> str:
            header, _, rows = original(self).partition("\n")
            line = ",".join(values[column] for column in header.split(","))
            return f"{header}\n{line}\n{rows}"

        monkeypatch.setattr(IAMBackend, "get_credential_report", with_root)

    return install


def assign_root_virtual_mfa(iam, name: str = "authenticator") -> str:
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
    device = backend().virtual_mfa_devices[serial]
    device.enable_date = moto_time(1)
    device.user = SimpleNamespace(
        path="/", name="root", id=ACCOUNT, arn=ROOT_ARN, create_date=moto_time(900), tags=[]
    )
    return serial


# root_mfa
def test_root_mfa_hardware_passes(iam, root_row):
    root_row(mfa_active=True)
    backend().account_summary._account_mfa_enabled = 1
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["mfa_type"] == "hardware"


def test_root_mfa_virtual_device_named_in_evidence(iam, root_row):
    root_row(mfa_active=True)
    backend().account_summary._account_mfa_enabled = 1
    serial = assign_root_virtual_mfa(iam)
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.evidence["mfa_type"] == "virtual"
    assert result.evidence["virtual_mfa_serial"] == serial


def test_root_mfa_missing_fails(iam, root_row):
    root_row(mfa_active=False)
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.resource_id == ACCOUNT_RESOURCE


def test_root_mfa_without_root_row_uses_summary(iam):
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["AccountMFAEnabled"] == 0


def test_root_mfa_summary_wins_over_stale_report(iam, root_row):
    root_row(mfa_active=False)
    backend().account_summary._account_mfa_enabled = 1
    assert only(check_results("root_mfa", ACCOUNT)).status == Status.PASS


def test_root_mfa_centrally_managed_not_applicable(iam, root_row):
    root_row(password_enabled=False, mfa_active=False)
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE
    assert result.resource_id == ACCOUNT_RESOURCE


def test_root_mfa_inactive_key_not_applicable(iam, root_row):
    root_row(password_enabled=False, mfa_active=False, access_key_1_last_rotated=days_ago(400))
    assert only(check_results("root_mfa", ACCOUNT)).status == Status.NOT_APPLICABLE


def test_root_mfa_active_key_needs_mfa(iam, root_row):
    root_row(password_enabled=False, mfa_active=False, access_key_1_active=True)
    assert only(check_results("root_mfa", ACCOUNT)).status == Status.FAIL


def test_root_mfa_denied_unknown(iam, aws_fakes):
    aws_fakes.deny("iam", "GetAccountSummary")
    aws_fakes.deny("iam", "GenerateCredentialReport")
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_root_mfa_no_report_and_no_mfa_unknown(iam, aws_fakes):
    # Without the report, no MFA could also mean no root credentials at all.
    aws_fakes.deny("iam", "GetCredentialReport")
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["operation"] == "iam:GetCredentialReport"


def test_root_mfa_device_name_ignored(iam, root_row, make_user):
    # A device called "root-account-mfa-device" assigned to an IAM user called "root" is not root's.
    root_row(mfa_active=True)
    backend().account_summary._account_mfa_enabled = 1
    make_user("root")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="root-account-mfa-device")
    iam.enable_mfa_device(
        UserName="root",
        SerialNumber=serial["VirtualMFADevice"]["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    assert only(check_results("root_mfa", ACCOUNT)).evidence["mfa_type"] == "hardware"


def test_root_mfa_report_time_in_evidence(iam, aws_fakes):
    generated = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    header = ",".join(ROOT_DEFAULTS)
    root = ",".join(ROOT_DEFAULTS.values())
    aws_fakes.add(
        "iam",
        "GetCredentialReport",
        lambda params: {
            "Content": f"{header}\n{root}\n".encode(),
            "ReportFormat": "text/csv",
            "GeneratedTime": generated,
        },
    )
    backend().account_summary._account_mfa_enabled = 1
    result = only(check_results("root_mfa", ACCOUNT))
    assert result.evidence["report_generated_time"] == generated.isoformat()


# iam_user_console_mfa
def test_console_mfa_passes(make_user):
    make_user("alice", password=True, mfa=True)
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.status == Status.PASS
    assert result.resource_id == user_arn("alice")


def test_console_mfa_missing_fails(make_user):
    make_user("alice", password=True)
    assert only(check_results("iam_user_console_mfa", ACCOUNT)).status == Status.FAIL


def test_console_mfa_api_user_not_applicable(make_user):
    make_user("deployer", keys=1)
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE
    assert result.region == "global"


def test_console_mfa_denied_unknown(make_user, aws_fakes):
    make_user("alice", password=True)
    aws_fakes.deny("iam", "GetCredentialReport")
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_console_mfa_user_named_root_is_a_user(make_user, root_row):
    root_row(mfa_active=True)
    make_user("root", password=True)
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.resource_id == user_arn("root")
    assert result.status == Status.FAIL


def test_console_mfa_root_row_not_judged_as_user(iam, root_row):
    root_row(mfa_active=False)
    assert only(check_results("iam_user_console_mfa", ACCOUNT)).status == Status.NOT_APPLICABLE


# iam_user_single_access_mode
def test_single_access_mode_console_only_passes(make_user):
    make_user("alice", password=True)
    assert only(check_results("iam_user_single_access_mode", ACCOUNT)).status == Status.PASS


def test_single_access_mode_api_only_passes(make_user):
    make_user("deployer", keys=1)
    assert only(check_results("iam_user_single_access_mode", ACCOUNT)).status == Status.PASS


def test_single_access_mode_both_fails(make_user):
    make_user("alice", password=True, keys=1)
    result = only(check_results("iam_user_single_access_mode", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["access_key_1_active"] is True


def test_single_access_mode_inactive_key_passes(make_user):
    user = make_user("alice", password=True, keys=1)
    user.access_keys[0].status = "Inactive"
    assert only(check_results("iam_user_single_access_mode", ACCOUNT)).status == Status.PASS


def test_single_access_mode_no_users_not_applicable(iam):
    result = only(check_results("iam_user_single_access_mode", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE


def test_single_access_mode_denied_unknown(make_user, aws_fakes):
    make_user("alice", password=True, keys=1)
    aws_fakes.deny("iam", "GenerateCredentialReport")
    result = only(check_results("iam_user_single_access_mode", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# iam_user_no_direct_policies
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}'


def test_no_direct_policies_group_member_passes(iam, make_user):
    make_user("alice")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.status == Status.PASS
    assert result.resource_id == user_arn("alice")


def test_no_direct_policies_inline_fails(iam, make_user):
    make_user("alice")
    iam.put_user_policy(UserName="alice", PolicyName="read-s3", PolicyDocument=POLICY)
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["inline_policies"] == ["read-s3"]


def test_no_direct_policies_attached_fails(iam, make_user):
    make_user("alice")
    policy = iam.create_policy(PolicyName="read-s3", PolicyDocument=POLICY)["Policy"]
    iam.attach_user_policy(UserName="alice", PolicyArn=policy["Arn"])
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["attached_policies"] == [policy["Arn"]]


def test_no_direct_policies_no_users_not_applicable(iam):
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE


def test_no_direct_policies_denied_unknown(make_user, aws_fakes):
    make_user("alice")
    aws_fakes.deny("iam", "GetAccountAuthorizationDetails")
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_no_direct_policies_reads_every_page(make_user, aws_fakes):
    make_user("alice")
    make_user("bob")

    def detail(name: str, policies: list[dict]) -> dict:
        return {
            "UserName": name,
            "UserId": f"AIDA{name.upper()}",
            "Arn": user_arn(name),
            "Path": "/",
            "CreateDate": days_ago(10),
            "GroupList": [],
            "UserPolicyList": [],
            "AttachedManagedPolicies": policies,
        }

    pages = {
        None: {
            "UserDetailList": [detail("alice", [])],
            "GroupDetailList": [],
            "IsTruncated": True,
            "Marker": "page-2",
        },
        "page-2": {
            "UserDetailList": [
                detail("bob", [{"PolicyName": "admin", "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/admin"}])
            ],
            "GroupDetailList": [],
            "IsTruncated": False,
        },
    }
    aws_fakes.add("iam", "GetAccountAuthorizationDetails", lambda params: pages[params.get("Marker")])
    results = check_results("iam_user_no_direct_policies", ACCOUNT)
    assert result_for(results, user_arn("alice")).status == Status.PASS
    assert result_for(results, user_arn("bob")).status == Status.FAIL


# iam_access_key_rotation
def test_key_rotation_recent_key_passes(make_user):
    make_user("deployer", keys=1)
    result = only(check_results("iam_access_key_rotation", ACCOUNT))
    assert result.status == Status.PASS
    assert result.resource_id == f"{user_arn('deployer')}#access_key_1"


def test_key_rotation_old_key_fails(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(200)
    result = only(check_results("iam_access_key_rotation", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["max_age_days"] == 90


def test_key_rotation_judges_each_key(make_user):
    user = make_user("deployer", keys=2)
    user.access_keys[0].create_date = moto_time(200)
    results = check_results("iam_access_key_rotation", ACCOUNT)
    assert result_for(results, f"{user_arn('deployer')}#access_key_1").status == Status.FAIL
    assert result_for(results, f"{user_arn('deployer')}#access_key_2").status == Status.PASS


def test_key_rotation_inactive_key_not_judged(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(200)
    user.access_keys[0].status = "Inactive"
    assert only(check_results("iam_access_key_rotation", ACCOUNT)).status == Status.NOT_APPLICABLE


def test_key_rotation_threshold_applies(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(45)
    result = only(check_results("iam_access_key_rotation", ACCOUNT, max_age_days=30))
    assert result.status == Status.FAIL


def test_key_rotation_denied_unknown(make_user, aws_fakes):
    make_user("deployer", keys=1)
    aws_fakes.deny("iam", "GetCredentialReport")
    result = only(check_results("iam_access_key_rotation", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# iam_password_policy
STRONG_POLICY = {
    "MinimumPasswordLength": 14,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "PasswordReusePrevention": 24,
    "MaxPasswordAge": 90,
}


def test_password_policy_strong_passes(iam):
    iam.update_account_password_policy(**STRONG_POLICY)
    result = only(check_results("iam_password_policy", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["failed_requirements"] == []


def test_password_policy_missing_fails(iam):
    result = only(check_results("iam_password_policy", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["failed_requirements"] == ["no password policy"]


def test_password_policy_lists_each_failure(iam):
    iam.update_account_password_policy(**{**STRONG_POLICY, "MinimumPasswordLength": 8, "MaxPasswordAge": 30})
    result = only(check_results("iam_password_policy", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["failed_requirements"] == [
        "minimum length below 14",
        "maximum age below 90 days",
    ]


def test_password_policy_without_expiry_fails(iam):
    iam.update_account_password_policy(**{k: v for k, v in STRONG_POLICY.items() if k != "MaxPasswordAge"})
    result = only(check_results("iam_password_policy", ACCOUNT))
    assert result.evidence["failed_requirements"] == ["passwords never expire"]


def test_password_policy_long_max_age_passes(iam):
    iam.update_account_password_policy(**{**STRONG_POLICY, "MaxPasswordAge": 365})
    assert only(check_results("iam_password_policy", ACCOUNT)).status == Status.PASS


def test_password_policy_thresholds_apply(iam):
    iam.update_account_password_policy(**{**STRONG_POLICY, "MinimumPasswordLength": 12})
    result = only(check_results("iam_password_policy", ACCOUNT, min_length=12))
    assert result.status == Status.PASS
    assert result.evidence["min_length"] == 12


def test_password_policy_denied_unknown(iam, aws_fakes):
    aws_fakes.deny("iam", "GetAccountPasswordPolicy")
    result = only(check_results("iam_password_policy", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# root_account_usage
def test_root_usage_old_sign_in_passes(iam, root_row):
    root_row(password_last_used=days_ago(200))
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["unused_days"] == 90


def test_root_usage_recent_sign_in_fails(iam, root_row):
    root_row(password_last_used=days_ago(5))
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["used_recently"] == ["password_last_used"]


def test_root_usage_recent_key_use_fails(iam, root_row):
    root_row(
        access_key_2_active=True,
        access_key_2_last_rotated=days_ago(300),
        access_key_2_last_used_date=days_ago(10),
    )
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.evidence["used_recently"] == ["access_key_2_last_used_date"]


def test_root_usage_never_values_pass(iam, root_row):
    # no_information and N/A mean "never", not a date.
    root_row(password_last_used="no_information", access_key_1_last_used_date="N/A")
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["password_last_used"] is None


def test_root_usage_missing_root_row_unknown(iam):
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert "<root_account>" in result.reason


def test_root_usage_denied_unknown(iam, aws_fakes):
    aws_fakes.deny("iam", "GenerateCredentialReport")
    result = only(check_results("root_account_usage", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# root_access_keys
def test_root_keys_none_passes(iam, root_row):
    root_row()
    result = only(check_results("root_access_keys", ACCOUNT))
    assert result.status == Status.PASS
    assert result.resource_id == ACCOUNT_RESOURCE


def test_root_keys_active_key_fails(iam, root_row):
    root_row(access_key_1_active=True, access_key_1_last_rotated=days_ago(30))
    backend().account_summary._account_access_keys_present = 1
    assert only(check_results("root_access_keys", ACCOUNT)).status == Status.FAIL


def test_root_keys_summary_alone_fails(iam):
    backend().account_summary._account_access_keys_present = 1
    result = only(check_results("root_access_keys", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["AccountAccessKeysPresent"] == 1


def test_root_keys_inactive_key_passes(iam, root_row):
    root_row(access_key_1_active=False, access_key_1_last_rotated=days_ago(300))
    backend().account_summary._account_access_keys_present = 1
    assert only(check_results("root_access_keys", ACCOUNT)).status == Status.PASS


def test_root_keys_denied_unknown(iam, aws_fakes):
    aws_fakes.deny("iam", "GetAccountSummary")
    result = only(check_results("root_access_keys", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_root_keys_report_decides_when_summary_denied(iam, root_row, aws_fakes):
    root_row(access_key_1_active=True, access_key_1_last_rotated=days_ago(30))
    aws_fakes.deny("iam", "GetAccountSummary")
    assert only(check_results("root_access_keys", ACCOUNT)).status == Status.FAIL


# ssh_key_rotation
SSH_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDZexample alice@example"


def upload_ssh_key(iam, user: str) -> str:
    response = iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=SSH_KEY)
    return response["SSHPublicKey"]["SSHPublicKeyId"]


def test_ssh_rotation_new_keys_pass(iam, ec2, make_user):
    make_user("alice")
    key_id = upload_ssh_key(iam, "alice")
    ec2.create_key_pair(KeyName="ops")
    results = check_results("ssh_key_rotation", ACCOUNT)
    iam_key = result_for(results, f"{user_arn('alice')}#ssh_public_key/{key_id}")
    pair = result_for(results, key_pair_arn("ops"))
    assert iam_key.status == Status.PASS
    assert iam_key.region == "global"
    assert pair.status == Status.PASS
    assert pair.region == REGION


def test_ssh_rotation_old_iam_key_fails(iam, make_user):
    user = make_user("alice")
    upload_ssh_key(iam, "alice")
    user.ssh_public_keys[0].upload_date = moto_time(200)
    results = check_results("ssh_key_rotation", ACCOUNT)
    result = only([r for r in results if r.region == "global"])
    assert result.status == Status.FAIL
    assert result.resource_type == "IAM SSH public key"


def test_ssh_rotation_old_key_pair_fails(ec2):
    ec2.create_key_pair(KeyName="ops")
    ec2_backends[ACCOUNT][REGION].key_pairs["ops"].create_time = moto_time(200)
    result = only(check_results("ssh_key_rotation", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["max_age_days"] == 90


def test_ssh_rotation_inactive_iam_key_not_judged(iam, make_user):
    user = make_user("alice")
    key_id = upload_ssh_key(iam, "alice")
    iam.update_ssh_public_key(UserName="alice", SSHPublicKeyId=key_id, Status="Inactive")
    user.ssh_public_keys[0].upload_date = moto_time(200)
    result = only(check_results("ssh_key_rotation", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE


def test_ssh_rotation_no_keys_not_applicable(ec2):
    result = only(check_results("ssh_key_rotation", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE
    assert result.region == REGION


def test_ssh_rotation_key_pairs_denied_unknown(ec2, aws_fakes):
    ec2.create_key_pair(KeyName="ops")
    aws_fakes.deny("ec2", "DescribeKeyPairs", code="UnauthorizedOperation")
    result = only(check_results("ssh_key_rotation", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "UnauthorizedOperation"


def test_ssh_rotation_iam_listing_denied_unknown(iam, make_user, aws_fakes):
    make_user("alice")
    upload_ssh_key(iam, "alice")
    aws_fakes.deny("iam", "ListSSHPublicKeys")
    results = check_results("ssh_key_rotation", ACCOUNT)
    result = result_for(results, f"{user_arn('alice')}#ssh_public_keys")
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# iam_group_unused
def test_group_with_user_passes(iam, make_user):
    make_user("alice")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    result = only(check_results("iam_group_unused", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["users"] == ["alice"]


def test_group_empty_fails(iam):
    iam.create_group(GroupName="unused")
    result = only(check_results("iam_group_unused", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.resource_id == f"arn:aws:iam::{ACCOUNT}:group/unused"


def test_group_none_not_applicable(iam):
    assert only(check_results("iam_group_unused", ACCOUNT)).status == Status.NOT_APPLICABLE


def test_group_denied_unknown(iam, aws_fakes):
    iam.create_group(GroupName="readers")
    aws_fakes.deny("iam", "GetAccountAuthorizationDetails")
    result = only(check_results("iam_group_unused", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# iam_access_key_unused
def test_key_unused_new_key_passes(make_user):
    # Created 3 days ago and never used: new is not stale.
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(3)
    result = only(check_results("iam_access_key_unused", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["access_key_1_last_used_date"] is None


def test_key_unused_old_never_used_fails(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(100)
    result = only(check_results("iam_access_key_unused", ACCOUNT))
    assert result.status == Status.FAIL
    assert "never used" in result.reason


def test_key_unused_recent_use_passes(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(100)
    user.access_keys[0].last_used = AccessKeyLastUsed(timestamp=moto_time(5), service="s3", region=REGION)
    assert only(check_results("iam_access_key_unused", ACCOUNT)).status == Status.PASS


def test_key_unused_old_use_fails(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(100)
    user.access_keys[0].last_used = AccessKeyLastUsed(timestamp=moto_time(40), service="s3", region=REGION)
    result = only(check_results("iam_access_key_unused", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["max_unused_days"] == 30


def test_key_unused_inactive_key_not_judged(make_user):
    user = make_user("deployer", keys=1)
    user.access_keys[0].create_date = moto_time(100)
    user.access_keys[0].status = "Inactive"
    assert only(check_results("iam_access_key_unused", ACCOUNT)).status == Status.NOT_APPLICABLE


def test_key_unused_denied_unknown(make_user, aws_fakes):
    make_user("deployer", keys=1)
    aws_fakes.deny("iam", "GetCredentialReport")
    result = only(check_results("iam_access_key_unused", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# iam_user_inactive
def test_user_inactive_new_user_passes(make_user):
    make_user("alice", password=True)
    result = only(check_results("iam_user_inactive", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["password_last_used"] is None


def test_user_inactive_never_signed_in_fails(make_user):
    user = make_user("alice", password=True)
    user.create_date = moto_time(200)
    result = only(check_results("iam_user_inactive", ACCOUNT))
    assert result.status == Status.FAIL
    assert "never signed in" in result.reason


def test_user_inactive_recent_sign_in_passes(make_user):
    user = make_user("alice", password=True)
    user.create_date = moto_time(200)
    user.password_last_used = moto_time(10)
    assert only(check_results("iam_user_inactive", ACCOUNT)).status == Status.PASS


def test_user_inactive_old_sign_in_fails(make_user):
    user = make_user("alice", password=True)
    user.create_date = moto_time(300)
    user.password_last_used = moto_time(120)
    result = only(check_results("iam_user_inactive", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["max_inactive_days"] == 90


def test_user_inactive_api_user_not_applicable(make_user):
    user = make_user("deployer", keys=1)
    user.create_date = moto_time(300)
    assert only(check_results("iam_user_inactive", ACCOUNT)).status == Status.NOT_APPLICABLE


def test_user_inactive_denied_unknown(make_user, aws_fakes):
    make_user("alice", password=True)
    aws_fakes.deny("iam", "GenerateCredentialReport")
    result = only(check_results("iam_user_inactive", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "AccessDenied"


# ssh_key_unused
def run_instance(ec2, key_name: str) -> str:
    response = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName=key_name)
    return response["Instances"][0]["InstanceId"]


def test_ssh_unused_referenced_key_pair_passes(ec2):
    ec2.create_key_pair(KeyName="ops")
    instance_id = run_instance(ec2, "ops")
    result = only(check_results("ssh_key_unused", ACCOUNT))
    assert result.status == Status.PASS
    assert result.evidence["instances"] == [instance_id]


def test_ssh_unused_unreferenced_key_pair_fails(ec2):
    ec2.create_key_pair(KeyName="ops")
    result = only(check_results("ssh_key_unused", ACCOUNT))
    assert result.status == Status.FAIL
    assert result.resource_id == key_pair_arn("ops")


def test_ssh_unused_terminated_instance_not_a_use(ec2):
    ec2.create_key_pair(KeyName="ops")
    ec2.terminate_instances(InstanceIds=[run_instance(ec2, "ops")])
    assert only(check_results("ssh_key_unused", ACCOUNT)).status == Status.FAIL


def test_ssh_unused_iam_keys_by_status(iam, make_user):
    make_user("alice")
    active = upload_ssh_key(iam, "alice")
    inactive = iam.upload_ssh_public_key(UserName="alice", SSHPublicKeyBody=SSH_KEY + "2")["SSHPublicKey"][
        "SSHPublicKeyId"
    ]
    iam.update_ssh_public_key(UserName="alice", SSHPublicKeyId=inactive, Status="Inactive")
    results = check_results("ssh_key_unused", ACCOUNT)
    assert result_for(results, f"{user_arn('alice')}#ssh_public_key/{active}").status == Status.PASS
    assert result_for(results, f"{user_arn('alice')}#ssh_public_key/{inactive}").status == Status.FAIL


def test_ssh_unused_no_keys_not_applicable(ec2):
    result = only(check_results("ssh_key_unused", ACCOUNT))
    assert result.status == Status.NOT_APPLICABLE


def test_ssh_unused_instances_denied_unknown(ec2, aws_fakes):
    ec2.create_key_pair(KeyName="ops")
    aws_fakes.deny("ec2", "DescribeInstances", code="UnauthorizedOperation")
    result = only(check_results("ssh_key_unused", ACCOUNT))
    assert result.status == Status.UNKNOWN
    assert result.evidence["error"]["code"] == "UnauthorizedOperation"


def test_ssh_unused_reads_every_instance_page(ec2, aws_fakes):
    ec2.create_key_pair(KeyName="ops")
    ec2.create_key_pair(KeyName="batch")

    def reservation(instance_id: str, key_name: str) -> dict:
        return {"Instances": [{"InstanceId": instance_id, "KeyName": key_name}]}

    pages = {
        None: {"Reservations": [reservation("i-1", "ops")], "NextToken": "page-2"},
        "page-2": {"Reservations": [reservation("i-2", "batch")]},
    }
    aws_fakes.add("ec2", "DescribeInstances", lambda params: pages[params.get("NextToken")])
    results = check_results("ssh_key_unused", ACCOUNT)
    assert result_for(results, key_pair_arn("ops")).status == Status.PASS
    assert result_for(results, key_pair_arn("batch")).status == Status.PASS


# Every check
IAM_CHECKS = (
    "root_mfa",
    "iam_user_console_mfa",
    "iam_user_single_access_mode",
    "iam_user_no_direct_policies",
    "iam_access_key_rotation",
    "iam_password_policy",
    "root_account_usage",
    "root_access_keys",
    "ssh_key_rotation",
    "iam_group_unused",
    "iam_access_key_unused",
    "iam_user_inactive",
    "ssh_key_unused",
)


def test_evidence_is_json(iam, ec2, make_user, root_row):
    # Findings store evidence in a JSONField without a custom encoder, so dates must be strings.
    root_row(password_last_used=days_ago(3))
    make_user("alice", password=True, keys=2, mfa=True)
    upload_ssh_key(iam, "alice")
    iam.create_group(GroupName="empty")
    iam.update_account_password_policy(**STRONG_POLICY)
    ec2.create_key_pair(KeyName="ops")
    data = collect(ACCOUNT, [REGION])
    for check_id in IAM_CHECKS:
        for result in evaluate(check_id, data):
            assert json.loads(json.dumps(result.evidence)) == result.evidence, check_id


def test_iam_results_are_global(make_user):
    make_user("alice", password=True, keys=1)
    data = collect(ACCOUNT, [REGION])
    # The SSH key checks also judge EC2 key pairs, which are regional.
    for check_id in set(IAM_CHECKS) - {"ssh_key_rotation", "ssh_key_unused"}:
        assert {r.region for r in evaluate(check_id, data)} == {"global"}, check_id


# Tags in the evidence: users carry their own; access keys and SSH keys carry their user's.
OPS_TAGS = [{"Key": "team", "Value": "ops"}]


def test_report_user_evidence_carries_user_tags(iam, make_user):
    make_user("alice", password=True)
    iam.tag_user(UserName="alice", Tags=OPS_TAGS)
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.evidence["Tags"] == OPS_TAGS


def test_access_key_evidence_carries_user_tags(iam, make_user):
    make_user("deployer", keys=1)
    iam.tag_user(UserName="deployer", Tags=OPS_TAGS)
    result = only(check_results("iam_access_key_rotation", ACCOUNT))
    assert result.evidence["Tags"] == OPS_TAGS


def test_direct_policies_evidence_carries_user_tags(iam, make_user):
    make_user("alice")
    iam.tag_user(UserName="alice", Tags=OPS_TAGS)
    result = only(check_results("iam_user_no_direct_policies", ACCOUNT))
    assert result.evidence["Tags"] == OPS_TAGS


def test_ssh_key_evidence_carries_user_tags(iam, make_user):
    make_user("alice")
    iam.tag_user(UserName="alice", Tags=OPS_TAGS)
    key_id = upload_ssh_key(iam, "alice")
    results = check_results("ssh_key_unused", ACCOUNT)
    result = result_for(results, f"{user_arn('alice')}#ssh_public_key/{key_id}")
    assert result.evidence["Tags"] == OPS_TAGS


def test_key_pair_evidence_carries_tags(ec2):
    ec2.create_key_pair(KeyName="deploy", TagSpecifications=[{"ResourceType": "key-pair", "Tags": OPS_TAGS}])
    result = result_for(check_results("ssh_key_unused", ACCOUNT), key_pair_arn("deploy"))
    assert result.evidence["Tags"] == OPS_TAGS


def test_user_tags_unreadable_still_decides(make_user, aws_fakes):
    make_user("alice", password=True)
    aws_fakes.deny("iam", "GetAccountAuthorizationDetails")
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.status == Status.FAIL


def test_user_tags_unreadable_named_in_evidence(make_user, aws_fakes):
    make_user("alice", password=True)
    aws_fakes.deny("iam", "GetAccountAuthorizationDetails")
    result = only(check_results("iam_user_console_mfa", ACCOUNT))
    assert result.evidence["tags_error"]["code"] == "AccessDenied"
