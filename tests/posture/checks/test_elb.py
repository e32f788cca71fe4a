from __future__ import annotations

import pytest

from posture.aws import collectors as collector_registry
from posture.checks.base import Status
from tests.aws import aws_account, by_status, check_results

ACCOUNT = "111111111111"
REGION = "us-east-1"
CLASSIC_PREFIX = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/"
STRONG_V2_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@pytest.fixture(autouse=True)
def only_elb_collector(monkeypatch):
    """Run only the collector these checks read, which keeps each test fast."""
    original = collector_registry.collectors
    monkeypatch.setattr(
        collector_registry, "collectors", lambda phase: [c for c in original(phase) if c.name == "elb"]
    )


class Seeder:
    """Clients inside ACCOUNT from one assumed-role session, so each service model loads once a test."""

    def __init__(self) -> None:
        self.session = aws_account.session(ACCOUNT)
        self.clients: dict[str, object] = {}

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = self.session.client(service, region_name=REGION)
        return self.clients[service]

    # Classic Load Balancers.
    def classic(self, name: str = "classic-web", *, https: bool = False) -> str:
        listener = {
            "Protocol": "HTTP",
            "LoadBalancerPort": 80,
            "InstanceProtocol": "HTTP",
            "InstancePort": 80,
        }
        if https:
            listener = {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": self.certificate(),
            }
        self.client("elb").create_load_balancer(
            LoadBalancerName=name, Listeners=[listener], AvailabilityZones=[f"{REGION}a"]
        )
        return CLASSIC_PREFIX + name

    def classic_policy(self, lb_name: str, policy_name: str, attributes: dict[str, str]) -> None:
        """Create an SSL negotiation policy on the load balancer and attach it to its 443 listener."""
        elb = self.client("elb")
        elb.create_load_balancer_policy(
            LoadBalancerName=lb_name,
            PolicyName=policy_name,
            PolicyTypeName="SSLNegotiationPolicyType",
            PolicyAttributes=[{"AttributeName": k, "AttributeValue": v} for k, v in attributes.items()],
        )
        elb.set_load_balancer_policies_of_listener(
            LoadBalancerName=lb_name, LoadBalancerPort=443, PolicyNames=[policy_name]
        )

    # ELBv2.
    def certificate(self) -> str:
        return self.client("acm").request_certificate(DomainName="example.com")["CertificateArn"]

    def subnets(self) -> list[str]:
        return [s["SubnetId"] for s in self.client("ec2").describe_subnets()["Subnets"]][:2]

    def v2(self, name: str, kind: str = "application") -> str:
        subnets = self.subnets()
        if kind == "gateway":
            subnets = subnets[:1]
        response = self.client("elbv2").create_load_balancer(Name=name, Subnets=subnets, Type=kind)
        return response["LoadBalancers"][0]["LoadBalancerArn"]

    def listener(self, lb_arn: str, protocol: str, port: int, policy: str | None = None) -> str:
        elbv2 = self.client("elbv2")
        vpc_id = self.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
        target_group = elbv2.create_target_group(
            Name=f"tg-{port}-{protocol.lower()}",
            Protocol="HTTP" if protocol.startswith("HTTP") else "TCP",
            Port=80,
            VpcId=vpc_id,
        )["TargetGroups"][0]["TargetGroupArn"]
        options = {}
        if protocol in ("HTTPS", "TLS"):
            options["Certificates"] = [{"CertificateArn": self.certificate()}]
            if policy:
                options["SslPolicy"] = policy
        response = elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol=protocol,
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
            **options,
        )
        return response["Listeners"][0]["ListenerArn"]

    def enable_v2_logs(self, lb_arn: str) -> None:
        self.client("elbv2").modify_load_balancer_attributes(
            LoadBalancerArn=lb_arn,
            Attributes=[
                {"Key": "access_logs.s3.enabled", "Value": "true"},
                {"Key": "access_logs.s3.bucket", "Value": "elb-logs-111111111111"},
            ],
        )


@pytest.fixture
def account(mock_aws_env) -> Seeder:
    return Seeder()


def only(results, status=None):
    assert len(results) == 1, results
    if status is not None:
        assert results[0].status == status, results[0]
    return results[0]


