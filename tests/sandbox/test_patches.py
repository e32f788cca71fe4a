"""The sandbox's fills for what moto does not simulate, checked through the AWS APIs in-process."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sandbox import patches

ACCOUNT = "111122223333"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def sandbox():
    with mock_aws(), patches.installed() as state:
        state.clock = NOW
        yield state


def _client(service: str, region: str = "us-east-1", role: str = "Admin", external_id: str | None = None):
    kwargs = {"ExternalId": external_id} if external_id else {}
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="test-session", **kwargs
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _credential_report(iam) -> tuple[dict, list[str]]:
    iam.generate_credential_report()
    report = iam.get_credential_report()
    return report, report["Content"].decode().splitlines()


def test_credential_report_has_root_row_first(sandbox):
    sandbox.roots[ACCOUNT] = patches.RootUser(created_at=NOW - dt.timedelta(days=900), mfa="hardware")
    iam = _client("iam")
    iam.create_user(UserName="alice")
    _, lines = _credential_report(iam)
    assert lines[1].startswith(f"<root_account>,arn:aws:iam::{ACCOUNT}:root,")


def test_credential_report_root_row_values(sandbox):
    sandbox.roots[ACCOUNT] = patches.RootUser(
        created_at=NOW - dt.timedelta(days=900),
        mfa="none",
        password_last_used_at=dt.datetime(2026, 2, 27, 8, 30, tzinfo=dt.UTC),
        access_key_created_at=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    )
    _, lines = _credential_report(_client("iam"))
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert row["password_last_used"] == "2026-02-27T08:30:00+00:00"
    assert row["mfa_active"] == "false"
    assert row["access_key_1_active"] == "true"
    assert row["access_key_1_last_rotated"] == "2024-01-02T00:00:00+00:00"
    assert row["access_key_1_last_used_date"] == "N/A"


def test_credential_report_root_row_optional(sandbox):
    _, lines = _credential_report(_client("iam"))
    assert not any(line.startswith("<root_account>") for line in lines)


def test_credential_report_generated_time_follows_clock(sandbox):
    report, _ = _credential_report(_client("iam"))
    assert report["GeneratedTime"] == NOW


def test_account_summary_reflects_root(sandbox):
    sandbox.roots[ACCOUNT] = patches.RootUser(
        created_at=NOW, mfa="virtual", access_key_created_at=NOW - dt.timedelta(days=10)
    )
    summary = _client("iam").get_account_summary()["SummaryMap"]
    assert summary["AccountMFAEnabled"] == 1
    assert summary["AccountAccessKeysPresent"] == 1


def test_bucket_versioning_keeps_mfa_delete(sandbox):
    s3 = _client("s3")
    s3.create_bucket(Bucket="trail-logs-with-mfa")
    s3.put_bucket_versioning(
        Bucket="trail-logs-with-mfa",
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA=f"arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device 123456",
    )
    versioning = s3.get_bucket_versioning(Bucket="trail-logs-with-mfa")
    assert versioning["Status"] == "Enabled"
    assert versioning["MFADelete"] == "Enabled"


def test_bucket_versioning_without_mfa_delete(sandbox):
    s3 = _client("s3")
    s3.create_bucket(Bucket="trail-logs-plain")
    s3.put_bucket_versioning(Bucket="trail-logs-plain", VersioningConfiguration={"Status": "Enabled"})
    assert "MFADelete" not in s3.get_bucket_versioning(Bucket="trail-logs-plain")


def _trail_with_cloudwatch(role_name: str) -> str:
    _client("s3").create_bucket(Bucket="trail-bucket-cw")
    _client("logs").create_log_group(logGroupName="trail-group")
    cloudtrail = _client("cloudtrail")
    cloudtrail.create_trail(
        Name="audit-trail",
        S3BucketName="trail-bucket-cw",
        IsMultiRegionTrail=True,
        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:trail-group:*",
        CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
    )
    cloudtrail.start_logging(Name="audit-trail")
    return f"arn:aws:iam::{ACCOUNT}:role/{role_name}"


def test_trail_status_has_recent_cloudwatch_delivery(sandbox):
    _trail_with_cloudwatch("trail-to-logs")
    status = _client("cloudtrail").get_trail_status(Name="audit-trail")
    assert NOW - status["LatestCloudWatchLogsDeliveryTime"] < dt.timedelta(hours=1)


def test_trail_status_stalled_role_keeps_old_delivery(sandbox):
    role_arn = _trail_with_cloudwatch("broken-role")
    sandbox.stalled_cloudwatch_roles[role_arn] = NOW - dt.timedelta(days=6)
    status = _client("cloudtrail", "eu-west-1").get_trail_status(
        Name=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/audit-trail"
    )
    assert status["LatestCloudWatchLogsDeliveryTime"] == NOW - dt.timedelta(days=6)


def test_trail_status_without_cloudwatch_has_no_delivery_time(sandbox):
    _client("s3").create_bucket(Bucket="trail-bucket-plain")
    cloudtrail = _client("cloudtrail")
    cloudtrail.create_trail(Name="plain-trail", S3BucketName="trail-bucket-plain")
    cloudtrail.start_logging(Name="plain-trail")
    assert "LatestCloudWatchLogsDeliveryTime" not in cloudtrail.get_trail_status(Name="plain-trail")


def _scanner_role(external_id: str) -> None:
    _client("iam").create_role(
        RoleName="Scanner",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                    }
                ],
            }
        ),
    )


def test_sealed_account_accepts_right_external_id(sandbox):
    _scanner_role("expected-id")
    sandbox.sealed_accounts.add(ACCOUNT)
    identity = _client("sts", role="Scanner", external_id="expected-id").get_caller_identity()
    assert identity["Account"] == ACCOUNT


@pytest.mark.parametrize("external_id", ["wrong-id", None])
def test_sealed_account_rejects_other_external_id(sandbox, external_id):
    _scanner_role("expected-id")
    sandbox.sealed_accounts.add(ACCOUNT)
    with pytest.raises(ClientError) as error:
        _client("sts", role="Scanner", external_id=external_id)
    assert error.value.response["Error"]["Code"] == "AccessDenied"


def test_sealed_account_rejects_missing_role(sandbox):
    sandbox.sealed_accounts.add(ACCOUNT)
    with pytest.raises(ClientError) as error:
        _client("sts", role="NoSuchRole")
    assert error.value.response["Error"]["Code"] == "AccessDenied"


def test_unsealed_account_accepts_any_role(sandbox):
    assert _client("sts", role="NotCreatedYet").get_caller_identity()["Account"] == ACCOUNT


def test_unsealed_account_denied_after_demo_closes(sandbox):
    sandbox.deny_unsealed = True
    with pytest.raises(ClientError) as error:
        _client("sts", role="AnyRole")
    assert error.value.response["Error"]["Code"] == "AccessDenied"


def test_image_block_public_access_round_trip(sandbox):
    ec2 = _client("ec2", "eu-west-1")
    before = ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"]
    ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    after = ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"]
    assert (before, after) == ("unblocked", "block-new-sharing")


def test_image_block_public_access_is_per_region(sandbox):
    _client("ec2", "eu-west-1").enable_image_block_public_access(
        ImageBlockPublicAccessState="block-new-sharing"
    )
    state = _client("ec2", "us-east-1").get_image_block_public_access_state()
    assert state["ImageBlockPublicAccessState"] == "unblocked"


def test_backdated_access_key_shows_in_api(sandbox):
    iam = _client("iam")
    iam.create_user(UserName="deployer")
    key_id = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    used = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    patches.iam_access_key_backdate(
        ACCOUNT, "deployer", key_id, created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), last_used_at=used
    )
    assert iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]["LastUsedDate"] == used
    listed = iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"][0]["CreateDate"]
    assert listed == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_backdated_sign_in_shows_in_api(sandbox):
    iam = _client("iam")
    iam.create_user(UserName="console-user")
    patches.iam_user_backdate(ACCOUNT, "console-user", password_last_used_at=NOW - dt.timedelta(days=120))
    user = iam.get_user(UserName="console-user")["User"]
    assert user["PasswordLastUsed"] == NOW - dt.timedelta(days=120)


def test_patches_removed_on_exit():
    with mock_aws():
        with patches.installed() as state:
            state.sealed_accounts.add(ACCOUNT)
        # Outside the block moto is plain again: any role in any account can be assumed.
        assert _client("sts", role="Anything").get_caller_identity()["Account"] == ACCOUNT


def test_state_reset_on_exit():
    with mock_aws():
        with patches.installed() as state:
            state.sealed_accounts.add(ACCOUNT)
        assert patches.state.sealed_accounts == set()


def test_installed_twice_raises():
    with mock_aws(), patches.installed():
        with pytest.raises(RuntimeError):
            with patches.installed():
                pass
