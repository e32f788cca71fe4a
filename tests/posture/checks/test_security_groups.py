"""Security group checks against moto, plus plain-data cases moto cannot produce."""

from __future__ import annotations

from posture.aws.inventory import AccountData, Inventory, ReadError
from posture.checks.base import Status
from tests.aws import aws_account, check_results, collect, evaluate

ACCOUNT = "111111111111"
REGION = "us-east-1"
ALL_TRAFFIC_ANYWHERE = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def ec2_client(region: str = REGION):
    return aws_account.client(ACCOUNT, "ec2", region)


def rule(
    protocol="tcp", from_port=None, to_port=None, *, cidr=None, cidr6=None, prefix_list=None, group=None
):
    item = {"IpProtocol": protocol}
    if from_port is not None:
        item["FromPort"] = from_port
        item["ToPort"] = from_port if to_port is None else to_port
    if cidr:
        item["IpRanges"] = [{"CidrIp": cidr}]
    if cidr6:
        item["Ipv6Ranges"] = [{"CidrIpv6": cidr6}]
    if prefix_list:
        item["PrefixListIds"] = [{"PrefixListId": prefix_list}]
    if group:
        item["UserIdGroupPairs"] = [{"GroupId": group}]
    return item


def new_group(ec2, name="web", *, ingress=(), egress=None) -> str:
    """Create a group in the default VPC; `egress` replaces the default allow-all outbound rule."""
    group_id = ec2.create_security_group(GroupName=name, Description=f"{name} test group")["GroupId"]
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(ingress))
    if egress is not None:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[ALL_TRAFFIC_ANYWHERE])
        if egress:
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=list(egress))
    return group_id


def attach(ec2, group_id: str) -> None:
    subnet_id = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet_id, Groups=[group_id])


def default_group_id(ec2) -> str:
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
    return groups["SecurityGroups"][0]["GroupId"]


def delete_default_vpc(ec2) -> None:
    """Leave the region with no VPC, hence no security group at all."""
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        vpc_id = vpc["VpcId"]
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
        for gateway in gateways["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc_id)
            ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vpc_id)


def sg_arn(group_id: str, region: str = REGION) -> str:
    return f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{group_id}"


def result_for(results, group_id: str):
    matches = [r for r in results if r.resource_id == sg_arn(group_id)]
    assert len(matches) == 1, f"expected one result for {group_id}, got {results}"
    return matches[0]


def plain_data(groups, interfaces=()) -> AccountData:
    inventory = Inventory(region=REGION)
    inventory.put("ec2.security_groups", list(groups))
    inventory.put("ec2.network_interfaces", list(interfaces))
    return AccountData(
        account_id=ACCOUNT, partition="aws", global_=Inventory(region="global"), regions={REGION: inventory}
    )


def plain_group(group_id="sg-1", name="web", vpc_id="vpc-1", ingress=(), egress=()):
    return {
        "GroupId": group_id,
        "GroupName": name,
        "VpcId": vpc_id,
        "OwnerId": ACCOUNT,
        "IpPermissions": list(ingress),
        "IpPermissionsEgress": list(egress),
    }


SG_CHECKS = [
    "sg_wide_port_range",
    "sg_wide_source_range",
    "sg_uncommon_ports_open",
    "sg_default_restricts_all",
    "sg_unrestricted_egress",
    "sg_well_known_ports_open",
]


def verdicts(check_id: str, data: AccountData, groups: dict[str, str], **thresholds) -> dict[str, str]:
    """Map each named test group to its status, or to None when the check did not judge it."""
    by_id = {r.resource_id: r.status for r in evaluate(check_id, data, **thresholds)}
    return {name: by_id.get(sg_arn(group_id)) for name, group_id in groups.items()}


# UNKNOWN and NOT_APPLICABLE for every group check.
def test_listing_denied_unknown(mock_aws_env, aws_fakes):
    aws_fakes.deny("ec2", "DescribeSecurityGroups")
    data = collect(ACCOUNT)
    for check_id in [*SG_CHECKS, "security_group_count"]:
        results = evaluate(check_id, data)
        assert [r.status for r in results] == [Status.UNKNOWN], check_id
        assert results[0].evidence["error"]["code"] == "AccessDenied", check_id


def test_region_without_vpc(mock_aws_env):
    delete_default_vpc(ec2_client())
    data = collect(ACCOUNT)
    for check_id in SG_CHECKS:
        results = evaluate(check_id, data)
        assert [r.status for r in results] == [Status.NOT_APPLICABLE], check_id
    # A region-level check still judges an empty region (an empty inventory stays visible).
    [count] = evaluate("security_group_count", data)
    assert count.status == Status.PASS
    assert count.evidence["group_count"] == 0


