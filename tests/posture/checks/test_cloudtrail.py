from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from posture.aws import collectors as collector_registry
from posture.aws.inventory import AccountData, Inventory
from posture.checks.base import Status
from posture.checks.cloudtrail import management_event_coverage
from tests.aws import aws_account, check_results, error_response, evaluate, statuses

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "999999999999"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
BUCKET = "trail-logs-111111111111"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
ALL_MANAGEMENT = [{"ReadWriteType": "All", "IncludeManagementEvents": True}]
ORG_TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{OTHER_ACCOUNT}:trail/org-trail"
ORG_BUCKET = "org-trail-logs"


def region_resource(region: str) -> str:
    return f"arn:aws::{ACCOUNT}:account/{region}"


ACCOUNT_RESOURCE = f"arn:aws::{ACCOUNT}:account"


@pytest.fixture(autouse=True)
def only_trail_collectors(monkeypatch):
    """Run only the collectors these checks read, which keeps each test well under a second."""
    keep = {"cloudtrail", "cloudtrail_remote_trails", "s3", "s3_trail_buckets"}
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name in keep]
    )


# Seeding.
class Seeder:
    """Clients inside ACCOUNT from one assumed-role session, so each service model loads once a test."""

    def __init__(self) -> None:
        self.session = aws_account.session(ACCOUNT)
        self.clients: dict[tuple[str, str], object] = {}

    def client(self, service: str, region: str = REGION):
        if (service, region) not in self.clients:
            self.clients[(service, region)] = self.session.client(service, region_name=region)
        return self.clients[(service, region)]


@pytest.fixture
def account(mock_aws_env) -> Seeder:
    return Seeder()


def create_bucket(account: Seeder, name: str = BUCKET, region: str = REGION) -> None:
    s3 = account.client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def create_trail(
    account: Seeder,
    name: str = "main-trail",
    *,
    region: str = REGION,
    bucket: str = BUCKET,
    multi_region: bool = True,
    logging: bool = True,
    selectors: list[dict] | None = ALL_MANAGEMENT,
    **options,
) -> str:
    """Create a trail (and its bucket when missing) and return its ARN."""
    s3 = account.client("s3", region)
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        create_bucket(account, bucket, region)
    cloudtrail = account.client("cloudtrail", region)
    arn = cloudtrail.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=multi_region, **options)[
        "TrailARN"
    ]
    if selectors is not None:
        # moto returns an empty list for a new trail where AWS returns the default selector.
        cloudtrail.put_event_selectors(TrailName=name, EventSelectors=selectors)
    if logging:
        cloudtrail.start_logging(Name=name)
    return arn


def fake_organization_trail(aws_fakes, *, logging: bool = True) -> None:
    """Make every region list an organization trail of the management account OTHER_ACCOUNT."""
    trail = {
        "Name": "org-trail",
        "S3BucketName": ORG_BUCKET,
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": True,
        "HomeRegion": REGION,
        "TrailARN": ORG_TRAIL_ARN,
        "LogFileValidationEnabled": True,
        "HasCustomEventSelectors": False,
        "HasInsightSelectors": False,
        "IsOrganizationTrail": True,
    }
    aws_fakes.add("cloudtrail", "DescribeTrails", lambda params: {"trailList": [dict(trail)]})
    aws_fakes.add("cloudtrail", "GetTrailStatus", lambda params: {"IsLogging": logging})
    aws_fakes.add(
        "cloudtrail",
        "GetEventSelectors",
        lambda params: {"TrailARN": ORG_TRAIL_ARN, "EventSelectors": ALL_MANAGEMENT},
    )


def fake_cloudwatch_delivery(aws_fakes, delivered_at: dt.datetime | None) -> None:
    """Fake GetTrailStatus with a CloudWatch Logs delivery time, a field moto never returns."""
    response = {"IsLogging": True}
    if delivered_at is not None:
        response["LatestCloudWatchLogsDeliveryTime"] = delivered_at
    aws_fakes.add("cloudtrail", "GetTrailStatus", lambda params: dict(response))


def only(results, status=None):
    assert len(results) == 1, results
    if status is not None:
        assert results[0].status == status, results[0]
    return results[0]


