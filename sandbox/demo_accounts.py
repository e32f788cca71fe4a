"""The three simulated accounts of the demo, built so that every check both passes and fails somewhere.

- Production is mostly well run: strict password policy, hardware MFA on root, encrypted storage,
  a multi-region trail with every safeguard. Its failures are the kind that linger in real accounts:
  an unrotated deployment key, a console user without MFA, a legacy Classic Load Balancer.
- Staging is where shortcuts pile up: root used and holding an access key, security groups open
  to the internet, a public AMI, an unencrypted public database, a public trail bucket.
- Log archive owns the organization's CloudTrail bucket (versioned with MFA delete, access
  logged, private), which the other accounts' trails deliver to. Its trail's CloudWatch Logs
  delivery has stalled because its role lost access.

Ages are set relative to `now`, the time the first demo scan stands for.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sandbox import patches
from sandbox.seed import (
    ALL_TRAFFIC,
    AccountClients,
    SimulatedAccount,
    access_log_bucket_create,
    account_bootstrap,
    accounts_seal,
    bucket_create,
    certificate_request,
    days_before,
    default_group_close,
    default_vpc,
    flow_logs_to_cloudwatch,
    flow_logs_to_s3,
    image_register,
    ingress,
    instance_launch,
    kms_key_create,
    log_group_create,
    password_policy_set,
    policy_document,
    public_access_block_set,
    security_group_create,
    service_role_create,
    ssh_public_key_upload,
    trail_bucket_create,
    trail_create,
    user_create,
    volume_create,
    vpc_create,
)

logger = logging.getLogger(__name__)

US = "us-east-1"
EU = "eu-west-1"
REGIONS = (US, EU)

PRODUCTION = SimulatedAccount("111122223333", "Production", "production", "bp-demo-production-7c41", REGIONS)
STAGING = SimulatedAccount("444455556666", "Staging", "staging", "bp-demo-staging-2e9a", REGIONS)
LOG_ARCHIVE = SimulatedAccount(
    "777788889999", "Log archive", "log-archive", "bp-demo-log-archive-5d03", REGIONS
)
DEMO_ACCOUNTS = (PRODUCTION, STAGING, LOG_ARCHIVE)

CENTRAL_TRAIL_BUCKET = f"org-cloudtrail-logs-{LOG_ARCHIVE.account_id}"
LOG_ARCHIVE_STALLED_ROLE = "CloudTrailToCloudWatchLogs-2021"
DB_PASSWORD = "demo-only-Passw0rd!"  # noqa: S105 - a simulated database in a simulated account


@dataclass(frozen=True)
class Identity:
    """A user who keeps working: their last sign-in or key use is refreshed before every scan."""

    account: SimulatedAccount
    user_name: str
    signs_in: bool = False
    uses_key: bool = False


ACTIVE_IDENTITIES = (
    Identity(PRODUCTION, "alice", signs_in=True),
    Identity(PRODUCTION, "bob", signs_in=True),
    Identity(PRODUCTION, "carol", signs_in=True, uses_key=True),
    Identity(PRODUCTION, "ci-deploy", uses_key=True),
    Identity(STAGING, "erin", signs_in=True, uses_key=True),
    Identity(STAGING, "frank", signs_in=True),
    Identity(LOG_ARCHIVE, "auditor-jane", signs_in=True),
    Identity(LOG_ARCHIVE, "log-shipper", uses_key=True),
)


def seed_demo(*, endpoint_url: str | None, now: dt.datetime) -> dict[str, AccountClients]:
    """Build the three demo accounts; return administrator clients per account id.

    The log archive comes first because the other accounts' trails deliver to its bucket. Once
    seeded, the accounts are sealed: the scanner role then needs its ExternalId.
    """
    clients = {
        account.account_id: account_bootstrap(account, endpoint_url=endpoint_url) for account in DEMO_ACCOUNTS
    }
    seed_log_archive(clients[LOG_ARCHIVE.account_id], now)
    seed_production(clients[PRODUCTION.account_id], now)
    seed_staging(clients[STAGING.account_id], now)
    clock_advance(clients, at=now)
    accounts_seal(DEMO_ACCOUNTS)
    return clients


def clock_advance(clients: dict[str, AccountClients], *, at: dt.datetime) -> None:
    """Bring the accounts to the time `at`, just before a scan dated `at`.

    Resources created since the last call get dated one day before `at` (moto dates them at the
    wall-clock time), and the identities in ACTIVE_IDENTITIES get a recent sign-in or key use.
    """
    for account in DEMO_ACCOUNTS:
        patches.timestamps_clamp(account.account_id, account.regions, latest=at - dt.timedelta(days=1))
    for identity in ACTIVE_IDENTITIES:
        account_id = identity.account.account_id
        if identity.signs_in:
            patches.iam_user_backdate(
                account_id, identity.user_name, password_last_used_at=at - dt.timedelta(hours=5)
            )
        if identity.uses_key:
            iam = clients[account_id].client("iam")
            keys = iam.list_access_keys(UserName=identity.user_name)["AccessKeyMetadata"]
            for key in keys:
                if key["Status"] == "Active":
                    patches.iam_access_key_backdate(
                        account_id,
                        identity.user_name,
                        key["AccessKeyId"],
                        last_used_at=at - dt.timedelta(hours=3),
                    )


# Log archive.


def seed_log_archive(clients: AccountClients, now: dt.datetime) -> None:
    account_id = clients.account_id
    iam = clients.client("iam")

    # Root: a virtual MFA device, no access keys, no sign-in for over a year.
    patches.state.roots[account_id] = patches.RootUser(
        created_at=days_before(now, 1500), mfa="virtual", password_last_used_at=days_before(now, 400)
    )
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="root-account-mfa-device")[
        "VirtualMFADevice"
    ]["SerialNumber"]
    patches.root_virtual_mfa_assign(account_id, serial, enabled_at=days_before(now, 1400))

    # IAM: no password policy at all, one group in use.
    iam.create_group(GroupName="log-readers")
    user_create(clients, "auditor-jane", console=True, mfa=True, groups=["log-readers"])
    user_create(clients, "log-shipper", access_key=True, groups=["log-readers"])

    # The organization's trail bucket: versioned with MFA delete, access logged, private.
    access_logs = f"org-cloudtrail-access-logs-{account_id}"
    access_log_bucket_create(clients, access_logs)
    trail_bucket_create(clients, CENTRAL_TRAIL_BUCKET)
    s3 = clients.client("s3")
    s3.put_bucket_versioning(
        Bucket=CENTRAL_TRAIL_BUCKET,
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA=f"{serial} 123456",
    )
    s3.put_bucket_logging(
        Bucket=CENTRAL_TRAIL_BUCKET,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": access_logs, "TargetPrefix": "org-cloudtrail/"}
        },
    )
    public_access_block_set(clients, CENTRAL_TRAIL_BUCKET)
    clients.client("s3control").put_public_access_block(
        AccountId=account_id,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )

    # The account's own trail, whose CloudWatch Logs delivery stopped six days before `now`.
    stalled_role = service_role_create(clients, LOG_ARCHIVE_STALLED_ROLE, "cloudtrail.amazonaws.com")
    patches.state.stalled_cloudwatch_roles[stalled_role] = days_before(now, 6)
    trail_create(
        clients,
        US,
        "log-archive-audit",
        bucket=CENTRAL_TRAIL_BUCKET,
        multi_region=True,
        validation=True,
        kms_key_arn=kms_key_create(clients, US, "CloudTrail log encryption"),
        cloudwatch=(log_group_create(clients, US, "aws-cloudtrail-logs-log-archive"), stalled_role),
    )

    # Network and storage: EBS encryption by default and AMI sharing blocked in both regions,
    # flow logs in us-east-1 only, the default group closed in us-east-1 only.
    flow_bucket = f"vpc-flow-logs-{account_id}"
    bucket_create(clients, flow_bucket)
    for region in REGIONS:
        ec2 = clients.client("ec2", region)
        ec2.enable_ebs_encryption_by_default()
        ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    vpc_id, _ = default_vpc(clients, US)
    flow_logs_to_s3(clients, US, vpc_id, flow_bucket)
    default_group_close(clients, US, vpc_id)


# Production.


def seed_production(clients: AccountClients, now: dt.datetime) -> None:
    _production_iam(clients, now)
    _production_network(clients, now)
    _production_services(clients)


def _production_iam(clients: AccountClients, now: dt.datetime) -> None:
    account_id = clients.account_id
    iam = clients.client("iam")

    # Root: hardware MFA, no access keys, last signed in over six months ago.
    patches.state.roots[account_id] = patches.RootUser(
        created_at=days_before(now, 2200), mfa="hardware", password_last_used_at=days_before(now, 200)
    )
    password_policy_set(clients, strict=True)
    for group in ("admins", "developers", "auditors"):
        iam.create_group(GroupName=group)
    deploy_policy = iam.create_policy(
        PolicyName="DeployPipeline",
        PolicyDocument=policy_document(
            {"Effect": "Allow", "Action": ["ecs:UpdateService", "ecr:PutImage"], "Resource": "*"}
        ),
    )["Policy"]["Arn"]

    user_create(clients, "alice", console=True, mfa=True, groups=["admins"])
    user_create(clients, "bob", console=True, groups=["admins"])
    user_create(clients, "carol", console=True, mfa=True, access_key=True, groups=["developers"])
    deploy_key = user_create(clients, "ci-deploy", access_key=True, managed_policy_arn=deploy_policy)
    patches.iam_access_key_backdate(account_id, "ci-deploy", deploy_key, created_at=days_before(now, 400))

    # A service user whose key was issued three weeks ago and never used since: it becomes
    # "unused" once it is 30 days old, in the middle of the demo's history.
    operator_key = user_create(clients, "backup-operator", access_key=True, groups=["developers"])
    patches.iam_access_key_backdate(
        account_id, "backup-operator", operator_key, created_at=days_before(now, 21)
    )
    old_ssh_key = ssh_public_key_upload(clients, "backup-operator")
    patches.iam_ssh_key_backdate(
        account_id, "backup-operator", old_ssh_key, uploaded_at=days_before(now, 200)
    )
    ssh_public_key_upload(clients, "backup-operator")

    user_create(clients, "dave", console=True, mfa=True, groups=["developers"])
    patches.iam_user_backdate(
        account_id, "dave", created_at=days_before(now, 400), password_last_used_at=days_before(now, 120)
    )


def _production_network(clients: AccountClients, now: dt.datetime) -> None:
    account_id = clients.account_id
    ec2 = clients.client("ec2", US)

    # A legacy scratch volume from before EBS encryption by default was turned on.
    volume_create(clients, US, "scratch-legacy", encrypted=False)
    volume_create(clients, US, "orders-archive", encrypted=True, size=500)
    ec2.enable_ebs_encryption_by_default()

    vpc_id, subnets = vpc_create(clients, US, "prod-app", "10.20.0.0/16")
    flow_logs_to_cloudwatch(
        clients, US, vpc_id, service_role_create(clients, "vpc-flow-logs", "vpc-flow-logs.amazonaws.com")
    )
    default_group_close(clients, US, vpc_id)
    app_cidr = "10.20.0.0/16"
    web = security_group_create(
        clients,
        US,
        "web-alb",
        vpc_id,
        rules=[
            ingress(443, cidr="0.0.0.0/0", ipv6="::/0", description="HTTPS from the internet"),
            ingress(80, cidr="0.0.0.0/0", ipv6="::/0", description="HTTP redirect to HTTPS"),
        ],
        egress=[ingress(8080, cidr=app_cidr)],
    )
    app = security_group_create(
        clients,
        US,
        "app-servers",
        vpc_id,
        rules=[ingress(8080, group_id=web, description="From the load balancer")],
        egress=[ingress(443, cidr="0.0.0.0/0"), ingress(5432, cidr=app_cidr)],
    )
    security_group_create(clients, US, "orders-db", vpc_id, rules=[ingress(5432, group_id=app)], egress=[])
    bastion = security_group_create(
        clients,
        US,
        "bastion",
        vpc_id,
        rules=[ingress(22, cidr="203.0.113.0/28", description="Office")],
        egress=[ingress(22, cidr=app_cidr)],
    )

    image_id = image_register(clients, US, "web-golden-2026-10")
    ec2.create_key_pair(KeyName="prod-web")
    ec2.create_key_pair(KeyName="prod-legacy")
    patches.ec2_key_pair_backdate(account_id, US, "prod-legacy", created_at=days_before(now, 500))
    for index, subnet in enumerate(subnets, start=1):
        instance_launch(
            clients,
            US,
            f"web-{index}",
            image_id=image_id,
            subnet_id=subnet,
            group_ids=[app],
            key_name="prod-web",
        )
    instance_launch(
        clients,
        US,
        "bastion-1",
        image_id=image_id,
        subnet_id=subnets[0],
        group_ids=[bastion],
        key_name="prod-web",
    )

    # Load balancers: a modern ALB with access logs, an internal NLB without TLS (its access logs
    # would cover TLS listeners only), and a Classic Load Balancer still allowing TLS 1.0.
    elb_logs = f"prod-elb-logs-{account_id}"
    bucket_create(clients, elb_logs)
    elbv2 = clients.client("elbv2", US)
    alb = elbv2.create_load_balancer(
        Name="shop-public", Subnets=subnets, SecurityGroups=[web], Type="application"
    )
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=alb_arn,
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": elb_logs},
        ],
    )
    web_targets = elbv2.create_target_group(Name="shop-web", Protocol="HTTP", Port=8080, VpcId=vpc_id)
    elbv2.create_listener(
        LoadBalancerArn=alb_arn,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": certificate_request(clients, US, "shop.example.com")}],
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": web_targets["TargetGroups"][0]["TargetGroupArn"]}
        ],
    )
    nlb = elbv2.create_load_balancer(
        Name="payments-internal", Subnets=subnets, Type="network", Scheme="internal"
    )
    payment_targets = elbv2.create_target_group(Name="payments", Protocol="TCP", Port=5000, VpcId=vpc_id)
    elbv2.create_listener(
        LoadBalancerArn=nlb["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="TCP",
        Port=5000,
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": payment_targets["TargetGroups"][0]["TargetGroupArn"]}
        ],
    )
    elb = clients.client("elb", US)
    elb.create_load_balancer(
        LoadBalancerName="legacy-api",
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 8080,
                "SSLCertificateId": certificate_request(clients, US, "api.example.com"),
            }
        ],
        AvailabilityZones=[f"{US}a"],
    )
    elb.create_load_balancer_policy(
        LoadBalancerName="legacy-api",
        PolicyName="legacy-api-tls",
        PolicyTypeName="SSLNegotiationPolicyType",
        PolicyAttributes=[
            {"AttributeName": "Reference-Security-Policy", "AttributeValue": "ELBSecurityPolicy-2016-08"},
            {"AttributeName": "Protocol-TLSv1", "AttributeValue": "true"},
            {"AttributeName": "Protocol-TLSv1.1", "AttributeValue": "true"},
            {"AttributeName": "Protocol-TLSv1.2", "AttributeValue": "true"},
        ],
    )
    elb.set_load_balancer_policies_of_listener(
        LoadBalancerName="legacy-api", LoadBalancerPort=443, PolicyNames=["legacy-api-tls"]
    )

    # eu-west-1, the disaster-recovery region: EBS encryption by default still off, no flow logs.
    dr_vpc, _ = default_vpc(clients, EU)
    security_group_create(clients, EU, "dr-replication", dr_vpc, rules=[ingress(443, cidr="10.0.0.0/8")])
    volume_create(clients, EU, "orders-dr-standby", encrypted=True, size=500)


def _production_services(clients: AccountClients) -> None:
    account_id = clients.account_id
    db_group = next(
        g["GroupId"]
        for g in clients.client("ec2", US).describe_security_groups()["SecurityGroups"]
        if g["GroupName"] == "orders-db"
    )
    for region, identifier in ((US, "orders-db"), (EU, "orders-dr")):
        kwargs = {"VpcSecurityGroupIds": [db_group]} if region == US else {}
        clients.client("rds", region).create_db_instance(
            DBInstanceIdentifier=identifier,
            Engine="postgres",
            DBInstanceClass="db.r6g.large",
            AllocatedStorage=200,
            MasterUsername="orders",
            MasterUserPassword=DB_PASSWORD,
            StorageEncrypted=True,
            PubliclyAccessible=False,
            **kwargs,
        )

    audit_bucket = f"prod-redshift-audit-{account_id}"
    bucket_create(clients, audit_bucket)
    redshift = clients.client("redshift", US)
    redshift.create_cluster(
        ClusterIdentifier="analytics",
        NodeType="ra3.xlplus",
        ClusterType="single-node",
        MasterUsername="analytics",
        MasterUserPassword=DB_PASSWORD,
        Encrypted=True,
    )
    redshift.enable_logging(ClusterIdentifier="analytics", BucketName=audit_bucket, S3KeyPrefix="analytics/")

    trail_create(
        clients,
        US,
        "production-audit",
        bucket=CENTRAL_TRAIL_BUCKET,
        multi_region=True,
        validation=True,
        kms_key_arn=kms_key_create(clients, US, "CloudTrail log encryption"),
        cloudwatch=(
            log_group_create(clients, US, "aws-cloudtrail-logs-production"),
            service_role_create(clients, "CloudTrailToCloudWatchLogs", "cloudtrail.amazonaws.com"),
        ),
    )


# Staging.


def seed_staging(clients: AccountClients, now: dt.datetime) -> None:
    _staging_iam(clients, now)
    _staging_network(clients)
    _staging_services(clients)


def _staging_iam(clients: AccountClients, now: dt.datetime) -> None:
    account_id = clients.account_id
    iam = clients.client("iam")

    # Root: no MFA, an access key from two years ago, signed in two days ago.
    patches.state.roots[account_id] = patches.RootUser(
        created_at=days_before(now, 900),
        mfa="none",
        password_last_used_at=days_before(now, 2),
        access_key_created_at=days_before(now, 700),
        access_key_last_used_at=days_before(now, 3),
    )
    password_policy_set(clients, strict=False)
    iam.create_group(GroupName="qa")
    iam.create_group(GroupName="temp-migration")

    user_create(clients, "erin", console=True, access_key=True)
    user_create(clients, "frank", console=True, mfa=True, groups=["qa"])

    contractor_key = user_create(
        clients,
        "old-contractor",
        console=True,
        access_key=True,
        inline_policy=policy_document({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )
    patches.iam_user_backdate(
        account_id,
        "old-contractor",
        created_at=days_before(now, 500),
        password_last_used_at=days_before(now, 150),
    )
    patches.iam_access_key_backdate(
        account_id,
        "old-contractor",
        contractor_key,
        created_at=days_before(now, 300),
        last_used_at=days_before(now, 100),
    )
    ssh_key = ssh_public_key_upload(clients, "old-contractor")
    iam.update_ssh_public_key(UserName="old-contractor", SSHPublicKeyId=ssh_key, Status="Inactive")


def _staging_network(clients: AccountClients) -> None:
    ec2 = clients.client("ec2", US)
    vpc_id, subnets = default_vpc(clients, US)

    app = security_group_create(
        clients,
        US,
        "app-staging",
        vpc_id,
        rules=[ingress(8000, 8100, cidr="10.0.0.0/8", description="App ports")],
    )
    bastion = security_group_create(
        clients, US, "bastion-ssh", vpc_id, rules=[ingress(22, cidr="0.0.0.0/0", description="Temporary SSH")]
    )
    security_group_create(
        clients,
        US,
        "dev-wide-open",
        vpc_id,
        rules=[ingress(0, protocol=ALL_TRAFFIC, cidr="0.0.0.0/0", ipv6="::/0", description="Debugging")],
    )
    security_group_create(clients, US, "redis-staging", vpc_id, rules=[ingress(6379, cidr="0.0.0.0/0")])
    security_group_create(clients, US, "staging-db", vpc_id, rules=[ingress(3306, cidr="0.0.0.0/0")])
    security_group_create(clients, US, "staging-web-lb", vpc_id, rules=[ingress(443, cidr="0.0.0.0/0")])

    image_id = image_register(clients, US, "staging-test-image", public=True)
    ec2.create_key_pair(KeyName="staging-app")
    ec2.create_key_pair(KeyName="staging-old")
    instance_launch(
        clients,
        US,
        "staging-app-1",
        image_id=image_id,
        subnet_id=subnets[0],
        group_ids=[app, bastion],
        key_name="staging-app",
    )
    volume_create(clients, US, "staging-db-data", encrypted=False, size=100)

    # eu-west-1: EBS encryption by default on, and groups left behind by CI runs, one more than
    # the check allows.
    eu = clients.client("ec2", EU)
    eu.enable_ebs_encryption_by_default()
    eu_vpc, _ = default_vpc(clients, EU)
    for index in range(1, 42):
        security_group_create(clients, EU, f"ci-ephemeral-{index:02d}", eu_vpc)


def _staging_services(clients: AccountClients) -> None:
    account_id = clients.account_id
    db_group = next(
        g["GroupId"]
        for g in clients.client("ec2", US).describe_security_groups()["SecurityGroups"]
        if g["GroupName"] == "staging-db"
    )
    clients.client("rds", US).create_db_instance(
        DBInstanceIdentifier="staging-db",
        Engine="mysql",
        DBInstanceClass="db.t3.medium",
        AllocatedStorage=50,
        MasterUsername="staging",
        MasterUserPassword=DB_PASSWORD,
        StorageEncrypted=False,
        PubliclyAccessible=True,
        VpcSecurityGroupIds=[db_group],
    )
    clients.client("redshift", US).create_cluster(
        ClusterIdentifier="staging-dw",
        NodeType="ra3.xlplus",
        ClusterType="single-node",
        MasterUsername="staging",
        MasterUserPassword=DB_PASSWORD,
    )

    _, subnets = default_vpc(clients, US)
    web_group = next(
        g["GroupId"]
        for g in clients.client("ec2", US).describe_security_groups()["SecurityGroups"]
        if g["GroupName"] == "staging-web-lb"
    )
    elbv2 = clients.client("elbv2", US)
    alb = elbv2.create_load_balancer(
        Name="staging-web", Subnets=subnets[:2], SecurityGroups=[web_group], Type="application"
    )
    vpc_id, _ = default_vpc(clients, US)
    targets = elbv2.create_target_group(Name="staging-web", Protocol="HTTP", Port=8080, VpcId=vpc_id)
    elbv2.create_listener(
        LoadBalancerArn=alb["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-2016-08",
        Certificates=[{"CertificateArn": certificate_request(clients, US, "staging.example.com")}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": targets["TargetGroups"][0]["TargetGroupArn"]}],
    )

    # The staging trail writes to its own bucket: readable by anyone, versioned without MFA delete,
    # no access logging. The trail covers us-east-1 only, without validation, KMS or CloudWatch.
    trail_bucket = f"staging-cloudtrail-{account_id}"
    trail_bucket_create(clients, trail_bucket, acl="public-read")
    clients.client("s3").put_bucket_versioning(
        Bucket=trail_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    trail_create(clients, US, "staging-trail", bucket=trail_bucket, multi_region=False, validation=False)