# sg_wide_port_range
def test_port_range_verdicts(mock_aws_env):
    ec2 = ec2_client()
    prefix_list = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=2, AddressFamily="IPv4")
    groups = {
        "ten_ports": new_group(ec2, "ten", ingress=[rule("tcp", 8000, 8009, cidr="203.0.113.0/24")]),
        "eleven_ports": new_group(ec2, "eleven", ingress=[rule("tcp", 8000, 8010, cidr="203.0.113.0/24")]),
        "all_protocols": new_group(ec2, "all", ingress=[rule("-1", cidr="10.0.0.0/8")]),
        "icmp": new_group(ec2, "icmp", ingress=[rule("icmp", -1, -1, cidr="0.0.0.0/0")]),
        "prefix_list": new_group(
            ec2,
            "listed",
            ingress=[rule("tcp", 0, 65535, prefix_list=prefix_list["PrefixList"]["PrefixListId"])],
        ),
        "group_reference": new_group(ec2, "peer"),
    }
    reference = rule("-1", group=groups["group_reference"])
    ec2.authorize_security_group_ingress(GroupId=groups["group_reference"], IpPermissions=[reference])
    data = collect(ACCOUNT)

    found = verdicts("sg_wide_port_range", data, groups)
    assert found["ten_ports"] == Status.PASS
    assert found["eleven_ports"] == Status.FAIL
    assert found["all_protocols"] == Status.FAIL
    assert found["icmp"] == Status.PASS
    assert found["prefix_list"] == Status.FAIL
    assert found["group_reference"] == Status.PASS
    assert verdicts("sg_wide_port_range", data, groups, max_ports_per_rule=5)["ten_ports"] == Status.FAIL


def test_port_range_evidence():
    group = plain_group(ingress=[rule("tcp", 8000, 8010, cidr="203.0.113.0/24")])
    [result] = evaluate("sg_wide_port_range", plain_data([group]))
    assert result.evidence["offending_rules"][0]["ports"] == "8000-8010"
    assert result.evidence["max_ports_per_rule"] == 10


# sg_wide_source_range
def test_source_range_verdicts(mock_aws_env):
    ec2 = ec2_client()
    groups = {
        "slash_24": new_group(ec2, "s24", ingress=[rule("tcp", 443, cidr="203.0.113.0/24")]),
        "slash_23": new_group(ec2, "s23", ingress=[rule("tcp", 443, cidr="203.0.112.0/23")]),
        "anywhere_icmp": new_group(ec2, "ping", ingress=[rule("icmp", -1, -1, cidr="0.0.0.0/0")]),
        "ipv6_anywhere": new_group(ec2, "v6any", ingress=[rule("tcp", 443, cidr6="::/0")]),
        "ipv6_slash_64": new_group(ec2, "v6net", ingress=[rule("tcp", 443, cidr6="2001:db8:1:2::/64")]),
        "private": new_group(
            ec2,
            "private",
            ingress=[rule("tcp", 5432, cidr="10.0.0.0/8"), rule("tcp", 5432, cidr6="fd00::/8")],
        ),
        "egress_only": new_group(ec2, "out", egress=[rule("tcp", 443, cidr="0.0.0.0/0")]),
    }
    data = collect(ACCOUNT)

    found = verdicts("sg_wide_source_range", data, groups)
    assert found["slash_24"] == Status.PASS
    assert found["slash_23"] == Status.FAIL
    assert found["anywhere_icmp"] == Status.FAIL
    assert found["ipv6_anywhere"] == Status.FAIL
    assert found["ipv6_slash_64"] == Status.PASS
    assert found["private"] == Status.PASS
    assert found["egress_only"] == Status.PASS
    assert (
        verdicts("sg_wide_source_range", data, groups, exempt_private_ranges=False)["private"] == Status.FAIL
    )


def test_source_range_evidence():
    group = plain_group(ingress=[rule("tcp", 443, cidr="203.0.112.0/23")])
    [result] = evaluate("sg_wide_source_range", plain_data([group]))
    assert result.evidence["offending_rules"][0]["peer"] == "203.0.112.0/23"
    assert result.evidence["exempt_private_ranges"] is True
    assert result.evidence["max_ipv4_prefix"] == 24