# elb_access_logging.
def test_classic_logging_passes(account):
    arn = account.classic()
    account.client("elb").modify_load_balancer_attributes(
        LoadBalancerName="classic-web",
        LoadBalancerAttributes={
            "AccessLog": {"Enabled": True, "S3BucketName": "elb-logs-111111111111", "EmitInterval": 60}
        },
    )
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == arn


def test_classic_logging_fails(account):
    arn = account.classic()
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.resource_id == arn


def test_application_logging_passes(account):
    arn = account.v2("web-alb")
    account.enable_v2_logs(arn)
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["access_logs.s3.bucket"] == "elb-logs-111111111111"


def test_application_logging_fails_when_attribute_missing(account):
    # moto leaves access_logs.s3.enabled out of the defaults; a missing attribute means off.
    arn = account.v2("web-alb")
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert (result.resource_id, result.evidence["access_logs.s3.enabled"]) == (arn, None)


def test_network_without_tls_listener_not_applicable(account):
    arn = account.v2("tcp-nlb", "network")
    account.listener(arn, "TCP", 5432)
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_id == arn


def test_network_with_tls_listener_fails(account):
    arn = account.v2("tls-nlb", "network")
    account.listener(arn, "TLS", 443)
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["tls_listener_ports"] == [443]


def test_network_with_tls_listener_passes(account):
    arn = account.v2("tls-nlb", "network")
    account.listener(arn, "TLS", 443)
    account.enable_v2_logs(arn)
    only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.PASS)


def test_gateway_not_applicable(account):
    arn = account.v2("inspection-gwlb", "gateway")
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_id == arn


def test_logging_unknown_when_attributes_denied(account, aws_fakes):
    account.v2("web-alb")
    aws_fakes.deny("elbv2", "DescribeLoadBalancerAttributes")
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_logging_unknown_when_listing_denied(account, aws_fakes):
    account.classic()
    aws_fakes.deny("elb", "DescribeLoadBalancers")
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["operation"] == "elb:DescribeLoadBalancers"


def test_logging_not_applicable_without_load_balancers(mock_aws_env):
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_id == f"arn:aws::{ACCOUNT}:account/{REGION}"


def test_logging_reads_every_page(account):
    # moto returns DescribeLoadBalancers 50 at a time, so 51 need a second page.
    for index in range(51):
        account.classic(f"classic-{index:02d}")
    results = check_results("elb_access_logging", ACCOUNT, [REGION])
    assert len(by_status(results, Status.FAIL)) == 51


# elb_tls_policy: ELBv2.
def test_tls_passes_with_tls12_policy(account):
    lb_arn = account.v2("web-alb")
    listener_arn = account.listener(lb_arn, "HTTPS", 443, STRONG_V2_POLICY)
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == listener_arn
    assert result.evidence["protocols_from"] == "DescribeSSLPolicies"


def test_tls_fails_with_default_policy(account):
    # ELBSecurityPolicy-2016-08, the API default, still allows TLS 1.0 and 1.1.
    account.listener(account.v2("web-alb"), "HTTPS", 443)
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["weak_protocols"] == ["TLSv1", "TLSv1.1"]


def test_tls_falls_back_on_known_policy_table(account):
    # moto does not describe this legacy policy; the table of predefined policies does.
    account.listener(account.v2("tls-nlb", "network"), "TLS", 443, "ELBSecurityPolicy-2015-05")
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["protocols_from"] == "known predefined policy"


def test_tls_unknown_when_policies_denied(account, aws_fakes):
    account.listener(account.v2("web-alb"), "HTTPS", 443, STRONG_V2_POLICY)
    aws_fakes.deny("elbv2", "DescribeSSLPolicies")
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_tls_unknown_for_undescribed_policy(account, aws_fakes):
    account.listener(account.v2("web-alb"), "HTTPS", 443, STRONG_V2_POLICY)
    aws_fakes.add("elbv2", "DescribeSSLPolicies", lambda params: {"SslPolicies": []})
    # An empty response leaves only the table, and a policy outside it stays undecided.
    aws_fakes.add(
        "elbv2",
        "DescribeListeners",
        lambda params: {
            "Listeners": [
                {
                    "ListenerArn": f"{params['LoadBalancerArn']}/listener-1",
                    "LoadBalancerArn": params["LoadBalancerArn"],
                    "Port": 443,
                    "Protocol": "HTTPS",
                    "SslPolicy": "ELBSecurityPolicy-Future-2030-01",
                }
            ]
        },
    )
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert "ELBSecurityPolicy-Future-2030-01" in result.reason