# cloudtrail_enabled.
def test_enabled_passes_with_logging_trail(account):
    arn = create_trail(account, multi_region=False)
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == region_resource(REGION)
    assert result.evidence["trails"][0]["trail_arn"] == arn


def test_enabled_fails_without_trails(mock_aws_env):
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.FAIL)
    assert result.reason == f"No trail covers {REGION}."


def test_enabled_fails_when_trail_not_logging(account):
    create_trail(account, logging=False)
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["trails"][0]["is_logging"] is False


def test_enabled_unknown_when_listing_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("cloudtrail", "DescribeTrails")
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_enabled_unknown_when_status_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("cloudtrail", "GetTrailStatus")
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert "AccessDenied" in result.reason


def test_enabled_counts_multi_region_trail_from_other_region(account):
    create_trail(account, region=REGION, multi_region=True)
    results = check_results("cloudtrail_enabled", ACCOUNT, [REGION, OTHER_REGION])
    assert statuses(results) == {
        region_resource(REGION): Status.PASS,
        region_resource(OTHER_REGION): Status.PASS,
    }


def test_enabled_reads_status_of_trail_homed_outside_scan(account):
    create_trail(account, region=REGION, multi_region=True)
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [OTHER_REGION]), Status.PASS)
    assert result.evidence["trails"][0]["home_region"] == REGION


def test_enabled_single_region_trail_covers_home_only(account):
    create_trail(account, region=REGION, multi_region=False)
    results = check_results("cloudtrail_enabled", ACCOUNT, [REGION, OTHER_REGION])
    assert statuses(results) == {
        region_resource(REGION): Status.PASS,
        region_resource(OTHER_REGION): Status.FAIL,
    }


def test_enabled_counts_organization_trail(mock_aws_env, aws_fakes):
    fake_organization_trail(aws_fakes)
    results = check_results("cloudtrail_enabled", ACCOUNT, [REGION, OTHER_REGION])
    assert {r.status for r in results} == {Status.PASS}
    assert results[0].evidence["trails"][0]["is_organization_trail"] is True


# cloudtrail_multi_region.
def test_multi_region_passes(account):
    arn = create_trail(account)
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == ACCOUNT_RESOURCE
    assert arn in result.reason


def test_multi_region_fails_without_trails(account):
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)
    assert result.reason == "The account has no multi-region trail."


def test_multi_region_fails_with_single_region_trail(account):
    create_trail(account, multi_region=False)
    only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)


def test_multi_region_fails_when_writes_only(account):
    create_trail(account, selectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["multi_region_trails"][0]["management_reads"] is False


def test_multi_region_fails_when_not_logging(account):
    create_trail(account, logging=False)
    only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)


def test_multi_region_fails_with_empty_selectors(account):
    # Empty selectors record no management events, and the AWS default is not assumed.
    create_trail(account, selectors=None)
    only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)


def test_multi_region_passes_with_advanced_selectors(account):
    arn = create_trail(account, selectors=None)
    account.client("cloudtrail").put_event_selectors(
        TrailName=arn,
        AdvancedEventSelectors=[
            {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ],
    )
    only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.PASS)


def test_multi_region_fails_with_read_only_advanced_selector(account):
    arn = create_trail(account, selectors=None)
    account.client("cloudtrail").put_event_selectors(
        TrailName=arn,
        AdvancedEventSelectors=[
            {
                "Name": "management reads",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "readOnly", "Equals": ["true"]},
                ],
            }
        ],
    )
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["multi_region_trails"][0]["management_writes"] is False


def test_multi_region_unknown_when_selectors_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("cloudtrail", "GetEventSelectors")
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_multi_region_counts_organization_trail(mock_aws_env, aws_fakes):
    fake_organization_trail(aws_fakes)
    result = only(check_results("cloudtrail_multi_region", ACCOUNT, [REGION, OTHER_REGION]), Status.PASS)
    assert ORG_TRAIL_ARN in result.reason


def test_selector_coverage_adds_up():
    selectors = {
        "EventSelectors": [
            {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True},
            {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True},
        ]
    }
    assert management_event_coverage(selectors) == (True, True)


def test_selector_coverage_ignores_data_event_selectors():
    selectors = {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}
    assert management_event_coverage(selectors) == (False, False)


