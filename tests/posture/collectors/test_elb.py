"""The load balancer collector: tags from DescribeTags, read 20 load balancers a call."""

from __future__ import annotations

import logging

import pytest

from posture.aws.collectors.elb import collect_elb
from posture.aws.inventory import Inventory, ReadError
from posture.aws.session import ClientFactory
from tests.aws import aws_account

ACCOUNT = "111111111111"
REGION = "us-east-1"
TAGS = [{"Key": "team", "Value": "web"}]


@pytest.fixture
def session(mock_aws_env):
    return aws_account.session(ACCOUNT)


def collect_region(session) -> Inventory:
    inventory = Inventory(region=REGION)
    collect_elb(ClientFactory(session), inventory, account_id=ACCOUNT)
    return inventory


HTTP_LISTENER = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}


def create_classic(session, name: str, tags: list[dict] | None = None) -> None:
    session.client("elb", region_name=REGION).create_load_balancer(
        LoadBalancerName=name,
        Listeners=[HTTP_LISTENER],
        AvailabilityZones=[f"{REGION}a"],
        **({"Tags": tags} if tags else {}),
    )


def create_v2(session, name: str, tags: list[dict] | None = None) -> None:
    subnets = [s["SubnetId"] for s in session.client("ec2", region_name=REGION).describe_subnets()["Subnets"]]
    session.client("elbv2", region_name=REGION).create_load_balancer(
        Name=name, Subnets=subnets[:2], **({"Tags": tags} if tags else {})
    )


def tags_by_name(load_balancers: list[dict], name_key: str) -> dict:
    return {load_balancer[name_key]: load_balancer["Tags"] for load_balancer in load_balancers}


def test_classic_keeps_tags(session):
    create_classic(session, "tagged", TAGS)
    create_classic(session, "plain")
    tags = tags_by_name(collect_region(session).get("elb.classic_load_balancers"), "LoadBalancerName")
    assert tags == {"tagged": TAGS, "plain": []}


def test_v2_keeps_tags(session):
    create_v2(session, "tagged", TAGS)
    create_v2(session, "plain")
    tags = tags_by_name(collect_region(session).get("elb.load_balancers"), "LoadBalancerName")
    assert tags == {"tagged": TAGS, "plain": []}


def test_tags_read_twenty_load_balancers_a_call(session, aws_fakes):
    for index in range(25):
        create_classic(session, f"web-{index:02d}")
    aws_fakes.add("elb", "DescribeTags", lambda params: None)  # recorded, then passed through to moto
    collect_region(session)
    batches = [len(params["LoadBalancerNames"]) for _, operation, params in aws_fakes.calls]
    assert batches == [20, 5]


def test_no_tags_call_without_load_balancers(session, aws_fakes):
    aws_fakes.add("elb", "DescribeTags", lambda params: None)
    aws_fakes.add("elbv2", "DescribeTags", lambda params: None)
    collect_region(session)
    assert aws_fakes.calls == []


def test_tags_denied_is_read_error(session, aws_fakes):
    create_v2(session, "tagged", TAGS)
    aws_fakes.deny("elbv2", "DescribeTags")
    load_balancer = collect_region(session).get("elb.load_balancers")[0]
    assert isinstance(load_balancer["Tags"], ReadError)


def test_tags_denied_keeps_listing(session, aws_fakes):
    create_classic(session, "tagged", TAGS)
    aws_fakes.deny("elb", "DescribeTags")
    load_balancer = collect_region(session).get("elb.classic_load_balancers")[0]
    assert not isinstance(load_balancer["Attributes"], ReadError)


def test_tags_denied_logs_load_balancers(session, aws_fakes, caplog):
    create_classic(session, "tagged", TAGS)
    aws_fakes.deny("elb", "DescribeTags")
    with caplog.at_level(logging.WARNING, logger="posture.aws.collectors.elb"):
        collect_region(session)
    assert f"elb:DescribeTags in {REGION} failed for tagged: AccessDenied" in caplog.text