# security_group_count
def test_group_count_verdicts(mock_aws_env):
    ec2 = ec2_client()
    ec2.create_vpc(CidrBlock="10.1.0.0/16")  # brings a second default group
    used = new_group(ec2, "used")
    unused = new_group(ec2, "unused")
    attach(ec2, used)
    data = collect(ACCOUNT, ["eu-west-1", REGION])

    results = evaluate("security_group_count", data)
    assert [r.region for r in results] == ["eu-west-1", REGION]
    result = results[1]
    assert result.status == Status.PASS
    assert result.resource_id == f"arn:aws::{ACCOUNT}:account/{REGION}"
    assert result.evidence["group_count"] == 2
    assert result.evidence["default_group_count"] == 2
    assert [g["GroupId"] for g in result.evidence["unattached_groups"]] == [unused]
    assert evaluate("security_group_count", data, max_groups=2)[1].status == Status.PASS
    assert evaluate("security_group_count", data, max_groups=1)[1].status == Status.FAIL


def test_group_count_interfaces_denied(mock_aws_env, aws_fakes):
    aws_fakes.deny("ec2", "DescribeNetworkInterfaces")
    new_group(ec2_client())
    data = collect(ACCOUNT)

    [result] = evaluate("security_group_count", data)
    assert result.status == Status.PASS
    assert result.evidence["unattached_groups"] is None
    assert result.evidence["network_interfaces_error"]["code"] == "AccessDenied"
    # The egress check judges groups in use only, so without interfaces it cannot decide.
    [egress] = evaluate("sg_unrestricted_egress", data)
    assert egress.status == Status.UNKNOWN
    assert egress.evidence["error"]["operation"] == "ec2:DescribeNetworkInterfaces"


# sg_uncommon_ports_open
def test_uncommon_ports_verdicts(mock_aws_env):
    ec2 = ec2_client()
    prefix_list = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=2, AddressFamily="IPv4")
    groups = {
        "https": new_group(ec2, "https", ingress=[rule("tcp", 443, cidr="0.0.0.0/0")]),
        "port_8080": new_group(ec2, "alt", ingress=[rule("tcp", 8080, cidr="0.0.0.0/0")]),
        "ipv6_8080": new_group(ec2, "alt6", ingress=[rule("tcp", 8080, cidr6="::/0")]),
        "range_80_443": new_group(ec2, "span", ingress=[rule("tcp", 80, 443, cidr="0.0.0.0/0")]),
        "all_protocols": new_group(ec2, "all", ingress=[rule("-1", cidr="0.0.0.0/0")]),
        "wide_public": new_group(ec2, "wide", ingress=[rule("tcp", 8080, cidr="198.51.0.0/16")]),
        "narrow_public": new_group(ec2, "narrow", ingress=[rule("tcp", 8080, cidr="203.0.113.0/24")]),
        "prefix_list": new_group(
            ec2, "listed", ingress=[rule("tcp", 8080, prefix_list=prefix_list["PrefixList"]["PrefixListId"])]
        ),
    }
    data = collect(ACCOUNT)

    found = verdicts("sg_uncommon_ports_open", data, groups)
    assert found["https"] == Status.PASS
    assert found["port_8080"] == Status.FAIL
    assert found["ipv6_8080"] == Status.FAIL
    assert found["range_80_443"] == Status.FAIL
    assert found["all_protocols"] == Status.FAIL
    assert found["wide_public"] == Status.FAIL
    assert found["narrow_public"] == Status.PASS
    assert found["prefix_list"] == Status.PASS
    relaxed = verdicts("sg_uncommon_ports_open", data, groups, allowed_ports=[443, "8000-8100"])
    assert relaxed["port_8080"] == Status.PASS


def test_uncommon_ports_reason():
    group = plain_group(ingress=[rule("tcp", 8080, cidr="0.0.0.0/0")])
    [result] = evaluate("sg_uncommon_ports_open", plain_data([group]))
    assert "tcp 8080 from 0.0.0.0/0" in result.reason
    assert result.evidence["allowed_ports"] == [80, 443]


# sg_default_restricts_all
def test_default_group_verdicts(mock_aws_env):
    ec2 = ec2_client()
    closed = default_group_id(ec2)
    ec2.revoke_security_group_egress(GroupId=closed, IpPermissions=[ALL_TRAFFIC_ANYWHERE])
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    open_groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )
    self_referencing = open_groups["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=self_referencing, IpPermissions=[rule("-1", group=self_referencing)]
    )
    look_alike = new_group(ec2, "Default", egress=[rule("-1", cidr="0.0.0.0/0")])
    data = collect(ACCOUNT)

    results = {r.resource_id: r for r in evaluate("sg_default_restricts_all", data)}
    assert results[sg_arn(closed)].status == Status.PASS
    assert results[sg_arn(self_referencing)].status == Status.FAIL
    assert results[sg_arn(self_referencing)].evidence["inbound_permission_count"] == 1
    assert results[sg_arn(self_referencing)].evidence["outbound_permission_count"] == 1
    assert sg_arn(look_alike) not in results


