"""The CloudTrail collector: trail tags from ListTags in the trail's home region."""

from __future__ import annotations

import pytest

from posture.aws import collectors as collector_registry
from posture.aws.inventory import ReadError
from tests.aws import aws_account, collect

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "999999999999"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
BUCKET = "trail-logs-111111111111"
TAGS = [{"Key": "team", "Value": "audit"}]


@pytest.fixture(autouse=True)
def only_trail_collectors(monkeypatch):
    keep = {"cloudtrail", "cloudtrail_remote_trails"}
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name in keep]
    )


@pytest.fixture
def cloudtrail(mock_aws_env):
    aws_account.client(ACCOUNT, "s3", REGION).create_bucket(Bucket=BUCKET)
    return aws_account.client(ACCOUNT, "cloudtrail", REGION)


def trails(regions: list[str] | None = None, region: str = REGION) -> list[dict]:
    return collect(ACCOUNT, regions or [REGION]).regions[region].get("cloudtrail.trails")


def test_trail_keeps_tags(cloudtrail):
    cloudtrail.create_trail(Name="main-trail", S3BucketName=BUCKET, TagsList=TAGS)
    assert trails()[0]["Tags"] == TAGS


def test_untagged_trail_has_empty_list(cloudtrail):
    cloudtrail.create_trail(Name="main-trail", S3BucketName=BUCKET)
    assert trails()[0]["Tags"] == []


def test_shadow_copy_has_no_tags(cloudtrail):
    cloudtrail.create_trail(Name="main-trail", S3BucketName=BUCKET, IsMultiRegionTrail=True, TagsList=TAGS)
    shadow = trails([REGION, OTHER_REGION], region=OTHER_REGION)[0]
    assert "Tags" not in shadow


def test_trail_homed_outside_scan_keeps_tags(cloudtrail):
    arn = cloudtrail.create_trail(
        Name="main-trail", S3BucketName=BUCKET, IsMultiRegionTrail=True, TagsList=TAGS
    )["TrailARN"]
    details = collect(ACCOUNT, [OTHER_REGION]).global_.get("cloudtrail.remote_trail_details")
    assert details[arn]["Tags"] == TAGS


def test_tags_denied_is_read_error(cloudtrail, aws_fakes):
    cloudtrail.create_trail(Name="main-trail", S3BucketName=BUCKET, TagsList=TAGS)
    aws_fakes.deny("cloudtrail", "ListTags")
    assert isinstance(trails()[0]["Tags"], ReadError)


def test_tags_denied_keeps_status(cloudtrail, aws_fakes):
    cloudtrail.create_trail(Name="main-trail", S3BucketName=BUCKET, TagsList=TAGS)
    aws_fakes.deny("cloudtrail", "ListTags")
    assert not isinstance(trails()[0]["Status"], ReadError)


def test_other_account_trail_is_not_tag_read(mock_aws_env, aws_fakes):
    org_trail = {
        "Name": "org-trail",
        "S3BucketName": "org-trail-logs",
        "IsMultiRegionTrail": True,
        "IsOrganizationTrail": True,
        "HomeRegion": REGION,
        "TrailARN": f"arn:aws:cloudtrail:{REGION}:{OTHER_ACCOUNT}:trail/org-trail",
    }
    aws_fakes.add("cloudtrail", "DescribeTrails", lambda params: {"trailList": [dict(org_trail)]})
    aws_fakes.add("cloudtrail", "GetTrailStatus", lambda params: {"IsLogging": True})
    aws_fakes.add("cloudtrail", "GetEventSelectors", lambda params: {"EventSelectors": []})
    aws_fakes.add("cloudtrail", "ListTags", lambda params: None)
    trail = trails()[0]
    assert "Tags" not in trail
    assert not [call for call in aws_fakes.calls if call[1] == "ListTags"]
