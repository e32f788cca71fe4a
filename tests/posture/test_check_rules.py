"""Rules every check follows, tested through a whole account scan rather than one check.

Rules with a check-specific meaning (trails judged once, credential report values, usable
credentials, new keys, security-group parsing, names) are tested beside their checks.
"""

from __future__ import annotations

import dataclasses

from django.utils import timezone

from posture import engine
from posture.aws.inventory import GLOBAL_REGION
from posture.checks import base
from posture.checks.base import EmptyScope, Status, registry
from tests.aws import aws_account, error_response, role_arn

ACCOUNT = "111111111111"


def scan(regions: list[str] | None = None) -> engine.AccountOutcome:
    return engine.account_scan(
        account_id=ACCOUNT,
        role_arn=role_arn(ACCOUNT),
        external_id="ext-id-1234",
        partition="aws",
        configured_regions=regions if regions is not None else ["us-east-1"],
        thresholds={},
        now=timezone.now(),
    )


def results_of(outcome: engine.AccountOutcome, check_id: str):
    return [r for r in outcome.results if r.check_id == check_id]


def test_not_implemented_is_unknown_and_scan_goes_on(mock_aws_env, aws_fakes):
    def not_implemented(params):
        raise NotImplementedError("DescribeVolumes")

    aws_fakes.add("ec2", "DescribeVolumes", not_implemented)
    outcome = scan()

    volumes = results_of(outcome, "ebs_volume_encrypted")
    assert {r.status for r in volumes} == {Status.UNKNOWN}
    assert volumes[0].evidence["error"]["code"] == "NotImplemented"
    assert {r.status for r in results_of(outcome, "ebs_default_encryption")} <= {Status.PASS, Status.FAIL}


def test_server_error_is_unknown_with_code(mock_aws_env, aws_fakes):
    aws_fakes.add("ec2", "DescribeVolumes", lambda params: error_response("InternalError", status=500))
    outcome = scan()

    volumes = results_of(outcome, "ebs_volume_encrypted")
    assert [r.status for r in volumes] == [Status.UNKNOWN]
    assert "InternalError" in volumes[0].reason
    assert any(e["code"] == "InternalError" for e in outcome.errors)


def test_unexpected_check_error_is_unknown(mock_aws_env, monkeypatch):
    definition = registry()["ebs_volume_encrypted"]

    def broken(ctx):
        raise KeyError("Encrypted")

    monkeypatch.setitem(base._REGISTRY, definition.id, dataclasses.replace(definition, func=broken))
    outcome = scan()

    volumes = results_of(outcome, "ebs_volume_encrypted")
    assert [r.status for r in volumes] == [Status.UNKNOWN]
    assert "KeyError" in volumes[0].reason
    assert results_of(outcome, "ebs_default_encryption")


def test_empty_region_gets_not_applicable(mock_aws_env):
    outcome = scan(["us-east-1", "eu-west-1"])

    volumes = results_of(outcome, "ebs_volume_encrypted")
    assert {(r.region, r.status) for r in volumes} == {
        ("us-east-1", Status.NOT_APPLICABLE),
        ("eu-west-1", Status.NOT_APPLICABLE),
    }


def test_every_check_emits_a_result(mock_aws_env):
    outcome = scan(["us-east-1", "eu-west-1"])

    for check_id, definition in registry().items():
        regions = {r.region for r in results_of(outcome, check_id)}
        assert regions, f"{check_id} recorded nothing"
        if definition.empty == EmptyScope.REGION and GLOBAL_REGION not in regions:
            assert {"us-east-1", "eu-west-1"} <= regions, f"{check_id} skipped a region"


def test_account_level_check_always_decides(mock_aws_env):
    outcome = scan()
    trails = results_of(outcome, "cloudtrail_multi_region")
    assert [r.status for r in trails] == [Status.FAIL]


def test_listed_counts_are_recorded(mock_aws_env):
    ec2 = aws_account.client(ACCOUNT, "ec2")
    for _ in range(3):
        ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    outcome = scan()
    assert outcome.listed["us-east-1"]["ec2.volumes"] == 3
    assert len(results_of(outcome, "ebs_volume_encrypted")) == 3


def test_regions_not_enabled_are_skipped(mock_aws_env, aws_fakes):
    aws_fakes.add(
        "ec2",
        "DescribeRegions",
        lambda params: {"Regions": [{"RegionName": "us-east-1"}, {"RegionName": "eu-west-1"}]},
    )
    outcome = scan(["us-east-1", "ap-east-1"])

    assert outcome.regions == ["us-east-1"]
    assert outcome.skipped_regions == ["ap-east-1"]
    assert "ap-east-1" not in {r.region for r in outcome.results}


def test_no_regions_configured_scans_all_enabled(mock_aws_env, aws_fakes):
    aws_fakes.add(
        "ec2",
        "DescribeRegions",
        lambda params: {"Regions": [{"RegionName": "us-east-1"}, {"RegionName": "eu-west-1"}]},
    )
    outcome = scan([])
    assert outcome.regions == ["eu-west-1", "us-east-1"]


def test_global_services_judged_once(mock_aws_env):
    aws_account.client(ACCOUNT, "iam").create_user(UserName="alice")
    outcome = scan(["us-east-1", "eu-west-1", "us-west-2"])

    iam_results = results_of(outcome, "iam_user_no_direct_policies")
    assert {r.region for r in iam_results} == {GLOBAL_REGION}
    assert len(iam_results) == 1
    assert outcome.listed[GLOBAL_REGION]["iam.users"] == 1
