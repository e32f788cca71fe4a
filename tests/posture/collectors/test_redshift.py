"""The Redshift collector keeps the `Tags` that DescribeClusters returns."""

from __future__ import annotations

from posture.aws.collectors.redshift import collect_redshift
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory
from tests.aws import aws_account

ACCOUNT = "111111111111"
REGION = "us-east-1"
TAGS = [{"Key": "team", "Value": "analytics"}]


def test_cluster_keeps_tags(mock_aws_env):
    session = aws_account.session(ACCOUNT)
    session.client("redshift", region_name=REGION).create_cluster(
        ClusterIdentifier="analytics",
        NodeType="ra3.xlplus",
        MasterUsername="admin",
        MasterUserPassword="Example-Passw0rd",
        ClusterType="single-node",
        Tags=TAGS,
    )
    inventory = Inventory(region=REGION)
    collect_redshift(ClientFactory(session), inventory, account_id=ACCOUNT)
    assert inventory.get("redshift.clusters")[0]["Tags"] == TAGS
