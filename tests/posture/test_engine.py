from __future__ import annotations

from django.utils import timezone

from posture import engine
from tests.aws import aws_account, role_arn


def test_select_regions_skips_disabled():
    regions, skipped = engine.select_regions(["us-east-1", "ap-east-1"], ["us-east-1", "eu-west-1"])
    assert regions == ["us-east-1"]
    assert skipped == ["ap-east-1"]


def test_select_regions_empty_means_all_enabled():
    regions, skipped = engine.select_regions([], ["eu-west-1", "us-east-1"])
    assert regions == ["eu-west-1", "us-east-1"]
    assert skipped == []


def test_account_scan_runs_every_check(mock_aws_env):
    outcome = engine.account_scan(
        account_id="111111111111",
        role_arn=role_arn("111111111111"),
        external_id="ext-id-1",
        partition="aws",
        configured_regions=["us-east-1"],
        thresholds={},
        now=timezone.now(),
    )
    assert outcome.regions == ["us-east-1"]


def test_assumed_credentials_see_only_their_account(mock_aws_env):
    aws_account.client("111111111111", "s3").create_bucket(Bucket="only-in-one")
    names = [b["Name"] for b in aws_account.client("222222222222", "s3").list_buckets()["Buckets"]]
    assert "only-in-one" not in names