def test_default_name_without_vpc_not_default():
    # EC2-Classic groups were called "default" too but belong to no VPC.
    classic = plain_group(name="default", vpc_id=None, egress=[rule("-1", cidr="0.0.0.0/0")])
    data = plain_data([classic])
    assert [r.status for r in evaluate("sg_default_restricts_all", data)] == [Status.NOT_APPLICABLE]
    assert evaluate("security_group_count", data)[0].evidence["group_count"] == 1


# sg_unrestricted_egress
def test_egress_verdicts(mock_aws_env):
    ec2 = ec2_client()
    groups = {
        "all_traffic": new_group(ec2, "all"),
        "ipv6_all_traffic": new_group(ec2, "all6", egress=[rule("-1", cidr6="::/0")]),
        "single_port": new_group(ec2, "https", egress=[rule("tcp", 443, cidr="0.0.0.0/0")]),
        "narrow_all_traffic": new_group(ec2, "vpc", egress=[rule("-1", cidr="10.0.0.0/16")]),
        "ingress_all_traffic": new_group(ec2, "in", ingress=[rule("-1", cidr="0.0.0.0/0")], egress=[]),
    }
    for group_id in groups.values():
        attach(ec2, group_id)
    groups["unattached"] = new_group(ec2, "spare")
    data = collect(ACCOUNT)

    found = verdicts("sg_unrestricted_egress", data, groups)
    assert found["all_traffic"] == Status.FAIL
    assert found["ipv6_all_traffic"] == Status.FAIL
    assert found["single_port"] == Status.PASS
    assert found["narrow_all_traffic"] == Status.PASS
    assert found["ingress_all_traffic"] == Status.PASS
    assert found["unattached"] is None


# sg_well_known_ports_open
def test_well_known_verdicts(mock_aws_env):
    ec2 = ec2_client()
    groups = {
        "ssh": new_group(ec2, "ssh", ingress=[rule("tcp", 22, cidr="0.0.0.0/0")]),
        "https": new_group(ec2, "https", ingress=[rule("tcp", 443, cidr="0.0.0.0/0")]),
        "between": new_group(ec2, "between", ingress=[rule("tcp", 26, 109, cidr="0.0.0.0/0")]),
        "netbios_udp": new_group(ec2, "netbios", ingress=[rule("udp", 138, cidr6="::/0")]),
        "all_protocols": new_group(ec2, "all", ingress=[rule("-1", cidr="0.0.0.0/0")]),
        "private": new_group(ec2, "private", ingress=[rule("tcp", 22, cidr="10.0.0.0/8")]),
        "egress": new_group(ec2, "out", egress=[rule("tcp", 22, cidr="0.0.0.0/0")]),
        "group_reference": new_group(ec2, "peer"),
    }
    reference = rule("tcp", 22, group=groups["group_reference"])
    ec2.authorize_security_group_ingress(GroupId=groups["group_reference"], IpPermissions=[reference])
    data = collect(ACCOUNT)

    found = verdicts("sg_well_known_ports_open", data, groups)
    assert found["ssh"] == Status.FAIL
    assert found["https"] == Status.PASS
    assert found["between"] == Status.PASS  # 26-109 lies between the well-known 25 and 110
    assert found["netbios_udp"] == Status.FAIL
    assert found["all_protocols"] == Status.FAIL
    assert found["private"] == Status.PASS
    assert found["egress"] == Status.PASS
    assert found["group_reference"] == Status.PASS


def test_well_known_evidence_lists_ports():
    group = plain_group(ingress=[rule("tcp", 3300, 3389, cidr="0.0.0.0/0")])
    [result] = evaluate("sg_well_known_ports_open", plain_data([group]))
    assert result.evidence["open_ports"] == [3306, 3389]
    assert "3306, 3389" in result.reason


def test_well_known_edges_inclusive():
    edges = plain_group(ingress=[rule("tcp", 23, 23, cidr="0.0.0.0/0"), rule("udp", 110, 110, cidr6="::/0")])
    [result] = evaluate("sg_well_known_ports_open", plain_data([edges]))
    assert result.evidence["open_ports"] == [23, 110]


