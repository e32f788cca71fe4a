"""Elastic Load Balancing: Classic Load Balancers and ELBv2 (application, network, gateway) load balancers.

Regional collector, once per enabled region, writes:

- `elb.classic_load_balancers`: list of Classic DescribeLoadBalancers items (`LoadBalancerName`,
  `ListenerDescriptions` with each listener's `PolicyNames`, ...) with added keys, each a value or a
  ReadError:
  - `Attributes`: the DescribeLoadBalancerAttributes `LoadBalancerAttributes` dict (`AccessLog.Enabled`);
  - `PolicyDescriptions`: only on load balancers with an HTTPS or SSL listener, the
    DescribeLoadBalancerPolicies `PolicyDescriptions` list of the load balancer's own policies. An
    SSLNegotiationPolicyType policy lists its protocols as `Protocol-TLSv1.2` style attributes and may
    name its predefined source in `Reference-Security-Policy`;
  - `Tags`: the load balancer's tags from DescribeTags (a list of `{"Key", "Value"}`).
- `elb.load_balancers`: list of ELBv2 DescribeLoadBalancers items (`LoadBalancerArn`, `Type`, ...) with
  added keys, each a value or a ReadError:
  - `Tags`: the load balancer's tags from DescribeTags, on every type;
  - `Listeners`: the DescribeListeners `Listeners` list (`Protocol`, `SslPolicy`, ...), on every type
    but gateway load balancers, which have neither access logs nor TLS listeners;
  - `Attributes`: the DescribeLoadBalancerAttributes `Attributes` list of `{Key, Value}`. Read for
    application load balancers, and for network load balancers with a TLS listener, because NLB access
    logs cover TLS listeners only.
- `elb.ssl_policies`: the DescribeSSLPolicies items (`Name`, `SslProtocols`, ...) of the policies that
  ELBv2 HTTPS and TLS listeners in the region use. The list is empty when no such listener exists, and
  a policy that AWS (or the simulator) does not describe is absent from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, read_error, safe_put, try_read
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory

logger = logging.getLogger(__name__)

CLASSIC_SECURE_PROTOCOLS = frozenset({"HTTPS", "SSL"})
V2_SECURE_PROTOCOLS = frozenset({"HTTPS", "TLS"})
# DescribeTags (Classic and ELBv2) accepts at most 20 load balancers per call.
TAGS_BATCH_SIZE = 20


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


def _add_tags(
    load_balancers: list[dict[str, Any]],
    *,
    id_key: str,
    response_id_key: str,
    operation: str,
    region: str,
    describe: Callable[[list[str]], list[dict[str, Any]]],
) -> None:
    """Set `Tags` on each load balancer from DescribeTags, one call per 20 load balancers.

    A failed call leaves a ReadError under `Tags` of the load balancers it asked for: their checks are
    still decided, only without tags.
    """
    for start in range(0, len(load_balancers), TAGS_BATCH_SIZE):
        batch = load_balancers[start : start + TAGS_BATCH_SIZE]
        ids = [load_balancer[id_key] for load_balancer in batch]
        try:
            described = {item.get(response_id_key): item.get("Tags", []) for item in describe(ids)}
        except Exception as exc:  # noqa: BLE001 - tags are evidence only; the checks go on without them
            error = read_error(operation, exc)
            logger.warning("%s in %s failed for %s: %s", operation, region, ", ".join(ids), error.code)
            for load_balancer in batch:
                load_balancer["Tags"] = error
            continue
        for load_balancer in batch:
            load_balancer["Tags"] = described.get(load_balancer[id_key], [])


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
    _add_tags(
        load_balancers,
        id_key="LoadBalancerName",
        response_id_key="LoadBalancerName",
        operation="elb:DescribeTags",
        region=elb.meta.region_name,
        describe=lambda names: elb.describe_tags(LoadBalancerNames=names)["TagDescriptions"],
    )
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
    _add_tags(
        load_balancers,
        id_key="LoadBalancerArn",
        response_id_key="ResourceArn",
        operation="elbv2:DescribeTags",
        region=elbv2.meta.region_name,
        describe=lambda arns: elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"],
    )
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
