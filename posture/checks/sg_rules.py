"""Security group rules, read the way EC2 applies them.

`parse_rules(group)` turns one DescribeSecurityGroups item into one `SgRule` per (permission, peer):
a permission that lists two CIDR blocks and a group reference becomes three rules. How the API fields
are read:
- `IpPermissions` contains the inbound rules and `IpPermissionsEgress` the outbound ones;
- `IpProtocol` "-1" means every protocol on every port; protocol numbers 6, 17, 1 and 58 are the
  same as "tcp", "udp", "icmp" and "icmpv6";
- `FromPort` and `ToPort` are an inclusive range for tcp and udp, and an ICMP type and code for
  icmp and icmpv6, which have no ports; other protocols (GRE, ESP...) have no ports either;
- IPv4 peers are in `IpRanges` (`CidrIp`), IPv6 peers in `Ipv6Ranges` (`CidrIpv6`);
- peers in `PrefixListIds` and `UserIdGroupPairs` are references, not address ranges the rule
  itself spells out, so they never count as internet sources.

A peer is "open to the internet" when it is 0.0.0.0/0 or ::/0, or a public range wider than the
configured prefix length. Private ranges are RFC 1918 (IPv4) and unique local addresses fc00::/7
(IPv6).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from posture.checks.base import Threshold

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Direction = Literal["ingress", "egress"]
PeerType = Literal["ipv4", "ipv6", "prefix-list", "security-group"]

ALL_PROTOCOLS = "-1"
PORT_PROTOCOLS = frozenset({"tcp", "udp"})
MIN_PORT = 0
MAX_PORT = 65535

PRIVATE_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)

_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


class MalformedRule(ValueError):
    """A security group rule that does not parse (a bad CIDR block or port number)."""


@dataclass(frozen=True)
class SgRule:
    """One permission of a security group for one peer (source of inbound, destination of outbound)."""

    direction: Direction
    protocol: str
    # Inclusive port range for tcp and udp (0-65535 for every protocol); None for protocols without ports.
    from_port: int | None
    to_port: int | None
    peer: str
    peer_type: PeerType

    @property
    def all_protocols(self) -> bool:
        return self.protocol == ALL_PROTOCOLS

    @property
    def has_ports(self) -> bool:
        return self.from_port is not None and self.to_port is not None

    @property
    def network(self) -> IPNetwork | None:
        """The peer as an address range, or None for prefix-list and group references."""
        if self.peer_type not in ("ipv4", "ipv6"):
            return None
        return ipaddress.ip_network(self.peer, strict=False)

    def port_count(self) -> int:
        """Number of ports the rule opens per protocol: 65536 for all protocols, 0 for icmp and others."""
        if not self.has_ports:
            return 0
        return self.to_port - self.from_port + 1  # type: ignore[operator]

    def opens_port(self, port: int) -> bool:
        return self.has_ports and self.from_port <= port <= self.to_port  # type: ignore[operator]

    def open_ports(self, ports: Iterable[int]) -> list[int]:
        """Return those of `ports` the rule opens, sorted."""
        return sorted(port for port in set(ports) if self.opens_port(port))

    def opens_port_outside(self, allowed: Iterable[int]) -> bool:
        """Return whether the rule opens at least one port that is not in `allowed`."""
        if not self.has_ports:
            return False
        inside = sum(1 for port in set(allowed) if self.opens_port(port))
        return self.port_count() > inside

    def is_internet(self, *, max_ipv4_prefix: int, max_ipv6_prefix: int) -> bool:
        """Return whether the peer is 0.0.0.0/0, ::/0, or a public range wider than the configured prefix."""
        network = self.network
        if network is None:
            return False
        if network.prefixlen == 0:
            return True
        max_prefix = max_ipv4_prefix if network.version == 4 else max_ipv6_prefix
        return network.prefixlen < max_prefix and not is_private(network)

    def is_any_address(self) -> bool:
        """Return whether the peer is exactly 0.0.0.0/0 or ::/0."""
        network = self.network
        return network is not None and network.prefixlen == 0

    def ports_label(self) -> str:
        if self.all_protocols:
            return "all"
        if not self.has_ports:
            return "none"
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"

    def describe(self) -> str:
        """Return a short phrase such as "tcp 22 from 0.0.0.0/0" or "all traffic to ::/0"."""
        preposition = "from" if self.direction == "ingress" else "to"
        if self.all_protocols:
            what = "all traffic"
        elif self.has_ports:
            what = f"{self.protocol} {self.ports_label()}"
        else:
            what = f"protocol {self.protocol}"
        return f"{what} {preposition} {self.peer}"

    def as_evidence(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "protocol": self.protocol,
            "ports": self.ports_label(),
            "peer": self.peer,
            "peer_type": self.peer_type,
        }


def is_private(network: IPNetwork) -> bool:
    """Return whether the whole range lies inside RFC 1918 (IPv4) or fc00::/7 (IPv6)."""
    return any(
        network.version == private.version and network.subnet_of(private)  # type: ignore[arg-type]
        for private in PRIVATE_NETWORKS
    )


def normalize_protocol(value: Any) -> str:
    protocol = str(value).strip().lower()
    return _PROTOCOL_NAMES.get(protocol, protocol)


def _port_range(permission: dict[str, Any], protocol: str) -> tuple[int | None, int | None]:
    if protocol == ALL_PROTOCOLS:
        return MIN_PORT, MAX_PORT
    if protocol not in PORT_PROTOCOLS:
        return None, None
    from_port = permission.get("FromPort")
    to_port = permission.get("ToPort")
    # AWS always returns a range for tcp and udp. A missing or -1 bound is read as the widest one, so a
    # malformed response can only make a rule look more open.
    try:
        low = MIN_PORT if from_port is None or int(from_port) < 0 else int(from_port)
        high = MAX_PORT if to_port is None or int(to_port) < 0 else int(to_port)
    except (TypeError, ValueError):
        raise MalformedRule(
            f"Port range {from_port!r}-{to_port!r} of a {protocol} rule is not a pair of integers."
        ) from None
    if low > high or high > MAX_PORT:
        raise MalformedRule(f"Port range {low}-{high} of a {protocol} rule is not a valid range.")
    return low, high


def _network(value: Any, version: int) -> str:
    try:
        network = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise MalformedRule(f"Address range {value!r} is not a valid CIDR block.") from None
    if network.version != version:
        raise MalformedRule(f"Address range {value!r} is not an IPv{version} CIDR block.")
    return str(network)


def _peers(permission: dict[str, Any]) -> Iterable[tuple[str, PeerType]]:
    for item in permission.get("IpRanges") or []:
        yield _network(item.get("CidrIp"), 4), "ipv4"
    for item in permission.get("Ipv6Ranges") or []:
        yield _network(item.get("CidrIpv6"), 6), "ipv6"
    for item in permission.get("PrefixListIds") or []:
        yield str(item.get("PrefixListId", "")), "prefix-list"
    for item in permission.get("UserIdGroupPairs") or []:
        yield str(item.get("GroupId") or item.get("GroupName") or ""), "security-group"


def parse_permissions(permissions: Iterable[dict[str, Any]], direction: Direction) -> list[SgRule]:
    """Expand IpPermissions (or IpPermissionsEgress) items into one rule per peer.

    Raises MalformedRule when a CIDR block or port range cannot be read.
    """
    rules: list[SgRule] = []
    for permission in permissions:
        protocol = normalize_protocol(permission.get("IpProtocol", ALL_PROTOCOLS))
        from_port, to_port = _port_range(permission, protocol)
        for peer, peer_type in _peers(permission):
            rules.append(
                SgRule(
                    direction=direction,
                    protocol=protocol,
                    from_port=from_port,
                    to_port=to_port,
                    peer=peer,
                    peer_type=peer_type,
                )
            )
    return rules


def parse_rules(group: dict[str, Any]) -> list[SgRule]:
    """Return the inbound and then the outbound rules of one DescribeSecurityGroups item."""
    return parse_permissions(group.get("IpPermissions") or [], "ingress") + parse_permissions(
        group.get("IpPermissionsEgress") or [], "egress"
    )


def ingress_rules(group: dict[str, Any]) -> list[SgRule]:
    return parse_permissions(group.get("IpPermissions") or [], "ingress")


def egress_rules(group: dict[str, Any]) -> list[SgRule]:
    return parse_permissions(group.get("IpPermissionsEgress") or [], "egress")


def is_default_group(group: dict[str, Any]) -> bool:
    """Return whether the group is a VPC's default security group.

    EC2 names every VPC's default group "default" and rejects that name for any other group in a VPC,
    so the reserved name together with a VpcId identifies it. A "default" group without a VpcId is an
    EC2-Classic group, not a VPC default.
    """
    return group.get("GroupName") == "default" and bool(group.get("VpcId"))


def attached_group_ids(network_interfaces: Iterable[dict[str, Any]]) -> set[str]:
    """Return the ids of the security groups that at least one network interface carries."""
    return {
        group["GroupId"]
        for interface in network_interfaces
        for group in interface.get("Groups") or []
        if group.get("GroupId")
    }


def internet_rules(rules: Iterable[SgRule], *, max_ipv4_prefix: int, max_ipv6_prefix: int) -> list[SgRule]:
    """Return the inbound rules whose peer is open to the internet."""
    return [
        rule
        for rule in rules
        if rule.direction == "ingress"
        and rule.is_internet(max_ipv4_prefix=max_ipv4_prefix, max_ipv6_prefix=max_ipv6_prefix)
    ]


def parse_ports(values: Iterable[Any]) -> list[int]:
    """Read a port list setting: integers and "low-high" ranges (inclusive), e.g. [22, "137-139"].

    Raises ValueError naming the entry that is not a port or a range of ports.
    """
    ports: set[int] = set()
    for value in values:
        text = str(value).strip()
        low_text, _, high_text = text.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if high_text else low
        except ValueError:
            raise ValueError(
                f"Port list entry {value!r} is not a port number or a range such as 137-139."
            ) from None
        if not MIN_PORT <= low <= high <= MAX_PORT:
            raise ValueError(f"Port list entry {value!r} is outside 0-65535 or reversed; use low-high.")
        ports.update(range(low, high + 1))
    return sorted(ports)


# The thresholds that define "open to the internet", shared by every check that uses it.
INTERNET_THRESHOLDS = (
    Threshold(
        name="max_ipv4_prefix",
        default=24,
        unit="prefix length",
        description="A public IPv4 range with a shorter prefix than this (a wider range) counts as the "
        "internet; 0.0.0.0/0 always does.",
    ),
    Threshold(
        name="max_ipv6_prefix",
        default=64,
        unit="prefix length",
        description="A public IPv6 range with a shorter prefix than this (a wider range) counts as the "
        "internet; ::/0 always does.",
    ),
)
