"""Unit tests of the security group rule parser, on plain DescribeSecurityGroups items."""

from __future__ import annotations

import pytest

from posture.checks.sg_rules import (
    MalformedRule,
    attached_group_ids,
    egress_rules,
    ingress_rules,
    internet_rules,
    is_default_group,
    parse_ports,
    parse_rules,
)

INTERNET = {"max_ipv4_prefix": 24, "max_ipv6_prefix": 64}


def permission(protocol="tcp", from_port=22, to_port=22, **peers):
    item = {
        "IpProtocol": protocol,
        "IpRanges": [],
        "Ipv6Ranges": [],
        "PrefixListIds": [],
        "UserIdGroupPairs": [],
    }
    if from_port is not None:
        item["FromPort"] = from_port
    if to_port is not None:
        item["ToPort"] = to_port
    item.update(peers)
    return item


def cidr(*blocks):
    return [{"CidrIp": block} for block in blocks]


def cidr6(*blocks):
    return [{"CidrIpv6": block} for block in blocks]


def group(ingress=(), egress=(), **fields):
    return {
        "GroupId": "sg-1",
        "GroupName": "web",
        "VpcId": "vpc-1",
        "IpPermissions": list(ingress),
        "IpPermissionsEgress": list(egress),
        **fields,
    }


def only_rule(item, direction="ingress"):
    rules = ingress_rules(group([item])) if direction == "ingress" else egress_rules(group(egress=[item]))
    assert len(rules) == 1
    return rules[0]


# Direction.
def test_ingress_and_egress_kept_apart():
    rules = parse_rules(
        group(
            ingress=[permission(IpRanges=cidr("203.0.113.0/24"))],
            egress=[permission("-1", None, None, IpRanges=cidr("0.0.0.0/0"))],
        )
    )
    assert [r.direction for r in rules] == ["ingress", "egress"]


def test_egress_rule_is_not_internet_ingress():
    rules = egress_rules(group(egress=[permission(IpRanges=cidr("0.0.0.0/0"))]))
    assert internet_rules(rules, **INTERNET) == []


# Protocols and ports.
def test_all_protocols_opens_every_port():
    rule = only_rule(permission("-1", None, None, IpRanges=cidr("10.0.0.0/8")))
    assert rule.all_protocols
    assert rule.port_count() == 65536
    assert rule.opens_port(0)
    assert rule.opens_port(65535)


def test_protocol_number_six_is_tcp():
    assert only_rule(permission("6", 22, 22, IpRanges=cidr("0.0.0.0/0"))).protocol == "tcp"


def test_protocol_number_seventeen_is_udp():
    assert only_rule(permission("17", 53, 53, IpRanges=cidr("0.0.0.0/0"))).protocol == "udp"


def test_port_range_is_inclusive():
    rule = only_rule(permission("tcp", 20, 22, IpRanges=cidr("0.0.0.0/0")))
    assert rule.port_count() == 3
    assert rule.opens_port(20)
    assert rule.opens_port(22)
    assert not rule.opens_port(19)
    assert not rule.opens_port(23)


def test_single_port_counts_one():
    assert only_rule(permission("tcp", 443, 443, IpRanges=cidr("0.0.0.0/0"))).port_count() == 1


def test_icmp_opens_no_port():
    rule = only_rule(permission("icmp", -1, -1, IpRanges=cidr("0.0.0.0/0")))
    assert rule.port_count() == 0
    assert not rule.opens_port(22)
    assert not rule.opens_port_outside([80, 443])


def test_icmp_type_is_not_a_port():
    # For icmp, FromPort 8 is the echo request type, not TCP port 8.
    assert not only_rule(permission("icmp", 8, 0, IpRanges=cidr("0.0.0.0/0"))).opens_port(8)


def test_other_protocol_opens_no_port():
    rule = only_rule(permission("50", -1, -1, IpRanges=cidr("0.0.0.0/0")))
    assert rule.port_count() == 0
    assert not rule.all_protocols


def test_tcp_without_ports_reads_as_all_ports():
    assert only_rule(permission("tcp", None, None, IpRanges=cidr("0.0.0.0/0"))).port_count() == 65536


def test_opens_port_outside_allowed():
    assert only_rule(permission("tcp", 80, 443, IpRanges=cidr("0.0.0.0/0"))).opens_port_outside([80, 443])


def test_allowed_ports_only_not_outside():
    assert not only_rule(permission("tcp", 443, 443, IpRanges=cidr("0.0.0.0/0"))).opens_port_outside(
        [80, 443]
    )


