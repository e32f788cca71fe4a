"""Security group checks: wide rules, internet exposure, default groups, egress and group count.

Every rule is read through `posture.checks.sg_rules`, so all these checks agree on direction,
protocols, ports, IPv6 peers and what counts as the internet. A group whose rules cannot be parsed
gets an UNKNOWN result naming the bad value; the other groups are still judged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from posture.aws.inventory import Inventory
from posture.checks.base import Area, CheckContext, Severity, Threshold, check, tags_evidence
from posture.checks.sg_rules import (
    INTERNET_THRESHOLDS,
    MalformedRule,
    SgRule,
    attached_group_ids,
    egress_rules,
    ingress_rules,
    internet_rules,
    is_default_group,
    is_private,
    parse_ports,
)

RESOURCE_TYPE = "security group"
# Evidence stays small: at most this many rules or groups are listed, with the full count beside them.
MAX_LISTED = 20
MAX_LISTED_GROUPS = 100

WELL_KNOWN_PORTS = [
    20, 21, 22, 23, 25, 110, 135, "137-139", 143, 445, 1433, 1434, 1521, 2483, 2484, 3306, 3389,
    5432, 5500, 5900, 6379, 9200, 9300, 11211, 27017, 27018,
]  # fmt: skip

SG_CONSOLE = "EC2 console > Network & Security > Security Groups > select the group > "


def group_arn(ctx: CheckContext, region: str, group: dict[str, Any]) -> str:
    owner = group.get("OwnerId") or ctx.account_id
    return f"arn:{ctx.data.partition}:ec2:{region}:{owner}:security-group/{group['GroupId']}"


def group_evidence(group: dict[str, Any]) -> dict[str, Any]:
    return {
        "GroupId": group.get("GroupId"),
        "GroupName": group.get("GroupName"),
        "VpcId": group.get("VpcId"),
    }


def group_result_evidence(group: dict[str, Any]) -> dict[str, Any]:
    """Evidence of a result about the group itself: its identity and its tags.

    Lists of groups inside another result's evidence use `group_evidence`, without tags.
    """
    return {**group_evidence(group), **tags_evidence(group.get("Tags"))}


def rules_evidence(rules: list[SgRule]) -> list[dict[str, Any]]:
    return [rule.as_evidence() for rule in rules[:MAX_LISTED]]


def _groups(inventory: Inventory) -> list[dict[str, Any]]:
    return inventory.get("ec2.security_groups")


def _parsed(
    ctx: CheckContext,
    region: str,
    group: dict[str, Any],
    parse: Callable[[dict[str, Any]], list[SgRule]],
) -> list[SgRule] | None:
    """Return the group's rules, or record an UNKNOWN result and return None when they do not parse."""
    try:
        return parse(group)
    except MalformedRule as exc:
        ctx.unknown(
            region=region,
            resource_id=group_arn(ctx, region, group),
            error=f"Security group {group.get('GroupId')} has a rule that cannot be read: {exc}",
            evidence=group_result_evidence(group),
        )
        return None


def _judge_rules(
    ctx: CheckContext,
    region: str,
    group: dict[str, Any],
    *,
    offending: list[SgRule],
    judged: int,
    compliant: str,
    violation: str,
    extra: dict[str, Any],
) -> None:
    group_id = group["GroupId"]
    summary = "; ".join(rule.describe() for rule in offending[:3])
    more = f" and {len(offending) - 3} more" if len(offending) > 3 else ""
    ctx.judge(
        not offending,
        region=region,
        resource_id=group_arn(ctx, region, group),
        pass_reason=f"Security group {group_id}: {compliant}.",
        fail_reason=f"Security group {group_id}: {violation}: {summary}{more}.",
        evidence={
            **group_result_evidence(group),
            "rules_judged": judged,
            "offending_rule_count": len(offending),
            "offending_rules": rules_evidence(offending),
            **extra,
        },
    )


