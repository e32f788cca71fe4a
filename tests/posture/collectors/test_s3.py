"""The S3 collector's trail bucket records: tags from GetBucketTagging."""

from __future__ import annotations

import logging

import pytest

from posture.aws import collectors as collector_registry
from posture.aws.inventory import ReadError
from tests.aws import aws_account, collect

ACCOUNT = "111111111111"
REGION = "us-east-1"
BUCKET = "trail-logs-111111111111"


@pytest.fixture(autouse=True)
def only_trail_collectors(monkeypatch):
    """Run only the collectors that build the trail bucket records."""
    keep = {"cloudtrail", "s3", "s3_trail_buckets"}
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name in keep]
    )


@pytest.fixture
def s3(mock_aws_env):
    s3 = aws_account.client(ACCOUNT, "s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    aws_account.client(ACCOUNT, "cloudtrail", REGION).create_trail(Name="main-trail", S3BucketName=BUCKET)
    return s3


def trail_bucket() -> dict:
    return collect(ACCOUNT).global_.get("s3.trail_buckets")[BUCKET]


def test_trail_bucket_keeps_tags(s3):
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "audit"}]})
    assert trail_bucket()["Tags"] == [{"Key": "team", "Value": "audit"}]


def test_trail_bucket_without_tags_has_empty_list(s3):
    assert trail_bucket()["Tags"] == []


def test_trail_bucket_tags_denied_is_read_error(s3, aws_fakes):
    aws_fakes.deny("s3", "GetBucketTagging")
    tags = trail_bucket()["Tags"]
    assert isinstance(tags, ReadError)
    assert tags.code == "AccessDenied"


def test_trail_bucket_tags_denied_keeps_other_details(s3, aws_fakes):
    aws_fakes.deny("s3", "GetBucketTagging")
    assert not isinstance(trail_bucket()["Versioning"], ReadError)


def test_trail_bucket_tags_denied_logs_bucket(s3, aws_fakes, caplog):
    aws_fakes.deny("s3", "GetBucketTagging")
    with caplog.at_level(logging.WARNING, logger="posture.aws.collectors.s3"):
        trail_bucket()
    assert f"s3:GetBucketTagging of bucket {BUCKET} failed: AccessDenied" in caplog.text


def test_other_account_bucket_is_not_tag_read(s3, aws_fakes):
    aws_fakes.add("s3", "ListBuckets", lambda params: {"Buckets": []})
    aws_fakes.add("s3", "GetBucketTagging", lambda params: None)  # recorded, then passed through to moto
    trail_bucket()
    assert not [call for call in aws_fakes.calls if call[1] == "GetBucketTagging"]