def test_open_ports_lists_matches():
    rule = only_rule(permission("tcp", 3300, 3400, IpRanges=cidr("0.0.0.0/0")))
    assert rule.open_ports([22, 3306, 3389, 5432]) == [3306, 3389]


def test_reversed_port_range_rejected():
    with pytest.raises(MalformedRule):
        ingress_rules(group([permission("tcp", 30, 20, IpRanges=cidr("0.0.0.0/0"))]))


# Peers.
def test_one_rule_per_peer():
    item = permission(IpRanges=cidr("203.0.113.0/24", "198.51.100.0/24"), Ipv6Ranges=cidr6("::/0"))
    assert [r.peer for r in ingress_rules(group([item]))] == ["203.0.113.0/24", "198.51.100.0/24", "::/0"]


def test_ipv6_peer_read_from_ipv6_ranges():
    rule = only_rule(permission(Ipv6Ranges=cidr6("::/0")))
    assert rule.peer_type == "ipv6"
    assert rule.is_internet(**INTERNET)


def test_prefix_list_is_not_internet():
    rule = only_rule(permission(PrefixListIds=[{"PrefixListId": "pl-1"}]))
    assert rule.peer_type == "prefix-list"
    assert not rule.is_internet(**INTERNET)


def test_group_reference_is_not_internet():
    rule = only_rule(permission(UserIdGroupPairs=[{"GroupId": "sg-2", "UserId": "111111111111"}]))
    assert rule.peer_type == "security-group"
    assert not rule.is_internet(**INTERNET)


def test_malformed_cidr_rejected():
    with pytest.raises(MalformedRule, match="not-a-cidr"):
        ingress_rules(group([permission(IpRanges=cidr("not-a-cidr"))]))


def test_ipv6_block_in_ipv4_field_rejected():
    with pytest.raises(MalformedRule):
        ingress_rules(group([permission(IpRanges=cidr("::/0"))]))


# What counts as the internet.
@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("198.51.0.0/16", True),  # public and wider than /24
        ("203.0.113.0/24", False),  # public but not wider than /24
        ("203.0.113.7/32", False),
        ("10.0.0.0/8", False),  # RFC 1918
        ("172.16.0.0/12", False),
        ("192.168.0.0/16", False),
        ("10.0.0.0/7", True),  # wider than 10/8, so half of it is public
        ("2001:db8::/32", True),
        ("2001:db8::/64", False),
        ("fd00::/8", False),  # unique local
        ("fc00::/7", False),
    ],
)
def test_internet_source(block, expected):
    field = "Ipv6Ranges" if ":" in block else "IpRanges"
    key = "CidrIpv6" if ":" in block else "CidrIp"
    rule = only_rule(permission(**{field: [{key: block}]}))
    assert rule.is_internet(**INTERNET) is expected


def test_internet_prefix_follows_setting():
    rule = only_rule(permission(IpRanges=cidr("203.0.113.0/24")))
    assert rule.is_internet(max_ipv4_prefix=28, max_ipv6_prefix=64)


def test_any_address_only_for_zero_prefix():
    assert only_rule(permission(IpRanges=cidr("0.0.0.0/0"))).is_any_address()
    assert not only_rule(permission(IpRanges=cidr("0.0.0.0/1"))).is_any_address()


# Default groups are identified by the reserved name and a VPC, never by other names.
def test_default_group_in_vpc():
    assert is_default_group(group(GroupName="default", VpcId="vpc-1"))


def test_default_name_without_vpc_not_default():
    assert not is_default_group(group(GroupName="default", VpcId=None))


def test_other_name_not_default():
    assert not is_default_group(group(GroupName="Default", VpcId="vpc-1"))


def test_attached_group_ids():
    interfaces = [
        {"NetworkInterfaceId": "eni-1", "Groups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]},
        {"NetworkInterfaceId": "eni-2", "Groups": []},
    ]
    assert attached_group_ids(interfaces) == {"sg-1", "sg-2"}


# Port list settings.
def test_parse_ports_expands_ranges():
    assert parse_ports([22, "137-139", "80"]) == [22, 80, 137, 138, 139]


def test_parse_ports_rejects_words():
    with pytest.raises(ValueError, match="ssh"):
        parse_ports(["ssh"])


def test_parse_ports_rejects_out_of_range():
    with pytest.raises(ValueError, match="70000"):
        parse_ports([70000])


def test_describe_rule():
    assert (
        only_rule(permission("tcp", 22, 22, IpRanges=cidr("0.0.0.0/0"))).describe() == "tcp 22 from 0.0.0.0/0"
    )
    rule = only_rule(permission("-1", None, None, Ipv6Ranges=cidr6("::/0")), direction="egress")
    assert rule.describe() == "all traffic to ::/0"
