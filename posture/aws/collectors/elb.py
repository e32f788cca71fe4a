"""Elastic Load Balancing: Classic Load Balancers and ELBv2 (application, network, gateway) load balancers.

Regional collector, once per enabled region, writes:

- `elb.classic_load_balancers`: list of Classic DescribeLoadBalancers items (`LoadBalancerName`,
  `ListenerDescriptions` with each listener's `PolicyNames`, ...) with added keys, each a value or a
  ReadError:
  - `Attributes`: the DescribeLoadBalancerAttributes `LoadBalancerAttributes` dict (`AccessLog.Enabled`);
  - `PolicyDescriptions`: only on load balancers with an HTTPS or SSL listener, the
    DescribeLoadBalancerPolicies `PolicyDescriptions` list of the load balancer's own policies. An
    SSLNegotiationPolicyType policy lists its protocols as `Protocol-TLSv1.2` style attributes and may
    name its predefined source in `Reference-Security-Policy`.
- `elb.load_balancers`: list of ELBv2 DescribeLoadBalancers items (`LoadBalancerArn`, `Type`, ...). Gateway
  load balancers have neither access logs nor TLS listeners and carry no added keys; the others carry,
  each a value or a ReadError:
  - `Listeners`: the DescribeListeners `Listeners` list (`Protocol`, `SslPolicy`, ...);
  - `Attributes`: the DescribeLoadBalancerAttributes `Attributes` list of `{Key, Value}`. Read for
    application load balancers, and for network load balancers with a TLS listener, because NLB access
    logs cover TLS listeners only.
- `elb.ssl_policies`: the DescribeSSLPolicies items (`Name`, `SslProtocols`, ...) of the policies that
  ELBv2 HTTPS and TLS listeners in the region use. The list is empty when no such listener exists, and
  a policy that AWS (or the simulator) does not describe is absent from it.
"""

from __future__ import annotations

from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put, try_read
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory

CLASSIC_SECURE_PROTOCOLS = frozenset({"HTTPS", "SSL"})
V2_SECURE_PROTOCOLS = frozenset({"HTTPS", "TLS"})


def _has_secure_classic_listener(load_balancer: dict[str, Any]) -> bool:
    return any(
        description.get("Listener", {}).get("Protocol", "").upper() in CLASSIC_SECURE_PROTOCOLS
        for description in load_balancer.get("ListenerDescriptions", [])
    )


def _has_secure_v2_listener(load_balancer: dict[str, Any]) -> bool:
    listeners = load_balancer.get("Listeners")
    if not isinstance(listeners, list):
        return False
    return any(listener.get("Protocol") in V2_SECURE_PROTOCOLS for listener in listeners)


def _add_classic_details(elb, load_balancer: dict[str, Any]) -> None:
    name = load_balancer["LoadBalancerName"]
    load_balancer["Attributes"] = try_read(
        "elb:DescribeLoadBalancerAttributes",
        lambda: elb.describe_load_balancer_attributes(LoadBalancerName=name)["LoadBalancerAttributes"],
    )
    if _has_secure_classic_listener(load_balancer):
        load_balancer["PolicyDescriptions"] = try_read(
            "elb:DescribeLoadBalancerPolicies",
            lambda: elb.describe_load_balancer_policies(LoadBalancerName=name)["PolicyDescriptions"],
        )


def _classic_load_balancers(elb) -> list[dict[str, Any]]:
    load_balancers = paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions")
    for load_balancer in load_balancers:
        _add_classic_details(elb, load_balancer)
    return load_balancers


def _add_v2_details(elbv2, load_balancer: dict[str, Any]) -> None:
    arn = load_balancer["LoadBalancerArn"]
    kind = load_balancer.get("Type")
    if kind == "gateway":
        return
    load_balancer["Listeners"] = try_read(
        "elbv2:DescribeListeners",
        lambda: paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn),
    )
    if kind == "application" or _has_secure_v2_listener(load_balancer):
        load_balancer["Attributes"] = try_read(
            "elbv2:DescribeLoadBalancerAttributes",
            lambda: elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"],
        )


def _v2_load_balancers(elbv2) -> list[dict[str, Any]]:
    load_balancers = paginate(elbv2, "describe_load_balancers", "LoadBalancers")
    for load_balancer in load_balancers:
        _add_v2_details(elbv2, load_balancer)
    return load_balancers


def _ssl_policies_in_use(elbv2, load_balancers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    in_use = {
        listener["SslPolicy"]
        for load_balancer in load_balancers
        if _has_secure_v2_listener(load_balancer)
        for listener in load_balancer["Listeners"]
        if listener.get("SslPolicy")
    }
    if not in_use:
        return []
    # Listing every policy, instead of requesting the names in use, keeps one unknown name from
    # failing the whole call, because AWS raises SSLPolicyNotFound for the whole request.
    policies = paginate(elbv2, "describe_ssl_policies", "SslPolicies")
    return [policy for policy in policies if policy.get("Name") in in_use]


@collector(name="elb", phase="regional")
def collect_elb(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    elb = clients.client("elb", inventory.region)
    safe_put(
        inventory,
        "elb.classic_load_balancers",
        "elb:DescribeLoadBalancers",
        lambda: _classic_load_balancers(elb),
    )

    elbv2 = clients.client("elbv2", inventory.region)
    if safe_put(
        inventory, "elb.load_balancers", "elbv2:DescribeLoadBalancers", lambda: _v2_load_balancers(elbv2)
    ):
        load_balancers = inventory.get("elb.load_balancers")
        safe_put(
            inventory,
            "elb.ssl_policies",
            "elbv2:DescribeSSLPolicies",
            lambda: _ssl_policies_in_use(elbv2, load_balancers),
        )
