from __future__ import annotations

import pytest

from posture.aws import collectors as collector_registry
from posture.aws.inventory import AccountData, Inventory
from posture.checks.base import Status
from tests.aws import aws_account, check_results, evaluate

ACCOUNT = "111111111111"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def only_vpc_collector(monkeypatch):
    """Run only the collector this check reads, which keeps each test fast."""
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name == "vpc"]
    )


@pytest.fixture
def ec2(mock_aws_env):
    return aws_account.client(ACCOUNT, "ec2", REGION)


def default_vpc(ec2) -> str:
    return ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]


def vpc_arn(vpc_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc_id}"


def create_flow_log(ec2, resource_id: str, resource_type: str = "VPC") -> None:
    # The log group must exist, or moto reports the flow log's delivery as FAILED.
    aws_account.client(ACCOUNT, "logs", REGION).create_log_group(logGroupName=f"flow-{resource_id}")
    ec2.create_flow_logs(
        ResourceIds=[resource_id],
        ResourceType=resource_type,
        TrafficType="ALL",
        LogGroupName=f"flow-{resource_id}",
        DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow-logs",
    )


def only(results, status):
    assert len(results) == 1, results
    assert results[0].status == status, results[0]
    return results[0]


def test_flow_logs_pass(ec2):
    vpc_id = default_vpc(ec2)
    create_flow_log(ec2, vpc_id)
    result = only(check_results("vpc_flow_logs", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == vpc_arn(vpc_id)


def test_flow_logs_fail_without_flow_log(ec2):
    vpc_id = default_vpc(ec2)
    result = only(check_results("vpc_flow_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert (result.resource_id, result.evidence["flow_logs"]) == (vpc_arn(vpc_id), [])


def test_flow_logs_on_subnet_do_not_count(ec2):
    vpc_id = default_vpc(ec2)
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0][
        "SubnetId"
    ]
    create_flow_log(ec2, subnet_id, "Subnet")
    only(check_results("vpc_flow_logs", ACCOUNT, [REGION]), Status.FAIL)


def test_flow_logs_judge_each_vpc(ec2):
    logged = default_vpc(ec2)
    unlogged = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    create_flow_log(ec2, logged)
    results = {r.resource_id: r.status for r in check_results("vpc_flow_logs", ACCOUNT, [REGION])}
    assert results == {vpc_arn(logged): Status.PASS, vpc_arn(unlogged): Status.FAIL}


def test_flow_logs_unknown_when_denied(ec2, aws_fakes):
    create_flow_log(ec2, default_vpc(ec2))
    aws_fakes.deny("ec2", "DescribeFlowLogs")
    result = only(check_results("vpc_flow_logs", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def account_with_vpcs(vpcs: list[dict], flow_logs: list[dict]) -> AccountData:
    return AccountData(
        account_id=ACCOUNT,
        partition="aws",
        global_=Inventory(region="global"),
        regions={REGION: Inventory(region=REGION, items={"vpc.vpcs": vpcs, "vpc.flow_logs": flow_logs})},
    )


def test_flow_logs_not_applicable_without_vpcs():
    result = only(evaluate("vpc_flow_logs", account_with_vpcs([], [])), Status.NOT_APPLICABLE)
    assert result.resource_id == f"arn:aws::{ACCOUNT}:account/{REGION}"


def test_shared_vpc_not_applicable():
    shared = {"VpcId": "vpc-0shared", "OwnerId": "222222222222", "IsDefault": False}
    result = only(evaluate("vpc_flow_logs", account_with_vpcs([shared], [])), Status.NOT_APPLICABLE)
    assert result.resource_id == f"arn:aws:ec2:{REGION}:222222222222:vpc/vpc-0shared"


def test_inactive_flow_log_does_not_count():
    vpc = {"VpcId": "vpc-0abc", "OwnerId": ACCOUNT, "IsDefault": False}
    flow_log = {"FlowLogId": "fl-1", "ResourceId": "vpc-0abc", "FlowLogStatus": "INACTIVE"}
    only(evaluate("vpc_flow_logs", account_with_vpcs([vpc], [flow_log])), Status.FAIL)


def test_flow_logs_evidence_carries_tags(ec2):
    vpc_id = default_vpc(ec2)
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "prod"}])
    result = only(check_results("vpc_flow_logs", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == [{"Key": "env", "Value": "prod"}]
