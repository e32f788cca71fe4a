"""Load balancer checks: access logging, and TLS policies that allow only TLS 1.2 or newer."""

from __future__ import annotations

from typing import Any

from posture.aws.inventory import DataUnavailable, ReadError
from posture.checks.base import Area, CheckContext, EmptyScope, Severity, check, tags_evidence

STRONG_PROTOCOLS = frozenset({"TLSv1.2", "TLSv1.3"})
CLASSIC_SECURE_PROTOCOLS = frozenset({"HTTPS", "SSL"})
V2_SECURE_PROTOCOLS = frozenset({"HTTPS", "TLS"})
SSL_NEGOTIATION_POLICY_TYPE = "SSLNegotiationPolicyType"
REFERENCE_POLICY_ATTRIBUTE = "Reference-Security-Policy"

_TLS12 = ("TLSv1.2",)
_TLS12_13 = ("TLSv1.2", "TLSv1.3")
_TLS11_13 = ("TLSv1.1", "TLSv1.2", "TLSv1.3")
_TLS10_13 = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_TLS11_12 = ("TLSv1.1", "TLSv1.2")
_TLS10_12 = ("TLSv1", "TLSv1.1", "TLSv1.2")

# Protocols of the predefined ELB security policies, from the "protocols by policy" tables of the
# Elastic Load Balancing user guides (application, network and classic). Only used when the API does
# not describe a policy: moto's DescribeSSLPolicies omits the older policies, and a Classic Load
# Balancer policy copied from a predefined one may name its source without listing protocols.
# NOTE: for the oldest Classic policies (2011-08 to 2015-03) only TLS 1.0 is listed with certainty;
# SSLv3 in some of them would not change the verdict, which TLS 1.0 already makes FAIL.
KNOWN_POLICY_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "ELBSecurityPolicy-TLS13-1-3-2021-06": ("TLSv1.3",),
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09": ("TLSv1.3",),
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04": ("TLSv1.3",),
    "ELBSecurityPolicy-TLS13-1-2-2021-06": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04": _TLS12_13,
    "ELBSecurityPolicy-TLS13-1-1-2021-06": _TLS11_13,
    "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04": _TLS11_13,
    "ELBSecurityPolicy-TLS13-1-0-2021-06": _TLS10_13,
    "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09": _TLS10_13,
    "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04": _TLS10_13,
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": _TLS12,
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": _TLS12,
    "ELBSecurityPolicy-FS-1-2-2019-08": _TLS12,
    "ELBSecurityPolicy-FS-1-1-2019-08": _TLS11_12,
    "ELBSecurityPolicy-FS-2018-06": _TLS10_12,
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": _TLS12,
    "ELBSecurityPolicy-TLS-1-2-2017-01": _TLS12,
    "ELBSecurityPolicy-TLS-1-1-2017-01": _TLS11_12,
    "ELBSecurityPolicy-2016-08": _TLS10_12,
    "ELBSecurityPolicy-2015-05": _TLS10_12,
    "ELBSecurityPolicy-TLS-1-0-2015-04": _TLS10_12,
    "ELBSecurityPolicy-2015-03": _TLS10_12,
    "ELBSecurityPolicy-2015-02": _TLS10_12,
    "ELBSecurityPolicy-2014-10": _TLS10_12,
    "ELBSecurityPolicy-2014-01": ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"),
    "ELBSecurityPolicy-2011-08": ("SSLv3", "TLSv1"),
}


def classic_arn(ctx: CheckContext, region: str, name: str) -> str:
    return f"arn:{ctx.data.partition}:elasticloadbalancing:{region}:{ctx.account_id}:loadbalancer/{name}"


# Access logging.
def _v2_attribute(attributes: list[dict[str, Any]], key: str) -> str | None:
    for attribute in attributes:
        if attribute.get("Key") == key:
            return attribute.get("Value")
    return None