def test_selector_coverage_reads_not_equals_filter():
    selectors = {
        "AdvancedEventSelectors": [
            {
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "readOnly", "NotEquals": ["true"]},
                ]
            }
        ]
    }
    assert management_event_coverage(selectors) == (False, True)


# cloudtrail_log_file_validation.
def test_log_validation_passes(account):
    arn = create_trail(account, EnableLogFileValidation=True)
    result = only(check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == arn


def test_log_validation_fails(account):
    arn = create_trail(account)
    result = only(check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION]), Status.FAIL)
    assert result.resource_id == arn


def test_log_validation_unknown_when_listing_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("cloudtrail", "DescribeTrails")
    result = only(check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_log_validation_not_applicable_without_trails(mock_aws_env):
    result = only(
        check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION, OTHER_REGION]),
        Status.NOT_APPLICABLE,
    )
    assert result.region == "global"


def test_multi_region_trail_judged_once(account):
    arn = create_trail(account, region=OTHER_REGION, multi_region=True)
    results = check_results(
        "cloudtrail_log_file_validation", ACCOUNT, [REGION, OTHER_REGION, "ap-southeast-2"]
    )
    result = only(results, Status.FAIL)
    assert (result.resource_id, result.region) == (arn, OTHER_REGION)


def test_organization_trail_judged_in_member_account(mock_aws_env, aws_fakes):
    fake_organization_trail(aws_fakes)
    results = check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION, OTHER_REGION])
    result = only(results, Status.PASS)
    assert result.evidence["is_organization_trail"] is True


def test_trail_details_read_once(mock_aws_env, aws_fakes):
    fake_organization_trail(aws_fakes)
    check_results("cloudtrail_enabled", ACCOUNT, [REGION, OTHER_REGION, "ap-southeast-2"])
    operations = [operation for _, operation, _ in aws_fakes.calls]
    assert operations.count("DescribeTrails") == 3
    assert operations.count("GetTrailStatus") == 1
    assert operations.count("GetEventSelectors") == 1


# cloudtrail_cloudwatch_logs.
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:cloudtrail:*"
LOG_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-logs"


def create_trail_with_log_group(account: Seeder) -> str:
    return create_trail(account, CloudWatchLogsLogGroupArn=LOG_GROUP_ARN, CloudWatchLogsRoleArn=LOG_ROLE_ARN)


def test_cloudwatch_passes_with_recent_delivery(account, aws_fakes):
    create_trail_with_log_group(account)
    fake_cloudwatch_delivery(aws_fakes, timezone.now() - dt.timedelta(hours=1))
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["max_delivery_age_hours"] == 24


def test_cloudwatch_fails_without_log_group(account):
    create_trail(account)
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["CloudWatchLogsLogGroupArn"] is None


def test_cloudwatch_fails_with_stale_delivery(account, aws_fakes):
    create_trail_with_log_group(account)
    fake_cloudwatch_delivery(aws_fakes, timezone.now() - dt.timedelta(hours=30))
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert "30 hours ago" in result.reason


def test_cloudwatch_threshold_allows_older_delivery(account, aws_fakes):
    create_trail_with_log_group(account)
    fake_cloudwatch_delivery(aws_fakes, timezone.now() - dt.timedelta(hours=30))
    results = check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION], max_delivery_age_hours=48)
    result = only(results, Status.PASS)
    assert result.evidence["max_delivery_age_hours"] == 48


def test_cloudwatch_fails_when_never_delivered(account):
    # moto's GetTrailStatus never has LatestCloudWatchLogsDeliveryTime, like a trail that never delivered.
    create_trail_with_log_group(account)
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert "never delivered" in result.reason


def test_cloudwatch_unknown_when_status_denied(account, aws_fakes):
    create_trail_with_log_group(account)
    aws_fakes.deny("cloudtrail", "GetTrailStatus")
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["operation"] == "cloudtrail:GetTrailStatus"


def test_cloudwatch_not_applicable_without_trails(mock_aws_env):
    only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)


# Rule: one verdict per trail, whatever the listing order.
def trail_item(name: str, home_region: str, **details) -> dict:
    return {
        "Name": name,
        "TrailARN": f"arn:aws:cloudtrail:{home_region}:{ACCOUNT}:trail/{name}",
        "HomeRegion": home_region,
        "IsMultiRegionTrail": True,
        "S3BucketName": BUCKET,
        "CloudWatchLogsLogGroupArn": LOG_GROUP_ARN,
        **details,
    }