# Malformed data, identity and pagination.
def test_malformed_rule_unknown_for_that_group():
    bad = plain_group("sg-bad", ingress=[rule("tcp", 22, cidr="999.0.0.0/8")])
    good = plain_group("sg-good", ingress=[rule("tcp", 22, cidr="0.0.0.0/0")])
    results = evaluate("sg_well_known_ports_open", plain_data([bad, good]))
    assert result_for(results, "sg-bad").status == Status.UNKNOWN
    assert "999.0.0.0/8" in result_for(results, "sg-bad").reason
    assert result_for(results, "sg-good").status == Status.FAIL


def test_same_identity_pass_and_fail(mock_aws_env):
    ec2 = ec2_client()
    group_id = new_group(ec2, ingress=[rule("tcp", 22, cidr="0.0.0.0/0")])
    failed = result_for(check_results("sg_well_known_ports_open", ACCOUNT), group_id)
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[rule("tcp", 22, cidr="0.0.0.0/0")])
    passed = result_for(check_results("sg_well_known_ports_open", ACCOUNT), group_id)
    assert (failed.status, passed.status) == (Status.FAIL, Status.PASS)


def test_groups_read_across_pages(mock_aws_env, aws_fakes):
    pages = {
        None: {
            "SecurityGroups": [plain_group("sg-a", ingress=[rule("tcp", 22, cidr="0.0.0.0/0")])],
            "NextToken": "page-2",
        },
        "page-2": {"SecurityGroups": [plain_group("sg-b", ingress=[rule("tcp", 3389, cidr="0.0.0.0/0")])]},
    }
    aws_fakes.add("ec2", "DescribeSecurityGroups", lambda params: pages[params.get("NextToken")])
    data = collect(ACCOUNT)
    results = evaluate("sg_well_known_ports_open", data)
    assert {r.resource_id: r.status for r in results} == {
        sg_arn("sg-a"): Status.FAIL,
        sg_arn("sg-b"): Status.FAIL,
    }
    assert data.regions[REGION].listed["ec2.security_groups"] == 2


def test_interfaces_read_across_pages(mock_aws_env, aws_fakes):
    pages = {
        None: {
            "NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", "Groups": [{"GroupId": "sg-a"}]}],
            "NextToken": "page-2",
        },
        "page-2": {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-2", "Groups": [{"GroupId": "sg-b"}]}]},
    }
    aws_fakes.add("ec2", "DescribeNetworkInterfaces", lambda params: pages[params.get("NextToken")])
    aws_fakes.add(
        "ec2",
        "DescribeSecurityGroups",
        lambda params: {"SecurityGroups": [plain_group("sg-a"), plain_group("sg-b"), plain_group("sg-c")]},
    )
    [result] = check_results("security_group_count", ACCOUNT)
    assert [g["GroupId"] for g in result.evidence["unattached_groups"]] == ["sg-c"]


def test_read_error_kept_per_region():
    inventory = Inventory(region=REGION)
    inventory.fail(
        "ec2.security_groups", ReadError("ec2:DescribeSecurityGroups", "Throttling", "Rate exceeded")
    )
    data = AccountData(
        account_id=ACCOUNT, partition="aws", global_=Inventory(region="global"), regions={REGION: inventory}
    )
    [result] = evaluate("sg_wide_source_range", data)
    assert result.status == Status.UNKNOWN
    assert "Throttling" in result.reason


# Tags in the evidence.
TEAM_TAGS = [{"Key": "team", "Value": "web"}]


def test_group_results_carry_tags():
    group = {**plain_group(ingress=[rule("tcp", 22, cidr="0.0.0.0/0")]), "Tags": TEAM_TAGS}
    data = plain_data([group])
    for check_id in ["sg_wide_port_range", "sg_wide_source_range", "sg_well_known_ports_open"]:
        [result] = evaluate(check_id, data)
        assert result.evidence["Tags"] == TEAM_TAGS, check_id


def test_default_group_result_carries_tags():
    group = {**plain_group(group_id="sg-0", name="default"), "Tags": TEAM_TAGS}
    [result] = evaluate("sg_default_restricts_all", plain_data([group]))
    assert result.evidence["Tags"] == TEAM_TAGS


def test_group_count_evidence_has_no_tags():
    group = {**plain_group(), "Tags": TEAM_TAGS}
    [result] = evaluate("security_group_count", plain_data([group]))
    assert "Tags" not in result.evidence["unattached_groups"][0]