@check(
    id="sg_wide_port_range",
    area=Area.CONFIGURATION,
    title="Security group rules open narrow port ranges",
    severity=Severity.MEDIUM,
    resource_type=RESOURCE_TYPE,
    decides="PASS when no inbound rule from an address range (CIDR block or prefix list) opens more than "
    "the configured number of ports or all protocols; rules that reference other groups are not judged.",
    rationale="A rule that opens a wide port range exposes every service that ever listens on those "
    "ports, including ones started later for maintenance or by an attacker.",
    console=SG_CONSOLE + "Inbound rules > Edit inbound rules; replace each wide range with rules for "
    "the single ports the workload needs.",
    cli="aws ec2 revoke-security-group-ingress --group-id <group-id> --ip-permissions "
    "'IpProtocol=tcp,FromPort=0,ToPort=65535,IpRanges=[{CidrIp=<cidr>}]'\n"
    "aws ec2 authorize-security-group-ingress --group-id <group-id> --protocol tcp --port <port> "
    "--cidr <cidr>",
    thresholds=[
        Threshold(
            name="max_ports_per_rule",
            default=10,
            unit="ports",
            description="An inbound rule from an address range may open at most this many ports.",
        )
    ],
)
def sg_wide_port_range(ctx: CheckContext) -> None:
    max_ports = ctx.threshold("max_ports_per_rule")
    for region, inventory in ctx.regions("ec2.security_groups"):
        for group in _groups(inventory):
            rules = _parsed(ctx, region, group, ingress_rules)
            if rules is None:
                continue
            from_ranges = [rule for rule in rules if rule.peer_type != "security-group"]
            wide = [rule for rule in from_ranges if rule.all_protocols or rule.port_count() > max_ports]
            _judge_rules(
                ctx,
                region,
                group,
                offending=wide,
                judged=len(from_ranges),
                compliant=f"no inbound rule from an address range opens more than {max_ports} ports "
                "or all protocols",
                violation=f"inbound rules open more than {max_ports} ports or all protocols",
                extra={"max_ports_per_rule": max_ports},
            )


@check(
    id="sg_wide_source_range",
    area=Area.CONFIGURATION,
    title="Security group rules admit narrow address ranges",
    severity=Severity.HIGH,
    resource_type=RESOURCE_TYPE,
    decides="PASS when no inbound rule admits an IPv4 range wider than the configured prefix (/24) or an "
    "IPv6 range wider than /64, 0.0.0.0/0 and ::/0 included; private ranges (RFC 1918, fc00::/7) are "
    "exempt unless the setting says otherwise.",
    rationale="Each wider source range lets more hosts reach the group's resources; ranges as wide as "
    "the internet make them a target for every scanner.",
    console=SG_CONSOLE + "Inbound rules > Edit inbound rules; replace wide sources with the addresses "
    "of the clients, a prefix list, or a security group reference.",
    cli="aws ec2 revoke-security-group-ingress --group-id <group-id> --protocol <protocol> --port <port> "
    "--cidr 0.0.0.0/0\n"
    "aws ec2 authorize-security-group-ingress --group-id <group-id> --protocol <protocol> --port <port> "
    "--cidr <narrow-cidr>",
    thresholds=[
        Threshold(
            name="max_ipv4_prefix",
            default=24,
            unit="prefix length",
            description="Inbound IPv4 sources with a shorter prefix than this (wider ranges) fail.",
        ),
        Threshold(
            name="max_ipv6_prefix",
            default=64,
            unit="prefix length",
            description="Inbound IPv6 sources with a shorter prefix than this (wider ranges) fail.",
        ),
        Threshold(
            name="exempt_private_ranges",
            default=True,
            unit="boolean",
            description="Whether ranges inside RFC 1918 and fc00::/7 are exempt.",
        ),
    ],
)
def sg_wide_source_range(ctx: CheckContext) -> None:
    max_ipv4 = ctx.threshold("max_ipv4_prefix")
    max_ipv6 = ctx.threshold("max_ipv6_prefix")
    exempt_private = bool(ctx.threshold("exempt_private_ranges"))

    def too_wide(rule: SgRule) -> bool:
        network = rule.network
        if network is None:
            return False
        max_prefix = max_ipv4 if network.version == 4 else max_ipv6
        if network.prefixlen >= max_prefix:
            return False
        return not (exempt_private and is_private(network))

    for region, inventory in ctx.regions("ec2.security_groups"):
        for group in _groups(inventory):
            rules = _parsed(ctx, region, group, ingress_rules)
            if rules is None:
                continue
            wide = [rule for rule in rules if too_wide(rule)]
            _judge_rules(
                ctx,
                region,
                group,
                offending=wide,
                judged=sum(1 for rule in rules if rule.network is not None),
                compliant=f"no inbound rule admits an IPv4 range wider than /{max_ipv4} or an IPv6 "
                f"range wider than /{max_ipv6}",
                violation=f"inbound rules admit ranges wider than /{max_ipv4} (IPv4) or /{max_ipv6} (IPv6)",
                extra={
                    "max_ipv4_prefix": max_ipv4,
                    "max_ipv6_prefix": max_ipv6,
                    "exempt_private_ranges": exempt_private,
                },
            )