def account_with_listings(home_listing: list[dict], other_listing: list[dict]) -> AccountData:
    return AccountData(
        account_id=ACCOUNT,
        partition="aws",
        global_=Inventory(region="global", items={"cloudtrail.remote_trail_details": {}}),
        regions={
            "eu-west-1": Inventory(region="eu-west-1", items={"cloudtrail.trails": other_listing}),
            "us-west-2": Inventory(region="us-west-2", items={"cloudtrail.trails": home_listing}),
        },
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_trail_verdict_ignores_listing_order(reverse):
    now = timezone.now()
    status = {"Status": {"IsLogging": True, "LatestCloudWatchLogsDeliveryTime": now}, "EventSelectors": {}}
    # eu-west-1 sorts first and lists shadow copies without details; the home copies carry them.
    home = [trail_item("alpha", "us-west-2", **status), trail_item("beta", "us-west-2", **status)]
    shadows = [trail_item("alpha", "us-west-2"), trail_item("beta", "us-west-2")]
    if reverse:
        home.reverse()
    else:
        shadows.reverse()
    results = evaluate("cloudtrail_cloudwatch_logs", account_with_listings(home, shadows), now=now)
    assert [(r.resource_id, r.region, r.status) for r in results] == [
        (f"arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/alpha", "us-west-2", Status.PASS),
        (f"arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/beta", "us-west-2", Status.PASS),
    ]


# cloudtrail_kms_encryption.
def test_kms_passes(account):
    key_arn = account.client("kms").create_key()["KeyMetadata"]["Arn"]
    create_trail(account, KmsKeyId=key_arn)
    result = only(check_results("cloudtrail_kms_encryption", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["KmsKeyId"] == key_arn


def test_kms_fails(account):
    create_trail(account)
    result = only(check_results("cloudtrail_kms_encryption", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["KmsKeyId"] is None


def test_kms_unknown_when_listing_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("cloudtrail", "DescribeTrails")
    result = only(check_results("cloudtrail_kms_encryption", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_kms_not_applicable_without_trails(mock_aws_env):
    only(check_results("cloudtrail_kms_encryption", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)


# cloudtrail_bucket_access_logging.
def enable_access_logging(account: Seeder, bucket: str = BUCKET) -> None:
    s3 = account.client("s3")
    s3.create_bucket(Bucket="access-logs-111111111111", ACL="log-delivery-write")
    s3.put_bucket_logging(
        Bucket=bucket,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "access-logs-111111111111", "TargetPrefix": f"{bucket}/"}
        },
    )


def test_bucket_logging_passes(account):
    create_trail(account)
    enable_access_logging(account)
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.PASS)
    assert (result.resource_id, result.region) == (BUCKET_ARN, "global")


def test_bucket_logging_fails(account):
    arn = create_trail(account)
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["trail_arns"] == [arn]


def test_bucket_logging_unknown_when_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("s3", "GetBucketLogging")
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_bucket_logging_not_applicable_without_trails(account):
    create_bucket(account)
    only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)


def test_bucket_of_other_account_is_unknown(account, aws_fakes):
    fake_organization_trail(aws_fakes)
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.resource_id == f"arn:aws:s3:::{ORG_BUCKET}"
    assert "another account" in result.reason


def test_bucket_unknown_when_bucket_listing_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("s3", "ListBuckets")
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["operation"] == "s3:ListBuckets"


def test_shared_bucket_judged_once(account):
    first = create_trail(account, "first-trail", multi_region=True)
    second = create_trail(account, "second-trail", region=OTHER_REGION, multi_region=False)
    results = check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION, OTHER_REGION])
    result = only(results, Status.FAIL)
    assert result.evidence["trail_arns"] == sorted([first, second])


# cloudtrail_bucket_mfa_delete.
def fake_versioning(aws_fakes, **response) -> None:
    """Fake GetBucketVersioning, because moto drops MFADelete from its response."""
    aws_fakes.add("s3", "GetBucketVersioning", lambda params: dict(response))


def test_mfa_delete_passes(account, aws_fakes):
    create_trail(account)
    fake_versioning(aws_fakes, Status="Enabled", MFADelete="Enabled")
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["MFADelete"] == "Enabled"


def test_mfa_delete_fails_with_versioning_only(account):
    create_trail(account)
    account.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Status"] == "Enabled"


def test_mfa_delete_fails_without_versioning(account):
    create_trail(account)
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.FAIL)
    assert "never enabled" in result.reason


def test_mfa_delete_unknown_when_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("s3", "GetBucketVersioning")
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_mfa_delete_unknown_for_other_account_bucket(account, aws_fakes):
    fake_organization_trail(aws_fakes)
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["owned_by_this_account"] is False


def test_mfa_delete_not_applicable_without_trails(mock_aws_env):
    only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)


