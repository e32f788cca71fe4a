"""The RDS collector keeps the `TagList` that DescribeDBInstances and DescribeDBClusters return."""

from __future__ import annotations

import pytest

from posture.aws.collectors.rds import collect as collect_rds
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory
from tests.aws import aws_account

ACCOUNT = "111111111111"
REGION = "us-east-1"
TAGS = [{"Key": "team", "Value": "orders"}]


@pytest.fixture
def session(mock_aws_env):
    return aws_account.session(ACCOUNT)


@pytest.fixture
def rds(session):
    return session.client("rds", region_name=REGION)


def collect_region(session) -> Inventory:
    inventory = Inventory(region=REGION)
    collect_rds(ClientFactory(session), inventory, account_id=ACCOUNT)
    return inventory


def test_db_instance_keeps_tags(session, rds):
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="Example-Passw0rd",
        AllocatedStorage=20,
        Tags=TAGS,
    )
    instance = collect_region(session).get("rds.db_instances")[0]
    assert instance["TagList"] == TAGS


def test_db_cluster_keeps_tags(session, rds):
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="Example-Passw0rd",
        Tags=TAGS,
    )
    cluster = collect_region(session).get("rds.db_clusters")[0]
    assert cluster["TagList"] == TAGS
