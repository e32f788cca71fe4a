"""EC2 and VPC collectors keep the tags that their listings return with no extra call."""

from __future__ import annotations

import pytest

from posture.aws.collectors.ec2 import collect as collect_ec2
from posture.aws.collectors.ec2_keys import collect_ec2_keys
from posture.aws.collectors.vpc import collect_vpc
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory
from tests.aws import aws_account

ACCOUNT = "111111111111"
REGION = "us-east-1"
TAGS = [{"Key": "backup-tier", "Value": "scratch"}]


@pytest.fixture
def session(mock_aws_env):
    return aws_account.session(ACCOUNT)


@pytest.fixture
def ec2(session):
    return session.client("ec2", region_name=REGION)


def tag_spec(resource_type: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": TAGS}]


def collect_region(session, *collect_functions) -> Inventory:
    inventory = Inventory(region=REGION)
    for collect_function in collect_functions:
        collect_function(ClientFactory(session), inventory, account_id=ACCOUNT)
    return inventory


def test_volume_keeps_tags(session, ec2):
    ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a", TagSpecifications=tag_spec("volume"))
    volume = collect_region(session, collect_ec2).get("ec2.volumes")[0]
    assert volume["Tags"] == TAGS


def test_security_group_keeps_tags(session, ec2):
    group_id = ec2.create_security_group(
        GroupName="web", Description="web", TagSpecifications=tag_spec("security-group")
    )["GroupId"]
    groups = {g["GroupId"]: g for g in collect_region(session, collect_ec2).get("ec2.security_groups")}
    assert groups[group_id]["Tags"] == TAGS


def test_image_keeps_tags(session, ec2):
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    image_id = ec2.create_image(InstanceId=instance["InstanceId"], Name="golden")["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=TAGS)
    image = collect_region(session, collect_ec2).get("ec2.images")[0]
    assert image["Tags"] == TAGS


def test_key_pair_keeps_tags(session, ec2):
    ec2.create_key_pair(KeyName="deploy", TagSpecifications=tag_spec("key-pair"))
    pair = collect_region(session, collect_ec2_keys).get("ec2.key_pairs")[0]
    assert pair["Tags"] == TAGS


def test_vpc_keeps_tags(session, ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=tag_spec("vpc"))["Vpc"]["VpcId"]
    vpcs = {v["VpcId"]: v for v in collect_region(session, collect_vpc).get("vpc.vpcs")}
    assert vpcs[vpc_id]["Tags"] == TAGS