# cloudtrail_bucket_not_public.
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def block_bucket(account: Seeder, bucket: str = BUCKET) -> None:
    account.client("s3").put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)


def test_not_public_passes_without_bucket_policy(account):
    # NoSuchBucketPolicy is the documented "no policy" error, not a failed read.
    create_trail(account)
    block_bucket(account)
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["has_bucket_policy"] is False


def test_not_public_passes_with_account_block(account):
    # The bucket has no block of its own (NoSuchPublicAccessBlockConfiguration); the account's covers it.
    create_trail(account)
    account.client("s3control").put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration=BLOCK_ALL
    )
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["bucket_public_access_block"] is None


def test_not_public_fails_without_public_access_block(account):
    create_trail(account)
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.FAIL)
    assert "BlockPublicPolicy" in result.reason


def test_not_public_fails_with_public_acl(account):
    create_trail(account)
    account.client("s3").put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["public_acl_grants"] == [{"grantee": "AllUsers", "permission": "READ"}]


def test_not_public_fails_with_public_policy(account):
    create_trail(account)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/*"}
        ],
    }
    account.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.FAIL)
    assert "bucket policy is public" in result.reason


def test_not_public_unknown_when_policy_status_denied(account, aws_fakes):
    create_trail(account)
    block_bucket(account)
    aws_fakes.deny("s3", "GetBucketPolicyStatus")
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_not_public_unknown_when_bucket_block_denied(account, aws_fakes):
    create_trail(account)
    aws_fakes.add("s3", "GetPublicAccessBlock", lambda params: error_response("AccessDenied", status=403))
    result = only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["operation"] == "s3:GetPublicAccessBlock"


def test_not_public_unknown_for_other_account_bucket(mock_aws_env, aws_fakes):
    fake_organization_trail(aws_fakes)
    only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.UNKNOWN)


def test_not_public_not_applicable_without_trails(mock_aws_env):
    only(check_results("cloudtrail_bucket_not_public", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)


# Tags in the evidence.
AUDIT_TAGS = [{"Key": "team", "Value": "audit"}]


def test_trail_evidence_carries_tags(account):
    create_trail(account, TagsList=AUDIT_TAGS)
    result = only(check_results("cloudtrail_kms_encryption", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == AUDIT_TAGS


def test_trail_homed_outside_scan_evidence_carries_tags(account):
    create_trail(account, region=OTHER_REGION, TagsList=AUDIT_TAGS)
    result = only(check_results("cloudtrail_log_file_validation", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == AUDIT_TAGS


def test_region_result_has_no_trail_tags(account):
    create_trail(account, TagsList=AUDIT_TAGS)
    result = only(check_results("cloudtrail_enabled", ACCOUNT, [REGION]), Status.PASS)
    assert "Tags" not in result.evidence


def test_trail_tags_denied_still_decides(account, aws_fakes):
    create_trail(account, TagsList=AUDIT_TAGS)
    aws_fakes.deny("cloudtrail", "ListTags")
    result = only(check_results("cloudtrail_cloudwatch_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["tags_error"]["code"] == "AccessDenied"


def test_bucket_evidence_carries_tags(account):
    create_trail(account)
    account.client("s3").put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": AUDIT_TAGS})
    result = only(check_results("cloudtrail_bucket_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == AUDIT_TAGS


def test_bucket_tags_denied_still_decides(account, aws_fakes):
    create_trail(account)
    aws_fakes.deny("s3", "GetBucketTagging")
    result = only(check_results("cloudtrail_bucket_mfa_delete", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["tags_error"]["code"] == "AccessDenied"