@check(
    id="elb_access_logging",
    area=Area.MONITORING,
    title="Load balancers write access logs",
    severity=Severity.MEDIUM,
    resource_type="load balancer",
    decides="PASS when a Classic Load Balancer has AccessLog.Enabled, or an application or network load "
    "balancer has access_logs.s3.enabled true (a missing attribute counts as false); gateway load "
    "balancers and network load balancers without a TLS listener are NOT_APPLICABLE, because NLB "
    "access logs cover TLS listeners only.",
    rationale="Access logs record each request with its client address, so an investigation can trace "
    "who reached an application before data or backups were touched.",
    console="EC2 console > Load Balancers > <load balancer> > Attributes > Edit > Monitoring: turn on "
    "Access logs and choose an S3 bucket.",
    cli="aws elbv2 modify-load-balancer-attributes --load-balancer-arn <arn> --attributes "
    "Key=access_logs.s3.enabled,Value=true Key=access_logs.s3.bucket,Value=<bucket>; Classic: aws elb "
    "modify-load-balancer-attributes --load-balancer-name <name> --load-balancer-attributes "
    '\'{"AccessLog":{"Enabled":true,"S3BucketName":"<bucket>","EmitInterval":60}}\'',
    empty=EmptyScope.REGION,
)
def elb_access_logging(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("elb.classic_load_balancers"):
        for load_balancer in inventory.get("elb.classic_load_balancers"):
            _judge_classic_access_logging(ctx, region, load_balancer)
    for region, inventory in ctx.regions("elb.load_balancers"):
        for load_balancer in inventory.get("elb.load_balancers"):
            _judge_v2_access_logging(ctx, region, load_balancer)


def _judge_classic_access_logging(ctx: CheckContext, region: str, load_balancer: dict[str, Any]) -> None:
    name = load_balancer["LoadBalancerName"]
    common = {"region": region, "resource_id": classic_arn(ctx, region, name)}
    evidence = {"load_balancer": name, "type": "classic", **tags_evidence(load_balancer.get("Tags"))}
    attributes = load_balancer.get("Attributes")
    if isinstance(attributes, ReadError):
        ctx.unknown(**common, error=attributes, evidence=evidence)
        return
    enabled = (attributes or {}).get("AccessLog", {}).get("Enabled") is True
    ctx.judge(
        enabled,
        **common,
        pass_reason=f"Classic Load Balancer {name} writes access logs.",
        fail_reason=f"Classic Load Balancer {name} does not write access logs.",
        evidence={**evidence, "AccessLog.Enabled": enabled},
    )


def _judge_v2_access_logging(ctx: CheckContext, region: str, load_balancer: dict[str, Any]) -> None:
    name = load_balancer.get("LoadBalancerName", "")
    kind = load_balancer.get("Type")
    common = {"region": region, "resource_id": load_balancer["LoadBalancerArn"]}
    evidence: dict[str, Any] = {
        "load_balancer": name,
        "type": kind,
        **tags_evidence(load_balancer.get("Tags")),
    }
    if kind == "gateway":
        ctx.not_applicable(
            **common, evidence=evidence, reason=f"Gateway load balancer {name} has no access logs."
        )
        return
    if kind == "network":
        listeners = load_balancer.get("Listeners")
        if isinstance(listeners, ReadError):
            ctx.unknown(**common, error=listeners, evidence=evidence)
            return
        tls_ports = sorted(
            listener.get("Port") for listener in listeners or [] if listener.get("Protocol") == "TLS"
        )
        evidence["tls_listener_ports"] = tls_ports
        if not tls_ports:
            ctx.not_applicable(
                **common,
                evidence=evidence,
                reason=f"Network load balancer {name} has no TLS listener, and NLB access "
                "logs cover TLS listeners only.",
            )
            return

    attributes = load_balancer.get("Attributes")
    if isinstance(attributes, ReadError):
        ctx.unknown(**common, error=attributes, evidence=evidence)
        return
    value = _v2_attribute(attributes or [], "access_logs.s3.enabled")
    evidence["access_logs.s3.enabled"] = value
    evidence["access_logs.s3.bucket"] = _v2_attribute(attributes or [], "access_logs.s3.bucket")
    ctx.judge(
        value == "true",
        **common,
        pass_reason=f"Load balancer {name} writes access logs.",
        fail_reason=f"Load balancer {name} does not write access logs.",
        evidence=evidence,
    )


# TLS policies.
def _classic_policy_protocols(policy: dict[str, Any]) -> tuple[list[str] | None, str | None]:
    """Return (enabled protocols or None when the policy lists none, its Reference-Security-Policy)."""
    protocols: list[str] = []
    listed_any = False
    reference = None
    for attribute in policy.get("PolicyAttributeDescriptions", []):
        name = attribute.get("AttributeName", "")
        if name == REFERENCE_POLICY_ATTRIBUTE:
            reference = attribute.get("AttributeValue")
        elif name.startswith("Protocol-"):
            listed_any = True
            if str(attribute.get("AttributeValue")).lower() == "true":
                protocols.append(name.removeprefix("Protocol-"))
    return (sorted(protocols) if listed_any else None), reference


def _judge_protocols(
    ctx: CheckContext,
    *,
    region: str,
    resource_id: str,
    label: str,
    policy: str | None,
    protocols: list[str] | tuple[str, ...] | None,
    source: str,
    evidence: dict[str, Any],
) -> None:
    if protocols is None:
        ctx.unknown(
            region=region,
            resource_id=resource_id,
            evidence={**evidence, "policy": policy},
            error=f"{label} uses policy {policy}, whose protocols the API did not describe and "
            "which is not a known predefined policy.",
        )
        return
    weak = sorted(set(protocols) - STRONG_PROTOCOLS)
    ctx.judge(
        not weak and bool(protocols),
        region=region,
        resource_id=resource_id,
        pass_reason=f"{label} uses policy {policy}, which allows only {', '.join(sorted(protocols))}.",
        fail_reason=f"{label} uses policy {policy}, which allows {', '.join(weak) or 'no protocol'}.",
        evidence={
            **evidence,
            "policy": policy,
            "protocols": sorted(protocols),
            "weak_protocols": weak,
            "protocols_from": source,
        },
    )


@check(
    id="elb_tls_policy",
    area=Area.CONFIGURATION,
    title="Load balancer listeners allow only TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_type="listener",
    decides="PASS when an HTTPS, TLS or SSL listener's security policy enables only TLS 1.2 or TLS 1.3, as "
    "read from DescribeSSLPolicies or DescribeLoadBalancerPolicies (a table of the predefined policies "
    "fills in when the API does not describe one); load balancers without such listeners are "
    "NOT_APPLICABLE.",
    rationale="TLS 1.0 and 1.1 and SSLv3 have known weaknesses; allowing them lets a network attacker "
    "downgrade the connections that carry credentials and data.",
    console="EC2 console > Load Balancers > <load balancer> > Listeners > <listener> > Edit: Security "
    "policy ELBSecurityPolicy-TLS13-1-2-2021-06 (Classic: Listeners > Edit > Security policy "
    "ELBSecurityPolicy-TLS-1-2-2017-01).",
    cli="aws elbv2 modify-listener --listener-arn <listener-arn> --ssl-policy "
    "ELBSecurityPolicy-TLS13-1-2-2021-06; Classic: aws elb create-load-balancer-policy "
    "--load-balancer-name <name> --policy-name tls12 --policy-type-name SSLNegotiationPolicyType "
    "--policy-attributes AttributeName=Reference-Security-Policy,AttributeValue="
    "ELBSecurityPolicy-TLS-1-2-2017-01 && aws elb set-load-balancer-policies-of-listener "
    "--load-balancer-name <name> --load-balancer-port 443 --policy-names tls12",
    empty=EmptyScope.REGION,
)
def elb_tls_policy(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("elb.classic_load_balancers"):
        for load_balancer in inventory.get("elb.classic_load_balancers"):
            _judge_classic_listeners(ctx, region, load_balancer)
    for region, inventory in ctx.regions("elb.load_balancers"):
        load_balancers = inventory.get("elb.load_balancers")
        policies: dict[str, Any] | ReadError
        try:
            policies = {policy["Name"]: policy for policy in inventory.get("elb.ssl_policies")}
        except DataUnavailable as exc:
            policies = exc.error
        for load_balancer in load_balancers:
            _judge_v2_listeners(ctx, region, load_balancer, policies)


def _judge_classic_listeners(ctx: CheckContext, region: str, load_balancer: dict[str, Any]) -> None:
    name = load_balancer["LoadBalancerName"]
    lb_arn = classic_arn(ctx, region, name)
    # A listener has no tags of its own here, so its results carry its load balancer's.
    tags = tags_evidence(load_balancer.get("Tags"))
    secure = [
        description
        for description in load_balancer.get("ListenerDescriptions", [])
        if description.get("Listener", {}).get("Protocol", "").upper() in CLASSIC_SECURE_PROTOCOLS
    ]
    if not secure:
        ctx.not_applicable(
            region=region,
            resource_id=lb_arn,
            resource_type="load balancer",
            reason=f"Classic Load Balancer {name} has no HTTPS or SSL listener.",
            evidence={"load_balancer": name, "type": "classic", **tags},
        )
        return

    descriptions = load_balancer.get("PolicyDescriptions")
    for description in secure:
        listener = description["Listener"]
        port = listener.get("LoadBalancerPort")
        resource_id = f"{lb_arn}/listener/{port}"
        label = f"Listener {listener.get('Protocol')}:{port} of Classic Load Balancer {name}"
        evidence = {
            "load_balancer": name,
            "type": "classic",
            "port": port,
            "PolicyNames": description.get("PolicyNames", []),
            **tags,
        }
        if isinstance(descriptions, ReadError):
            ctx.unknown(region=region, resource_id=resource_id, error=descriptions, evidence=evidence)
            continue
        attached = set(description.get("PolicyNames", []))
        negotiation = [
            policy
            for policy in descriptions or []
            if policy.get("PolicyName") in attached
            and policy.get("PolicyTypeName") == SSL_NEGOTIATION_POLICY_TYPE
        ]
        if negotiation:
            policy = negotiation[0]
            protocols, reference = _classic_policy_protocols(policy)
            policy_name = policy.get("PolicyName")
            source = "DescribeLoadBalancerPolicies"
            if protocols is None and reference in KNOWN_POLICY_PROTOCOLS:
                protocols, source = list(KNOWN_POLICY_PROTOCOLS[reference]), "known predefined policy"
            if reference:
                evidence["Reference-Security-Policy"] = reference
        else:
            # No described negotiation policy: fall back on a predefined policy attached by name.
            known = sorted(attached & KNOWN_POLICY_PROTOCOLS.keys())
            if not known:
                ctx.unknown(
                    region=region,
                    resource_id=resource_id,
                    evidence=evidence,
                    error=f"{label} reports no SSL negotiation policy.",
                )
                continue
            policy_name, source = known[0], "known predefined policy"
            protocols = list(KNOWN_POLICY_PROTOCOLS[policy_name])
        _judge_protocols(
            ctx,
            region=region,
            resource_id=resource_id,
            label=label,
            policy=policy_name,
            protocols=protocols,
            source=source,
            evidence=evidence,
        )


def _judge_v2_listeners(
    ctx: CheckContext, region: str, load_balancer: dict[str, Any], policies: dict[str, Any] | ReadError
) -> None:
    name = load_balancer.get("LoadBalancerName", "")
    lb_arn = load_balancer["LoadBalancerArn"]
    # Listener results carry their load balancer's tags; the collector reads no listener tags.
    base = {
        "load_balancer": name,
        "type": load_balancer.get("Type"),
        **tags_evidence(load_balancer.get("Tags")),
    }
    listeners = load_balancer.get("Listeners")
    if isinstance(listeners, ReadError):
        ctx.unknown(
            region=region, resource_id=lb_arn, error=listeners, evidence=base, resource_type="load balancer"
        )
        return
    secure = [listener for listener in listeners or [] if listener.get("Protocol") in V2_SECURE_PROTOCOLS]
    if not secure:
        ctx.not_applicable(
            region=region,
            resource_id=lb_arn,
            resource_type="load balancer",
            evidence=base,
            reason=f"Load balancer {name} has no HTTPS or TLS listener.",
        )
        return

    for listener in secure:
        port = listener.get("Port")
        policy = listener.get("SslPolicy")
        resource_id = listener["ListenerArn"]
        label = f"Listener {listener.get('Protocol')}:{port} of load balancer {name}"
        evidence = {**base, "port": port}
        if isinstance(policies, ReadError):
            ctx.unknown(
                region=region,
                resource_id=resource_id,
                error=policies,
                evidence={**evidence, "policy": policy},
            )
            continue
        described = policies.get(policy or "")
        if described and described.get("SslProtocols"):
            protocols, source = list(described["SslProtocols"]), "DescribeSSLPolicies"
        elif policy in KNOWN_POLICY_PROTOCOLS:
            protocols, source = list(KNOWN_POLICY_PROTOCOLS[policy]), "known predefined policy"
        else:
            protocols, source = None, "none"
        _judge_protocols(
            ctx,
            region=region,
            resource_id=resource_id,
            label=label,
            policy=policy,
            protocols=protocols,
            source=source,
            evidence=evidence,
        )