def test_tls_not_applicable_for_plain_http(account):
    lb_arn = account.v2("web-alb")
    account.listener(lb_arn, "HTTP", 80)
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_id == lb_arn


def test_tls_not_applicable_without_load_balancers(mock_aws_env):
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_type == "region"


# elb_tls_policy: Classic Load Balancers.
def test_classic_tls_passes_with_tls12_only(account):
    arn = account.classic(https=True)
    account.classic_policy(
        "classic-web",
        "tls12-only",
        {"Protocol-TLSv1": "false", "Protocol-TLSv1.1": "false", "Protocol-TLSv1.2": "true"},
    )
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.PASS)
    assert result.resource_id == f"{arn}/listener/443"


def test_classic_tls_fails_with_tls10(account):
    account.classic(https=True)
    account.classic_policy("classic-web", "legacy", {"Protocol-TLSv1": "true", "Protocol-TLSv1.2": "true"})
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["weak_protocols"] == ["TLSv1"]


def test_classic_tls_ignores_policy_name(account):
    # A policy named like a strong predefined one is judged by the protocols it enables.
    account.classic(https=True)
    account.classic_policy(
        "classic-web",
        "ELBSecurityPolicy-TLS-1-2-2017-01",
        {"Protocol-SSLv3": "true", "Protocol-TLSv1.2": "true"},
    )
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["weak_protocols"] == ["SSLv3"]


def test_classic_tls_reads_reference_policy(account):
    account.classic(https=True)
    account.classic_policy(
        "classic-web", "copied-policy", {"Reference-Security-Policy": "ELBSecurityPolicy-TLS-1-2-2017-01"}
    )
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["Reference-Security-Policy"] == "ELBSecurityPolicy-TLS-1-2-2017-01"


def test_classic_tls_unknown_without_policy(account):
    account.classic(https=True)
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert "no SSL negotiation policy" in result.reason


def test_classic_tls_unknown_when_policies_denied(account, aws_fakes):
    account.classic(https=True)
    aws_fakes.deny("elb", "DescribeLoadBalancerPolicies")
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.UNKNOWN)
    assert result.evidence["error"]["code"] == "AccessDenied"


def test_classic_tls_not_applicable_for_plain_http(account):
    arn = account.classic()
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.NOT_APPLICABLE)
    assert result.resource_id == arn


# Tags in the evidence.
WEB_TAGS = [{"Key": "team", "Value": "web"}]


def test_classic_logging_evidence_carries_tags(account):
    account.classic()
    account.client("elb").add_tags(LoadBalancerNames=["classic-web"], Tags=WEB_TAGS)
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == WEB_TAGS


def test_application_logging_evidence_carries_tags(account):
    lb_arn = account.v2("web-alb")
    account.client("elbv2").add_tags(ResourceArns=[lb_arn], Tags=WEB_TAGS)
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["Tags"] == WEB_TAGS


def test_listener_evidence_carries_load_balancer_tags(account):
    lb_arn = account.v2("web-alb")
    account.client("elbv2").add_tags(ResourceArns=[lb_arn], Tags=WEB_TAGS)
    account.listener(lb_arn, "HTTPS", 443, STRONG_V2_POLICY)
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["Tags"] == WEB_TAGS


def test_classic_listener_evidence_carries_load_balancer_tags(account):
    account.classic(https=True)
    account.client("elb").add_tags(LoadBalancerNames=["classic-web"], Tags=WEB_TAGS)
    account.classic_policy("classic-web", "tls12", {"Protocol-TLSv1.2": "true"})
    result = only(check_results("elb_tls_policy", ACCOUNT, [REGION]), Status.PASS)
    assert result.evidence["Tags"] == WEB_TAGS


def test_tags_denied_still_decides(account, aws_fakes):
    account.v2("web-alb")
    aws_fakes.deny("elbv2", "DescribeTags")
    only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)


def test_tags_denied_named_in_evidence(account, aws_fakes):
    account.v2("web-alb")
    aws_fakes.deny("elbv2", "DescribeTags")
    result = only(check_results("elb_access_logging", ACCOUNT, [REGION]), Status.FAIL)
    assert result.evidence["tags_error"]["code"] == "AccessDenied"
