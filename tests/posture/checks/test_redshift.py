from __future__ import annotations

import pytest

from posture.aws import collectors as collector_registry
from posture.checks.base import Status
from tests.aws import aws_account, check_results, statuses

ACCOUNT = "111111111111"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def only_redshift_collector(monkeypatch):
    """Run only the collector this check reads, which keeps each test fast."""
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name == "redshift"]
    )


@pytest.fixture
def redshift(mock_aws_env):
    return aws_account.client(ACCOUNT, "redshift", REGION)


def cluster_arn(cluster_id: str, region: str = REGION) -> str:
    return f"arn:aws:redshift:{region}:{ACCOUNT}:cluster:{cluster_id}"


def create_cluster(redshift, cluster_id: str = "analytics") -> None:
    redshift.create_cluster(
        ClusterIdentifier=cluster_id,
        NodeType="ra3.xlplus",
        MasterUsername="admin",
        MasterUserPassword="Example-Passw0rd",
        ClusterType="single-node",
    )


def only(results, status):
    assert len(results) == 1, results
    assert results[0].status == status, results[0]
    return results[0]


def test_audit_logging_passes(redshift):
    create_cluster(redshift)
    redshift.enable_logging(
        ClusterIdentifier="analytics", LogDestinationType="cloudwatch", LogExports=["connectionlog"]
    )
    result = only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["LogDestinationType"] == "cloudwatch"


def test_audit_logging_fails(redshift):
    create_cluster(redshift)
    result = only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.resource_id == cluster_arn("analytics")


def test_audit_logging_fails_after_disable(redshift):
    create_cluster(redshift)
    redshift.enable_logging(ClusterIdentifier="analytics", LogDestinationType="cloudwatch")
    redshift.disable_logging(ClusterIdentifier="analytics")
    only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.FAIL)


def test_audit_logging_unknown_when_status_denied(redshift, aws_fakes):
    create_cluster(redshift)
    aws_fakes.deny("redshift", "DescribeLoggingStatus")
    result = only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert (result.resource_id, result.evidence["error"]["code"]) == (
        cluster_arn("analytics"),
        "AccessDenied",
    )


def test_audit_logging_unknown_when_listing_denied(redshift, aws_fakes):
    create_cluster(redshift)
    aws_fakes.deny("redshift", "DescribeClusters")
    result = only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["operation"] == "redshift:DescribeClusters"


def test_audit_logging_not_applicable_per_empty_region(redshift):
    create_cluster(redshift)
    results = check_results("redshift_audit_logging", ACCOUNT, [REGION, OTHER_REGION])
    assert statuses(results) == {
        cluster_arn("analytics"): Status.FAIL,
        f"arn:aws::{ACCOUNT}:account/{OTHER_REGION}": Status.NOT_APPLICABLE,
    }


def test_audit_logging_evidence_carries_tags(redshift):
    create_cluster(redshift)
    redshift.create_tags(ResourceName=cluster_arn("analytics"), Tags=[{"Key": "team", "Value": "analytics"}])
    result = only(check_results("redshift_audit_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == [{"Key": "team", "Value": "analytics"}]