@check(
    id="security_group_count",
    area=Area.CONFIGURATION,
    title="Few security groups per region",
    severity=Severity.LOW,
    resource_type="region",
    decides="PASS when the region holds at most the configured number of security groups (40), not "
    "counting the default group of each VPC; the evidence lists the groups attached to no network "
    "interface.",
    rationale="Every extra group is another rule set to review; a few well-understood groups are "
    "easier to keep tight, and groups attached to nothing can usually be deleted.",
    console="EC2 console > Network & Security > Security Groups; for each group listed as unattached, "
    "confirm nothing uses it, then Actions > Delete security groups.",
    cli="aws ec2 describe-network-interfaces --filters Name=group-id,Values=<group-id>\n"
    "aws ec2 delete-security-group --group-id <group-id>",
    thresholds=[
        Threshold(
            name="max_groups",
            default=40,
            unit="count",
            description="Security groups allowed per region, not counting the default group of each VPC.",
        )
    ],
)
def security_group_count(ctx: CheckContext) -> None:
    max_groups = ctx.threshold("max_groups")
    for region, inventory in ctx.regions("ec2.security_groups"):
        groups = _groups(inventory)
        counted = [group for group in groups if not is_default_group(group)]
        evidence: dict[str, Any] = {
            "group_count": len(counted),
            "default_group_count": len(groups) - len(counted),
            "max_groups": max_groups,
        }
        interfaces = inventory.items.get("ec2.network_interfaces")
        if isinstance(interfaces, list):
            attached = attached_group_ids(interfaces)
            unattached = [group for group in counted if group["GroupId"] not in attached]
            evidence["unattached_group_count"] = len(unattached)
            evidence["unattached_groups"] = [
                group_evidence(group) for group in unattached[:MAX_LISTED_GROUPS]
            ]
        else:
            # The count alone decides this check; only the list of unattached groups is missing.
            evidence["unattached_groups"] = None
            if interfaces is not None:
                evidence["network_interfaces_error"] = interfaces.as_dict()
        ctx.judge(
            len(counted) <= max_groups,
            region=region,
            resource_id=ctx.region_resource_id(region),
            pass_reason=f"{region} has {len(counted)} security groups besides the default ones, at most "
            f"{max_groups}.",
            fail_reason=f"{region} has {len(counted)} security groups besides the default ones, more than "
            f"{max_groups}.",
            evidence=evidence,
        )


@check(
    id="sg_uncommon_ports_open",
    area=Area.ACCESS,
    title="Only allowed ports are open to the internet",
    severity=Severity.HIGH,
    resource_type=RESOURCE_TYPE,
    decides="PASS when no inbound rule open to the internet (0.0.0.0/0, ::/0, or a public range wider "
    "than the configured prefix) opens a port outside the allowed list (80 and 443 by default) or all "
    "protocols.",
    rationale="Services other than the public web front end should not be reachable from anywhere; "
    "an open administrative or database port is the usual first step of a ransomware attack.",
    console=SG_CONSOLE + "Inbound rules > Edit inbound rules; remove internet sources from rules for "
    "other ports, or narrow them to known addresses.",
    cli="aws ec2 revoke-security-group-ingress --group-id <group-id> --protocol tcp --port <port> "
    "--cidr 0.0.0.0/0\n"
    "aws ec2 revoke-security-group-ingress --group-id <group-id> --ip-permissions "
    "'IpProtocol=tcp,FromPort=<port>,ToPort=<port>,Ipv6Ranges=[{CidrIpv6=::/0}]'",
    thresholds=[
        Threshold(
            name="allowed_ports",
            default=[80, 443],
            unit="ports",
            description="Ports that may be open to the internet (numbers or ranges such as 8000-8010).",
        ),
        *INTERNET_THRESHOLDS,
    ],
)
def sg_uncommon_ports_open(ctx: CheckContext) -> None:
    allowed = parse_ports(ctx.threshold("allowed_ports"))
    max_ipv4 = ctx.threshold("max_ipv4_prefix")
    max_ipv6 = ctx.threshold("max_ipv6_prefix")
    for region, inventory in ctx.regions("ec2.security_groups"):
        for group in _groups(inventory):
            rules = _parsed(ctx, region, group, ingress_rules)
            if rules is None:
                continue
            exposed = internet_rules(rules, max_ipv4_prefix=max_ipv4, max_ipv6_prefix=max_ipv6)
            uncommon = [rule for rule in exposed if rule.opens_port_outside(allowed)]
            _judge_rules(
                ctx,
                region,
                group,
                offending=uncommon,
                judged=len(exposed),
                compliant="no rule open to the internet opens a port outside the allowed list",
                violation="rules open to the internet open ports outside the allowed list",
                extra={
                    "allowed_ports": allowed,
                    "max_ipv4_prefix": max_ipv4,
                    "max_ipv6_prefix": max_ipv6,
                },
            )


@check(
    id="sg_default_restricts_all",
    area=Area.ACCESS,
    title="Default security groups allow no traffic",
    severity=Severity.HIGH,
    resource_type="default security group",
    decides="PASS when the default security group of a VPC has no inbound and no outbound rules.",
    rationale="Resources launched without an explicit group land in the default one; with no rules "
    "it isolates them until someone chooses their access on purpose.",
    console=SG_CONSOLE + "(the group named default in each VPC) > Inbound rules and Outbound rules > "
    "Edit, delete every rule; give resources that need access their own groups first.",
    cli="aws ec2 revoke-security-group-ingress --group-id <default-group-id> --ip-permissions "
    "'IpProtocol=-1,UserIdGroupPairs=[{GroupId=<default-group-id>}]'\n"
    "aws ec2 revoke-security-group-egress --group-id <default-group-id> --ip-permissions "
    "'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]'",
)
def sg_default_restricts_all(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("ec2.security_groups"):
        for group in _groups(inventory):
            if not is_default_group(group):
                continue
            # The decision needs only whether any permission exists; the parsed rules are evidence.
            inbound = group.get("IpPermissions") or []
            outbound = group.get("IpPermissionsEgress") or []
            try:
                rules: list[dict[str, Any]] | str = rules_evidence(ingress_rules(group) + egress_rules(group))
            except MalformedRule as exc:
                rules = f"The rules cannot be listed: {exc}"
            group_id = group["GroupId"]
            ctx.judge(
                not inbound and not outbound,
                region=region,
                resource_id=group_arn(ctx, region, group),
                pass_reason=f"Default security group {group_id} of {group.get('VpcId')} has no rules.",
                fail_reason=f"Default security group {group_id} of {group.get('VpcId')} has "
                f"{len(inbound)} inbound and {len(outbound)} outbound permissions.",
                evidence={
                    **group_result_evidence(group),
                    "inbound_permission_count": len(inbound),
                    "outbound_permission_count": len(outbound),
                    "rules": rules,
                },
            )


@check(
    id="sg_unrestricted_egress",
    area=Area.ACCESS,
    title="Security groups in use restrict outbound traffic",
    severity=Severity.MEDIUM,
    resource_type=RESOURCE_TYPE,
    decides="PASS when a security group attached to a network interface has no outbound rule that "
    "allows all protocols to 0.0.0.0/0 or ::/0; groups attached to nothing are not judged.",
    rationale="Unrestricted outbound traffic lets compromised hosts reach command-and-control servers "
    "and exfiltrate data or backups anywhere.",
    console=SG_CONSOLE + "Outbound rules > Edit outbound rules; replace the all-traffic rule with rules "
    "for the destinations and ports the workload needs.",
    cli="aws ec2 revoke-security-group-egress --group-id <group-id> --ip-permissions "
    "'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]'\n"
    "aws ec2 revoke-security-group-egress --group-id <group-id> --ip-permissions "
    "'IpProtocol=-1,Ipv6Ranges=[{CidrIpv6=::/0}]'",
)
def sg_unrestricted_egress(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("ec2.security_groups", "ec2.network_interfaces"):
        attached = attached_group_ids(inventory.get("ec2.network_interfaces"))
        for group in _groups(inventory):
            if group["GroupId"] not in attached:
                continue
            rules = _parsed(ctx, region, group, egress_rules)
            if rules is None:
                continue
            unrestricted = [rule for rule in rules if rule.all_protocols and rule.is_any_address()]
            _judge_rules(
                ctx,
                region,
                group,
                offending=unrestricted,
                judged=len(rules),
                compliant="no outbound rule allows all protocols to 0.0.0.0/0 or ::/0",
                violation="outbound rules allow all protocols to anywhere",
                extra={"in_use": True},
            )


@check(
    id="sg_well_known_ports_open",
    area=Area.ACCESS,
    title="Well-known service ports are closed to the internet",
    severity=Severity.CRITICAL,
    resource_type=RESOURCE_TYPE,
    decides="PASS when no inbound rule open to the internet (0.0.0.0/0, ::/0, or a public range wider "
    "than the configured prefix) opens any of the well-known ports: FTP, SSH, Telnet, SMTP, POP3, "
    "RPC, NetBIOS, IMAP, SMB, SQL Server, Oracle, MySQL, RDP, PostgreSQL, VNC, Redis, Elasticsearch, "
    "Memcached and MongoDB.",
    rationale="These services are scanned for continuously and are the usual way into a network; "
    "from there attackers reach and destroy backups.",
    console=SG_CONSOLE + "Inbound rules > Edit inbound rules; remove internet sources for these ports "
    "and reach the hosts through Session Manager, a VPN or a bastion instead.",
    cli="aws ec2 revoke-security-group-ingress --group-id <group-id> --protocol tcp --port 22 "
    "--cidr 0.0.0.0/0\n"
    "aws ec2 revoke-security-group-ingress --group-id <group-id> --ip-permissions "
    "'IpProtocol=tcp,FromPort=3389,ToPort=3389,Ipv6Ranges=[{CidrIpv6=::/0}]'",
    thresholds=[
        Threshold(
            name="well_known_ports",
            default=WELL_KNOWN_PORTS,
            unit="ports",
            description="Ports that must not be open to the internet (numbers or ranges such as 137-139).",
        ),
        *INTERNET_THRESHOLDS,
    ],
)
def sg_well_known_ports_open(ctx: CheckContext) -> None:
    ports = parse_ports(ctx.threshold("well_known_ports"))
    max_ipv4 = ctx.threshold("max_ipv4_prefix")
    max_ipv6 = ctx.threshold("max_ipv6_prefix")
    for region, inventory in ctx.regions("ec2.security_groups"):
        for group in _groups(inventory):
            rules = _parsed(ctx, region, group, ingress_rules)
            if rules is None:
                continue
            exposed = internet_rules(rules, max_ipv4_prefix=max_ipv4, max_ipv6_prefix=max_ipv6)
            offending = [rule for rule in exposed if rule.open_ports(ports)]
            open_ports = sorted({port for rule in offending for port in rule.open_ports(ports)})
            _judge_rules(
                ctx,
                region,
                group,
                offending=offending,
                judged=len(exposed),
                compliant="no rule open to the internet opens a well-known port",
                violation=f"well-known ports {_ports_text(open_ports)} are open to the internet",
                extra={
                    "open_ports": open_ports,
                    "well_known_ports": ports,
                    "max_ipv4_prefix": max_ipv4,
                    "max_ipv6_prefix": max_ipv6,
                },
            )


def _ports_text(ports: list[int]) -> str:
    listed = ", ".join(str(port) for port in ports[:10])
    return listed + (f" and {len(ports) - 10} more" if len(ports) > 10 else "")
