"""Build simulated AWS accounts through the AWS APIs, as an administrator of each account would.

Every resource is created with ordinary API calls made through AssumeRole into the account's
administration role. Only facts that moto cannot set through its API (ages, last use, the root
user) go through `sandbox.patches`, which is why seeding must run in the process that runs moto.
The functions work against the sandbox server (`endpoint_url="http://127.0.0.1:PORT"`) and against
in-process `mock_aws` (`endpoint_url=None`).

- `seed_demo` builds the three demo accounts (`sandbox.demo_accounts` describes each);
- `seed_sized` builds one account of a chosen size, for benchmarks.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.loaders
import botocore.session

from sandbox import patches

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
ADMIN_ROLE = "OrganizationAccountAccessRole"
SCANNER_ROLE = "BackupPostureReadOnly"
# The account moto assigns to the fake base credentials: the account the product itself runs in,
# which the scanner role of every simulated account trusts.
SCANNER_HOME_ACCOUNT = "123456789012"
_SEED_SESSION_NAME = "sandbox-seed"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# IpProtocol of a rule that covers every protocol and port.
ALL_TRAFFIC = "-1"

# Actions the scanner role allows: the read-only calls of the collectors.
_SCANNER_ACTIONS = [
    "cloudtrail:Describe*",
    "cloudtrail:Get*",
    "cloudtrail:List*",
    "ec2:Describe*",
    "ec2:Get*",
    "elasticloadbalancing:Describe*",
    "iam:GenerateCredentialReport",
    "iam:Get*",
    "iam:List*",
    "rds:Describe*",
    "redshift:Describe*",
    "s3:GetAccountPublicAccessBlock",
    "s3:GetBucket*",
    "s3:ListAllMyBuckets",
    "sts:GetCallerIdentity",
]


@dataclass(frozen=True)
class SimulatedAccount:
    """One simulated account and how the product reaches it."""

    account_id: str
    name: str
    environment: str
    external_id: str
    regions: tuple[str, ...] = (DEFAULT_REGION,)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{SCANNER_ROLE}"


def _rewrite_s3control_host(request, **kwargs) -> None:
    """Send S3 Control calls to the loopback endpoint itself.

    botocore puts the account id into the S3 Control host name (`<account>.127.0.0.1`), which would
    need a DNS lookup. moto reads the account from the x-amz-account-id header instead.
    """
    parts = urlsplit(request.url)
    account_id, _, rest = (parts.hostname or "").partition(".")
    if rest in _LOOPBACK_HOSTS and account_id.isdigit():
        netloc = rest if parts.port is None else f"{rest}:{parts.port}"
        request.url = urlunsplit(parts._replace(netloc=netloc))
        request.headers["x-amz-account-id"] = account_id


_shared_loader: botocore.loaders.Loader | None = None


def _session(**credentials: str) -> boto3.Session:
    """Return a boto3 session that shares one botocore data loader with every other seed session.

    Each new botocore session otherwise parses the service model files again, which roughly doubled
    the time to create a client (about 60 ms instead of 25 ms, measured over ten services).
    """
    global _shared_loader
    if _shared_loader is None:
        _shared_loader = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader)
    return boto3.Session(botocore_session=core, **credentials)


class AccountClients:
    """boto3 clients inside one simulated account, reached by AssumeRole into `role_name`.

    One client per (service, region) is kept, because creating a client costs about as much as a call.
    """

    def __init__(self, account_id: str, *, endpoint_url: str | None, role_name: str = ADMIN_ROLE) -> None:
        self.account_id = account_id
        self.endpoint_url = endpoint_url
        sts = _session().client("sts", region_name=DEFAULT_REGION, endpoint_url=endpoint_url)
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName=_SEED_SESSION_NAME
        )["Credentials"]
        self.session = _session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        if endpoint_url:
            self.session.events.register_first("before-send.s3-control", _rewrite_s3control_host)
        self._clients: dict[tuple[str, str], object] = {}

    def client(self, service: str, region: str = DEFAULT_REGION):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url
            )
        return self._clients[key]


def account_bootstrap(account: SimulatedAccount, *, endpoint_url: str | None) -> AccountClients:
    """Create the account's administration role and the scanner's read-only role.

    The scanner role trusts the product's home account and requires the account's ExternalId.
    Call before `patches.state.sealed_accounts` lists the account, since the administration role
    does not exist yet when this assumes it.
    """
    clients = AccountClients(account.account_id, endpoint_url=endpoint_url)
    iam = clients.client("iam")
    home = f"arn:aws:iam::{SCANNER_HOME_ACCOUNT}:root"
    iam.create_role(
        RoleName=ADMIN_ROLE,
        AssumeRolePolicyDocument=policy_document(
            {"Effect": "Allow", "Principal": {"AWS": home}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.create_role(
        RoleName=SCANNER_ROLE,
        Description="Read-only role assumed by Backup Posture",
        AssumeRolePolicyDocument=policy_document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": home},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": account.external_id}},
            }
        ),
    )
    iam.put_role_policy(
        RoleName=SCANNER_ROLE,
        PolicyName="backup-posture-read",
        PolicyDocument=policy_document({"Effect": "Allow", "Action": _SCANNER_ACTIONS, "Resource": "*"}),
    )
    return clients


def accounts_seal(accounts: Iterable[SimulatedAccount]) -> None:
    """From now on, AssumeRole into these accounts needs an existing role and its ExternalId."""
    patches.state.sealed_accounts.update(a.account_id for a in accounts)


# Building blocks shared by the demo accounts and the sized seed.


def policy_document(*statements: dict) -> str:
    """Return an IAM policy document (JSON) holding `statements`."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _password() -> str:
    return secrets.token_urlsafe(18) + "-Aa1!"


def user_create(
    clients: AccountClients,
    name: str,
    *,
    console: bool = False,
    mfa: bool = False,
    access_key: bool = False,
    groups: Iterable[str] = (),
    managed_policy_arn: str | None = None,
    inline_policy: str | None = None,
) -> str | None:
    """Create an IAM user with the chosen credentials; return its access key id, if it got one."""
    iam = clients.client("iam")
    iam.create_user(UserName=name)
    if console:
        iam.create_login_profile(UserName=name, Password=_password())
    if mfa:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    if managed_policy_arn:
        iam.attach_user_policy(UserName=name, PolicyArn=managed_policy_arn)
    if inline_policy:
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=inline_policy)
    if access_key:
        return iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return None


def ssh_public_key_upload(clients: AccountClients, user_name: str) -> str:
    """Upload an SSH public key for the user; return its id. The key material is random bytes,
    which is all moto and the checks look at."""
    body = (
        "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + secrets.token_bytes(36)).decode()
    )
    response = clients.client("iam").upload_ssh_public_key(UserName=user_name, SSHPublicKeyBody=body)
    return response["SSHPublicKey"]["SSHPublicKeyId"]


def password_policy_set(clients: AccountClients, *, strict: bool) -> None:
    """Apply a password policy: strict meets every requirement of the check, weak misses most."""
    if strict:
        settings = {
            "MinimumPasswordLength": 14,
            "RequireSymbols": True,
            "RequireNumbers": True,
            "RequireUppercaseCharacters": True,
            "RequireLowercaseCharacters": True,
            "PasswordReusePrevention": 24,
            "MaxPasswordAge": 90,
        }
    else:
        settings = {"MinimumPasswordLength": 8, "RequireNumbers": True, "RequireLowercaseCharacters": True}
    clients.client("iam").update_account_password_policy(**settings)


def bucket_create(clients: AccountClients, name: str, *, acl: str | None = None) -> None:
    kwargs = {"ACL": acl} if acl else {}
    clients.client("s3").create_bucket(Bucket=name, **kwargs)


def trail_bucket_create(clients: AccountClients, name: str, *, acl: str | None = None) -> None:
    """Create a bucket with the policy CloudTrail needs to write into it."""
    bucket_create(clients, name, acl=acl)
    clients.client("s3").put_bucket_policy(
        Bucket=name,
        Policy=policy_document(
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{name}",
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{name}/AWSLogs/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            },
        ),
    )


def access_log_bucket_create(clients: AccountClients, name: str) -> None:
    """Create a bucket that accepts S3 server access logs (the log delivery group may write)."""
    bucket_create(clients, name)
    s3 = clients.client("s3")
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    s3.put_bucket_acl(
        Bucket=name,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                {"Grantee": log_delivery, "Permission": "WRITE"},
                {"Grantee": log_delivery, "Permission": "READ_ACP"},
            ],
        },
    )


def public_access_block_set(clients: AccountClients, bucket: str) -> None:
    clients.client("s3").put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def log_group_create(clients: AccountClients, region: str, name: str) -> str:
    """Create a CloudWatch Logs group; return its ARN in the form CloudTrail expects."""
    clients.client("logs", region).create_log_group(logGroupName=name)
    return f"arn:aws:logs:{region}:{clients.account_id}:log-group:{name}:*"


def service_role_create(clients: AccountClients, name: str, service: str) -> str:
    """Create a role a service assumes (CloudTrail to CloudWatch Logs, VPC flow logs); return its ARN."""
    response = clients.client("iam").create_role(
        RoleName=name,
        AssumeRolePolicyDocument=policy_document(
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ),
    )
    return response["Role"]["Arn"]


def kms_key_create(clients: AccountClients, region: str, description: str) -> str:
    return clients.client("kms", region).create_key(Description=description)["KeyMetadata"]["Arn"]


def trail_create(
    clients: AccountClients,
    region: str,
    name: str,
    *,
    bucket: str,
    multi_region: bool,
    validation: bool,
    kms_key_arn: str | None = None,
    cloudwatch: tuple[str, str] | None = None,
    read_write: str = "All",
) -> str:
    """Create a logging trail with basic event selectors; return its ARN.

    `cloudwatch` is (log group ARN, role ARN). moto leaves the selectors of a new trail empty
    where AWS defaults to all management events, so they are always set explicitly.
    """
    cloudtrail = clients.client("cloudtrail", region)
    kwargs: dict = {
        "Name": name,
        "S3BucketName": bucket,
        "IsMultiRegionTrail": multi_region,
        "IncludeGlobalServiceEvents": True,
        "EnableLogFileValidation": validation,
    }
    if kms_key_arn:
        kwargs["KmsKeyId"] = kms_key_arn
    if cloudwatch:
        kwargs["CloudWatchLogsLogGroupArn"], kwargs["CloudWatchLogsRoleArn"] = cloudwatch
    arn = cloudtrail.create_trail(**kwargs)["TrailARN"]
    cloudtrail.put_event_selectors(
        TrailName=name,
        EventSelectors=[{"ReadWriteType": read_write, "IncludeManagementEvents": True}],
    )
    cloudtrail.start_logging(Name=name)
    return arn


def vpc_create(clients: AccountClients, region: str, name: str, cidr: str) -> tuple[str, list[str]]:
    """Create a VPC with one subnet in each of two availability zones; return (VPC id, subnet ids)."""
    ec2 = clients.client("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[_name_tag("vpc", name)])["Vpc"]["VpcId"]
    prefix = cidr.rsplit(".", 2)[0]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"{prefix}.{index * 16}.0/20",
            AvailabilityZone=f"{region}{zone}",
            TagSpecifications=[_name_tag("subnet", f"{name}-{zone}")],
        )["Subnet"]["SubnetId"]
        for index, zone in enumerate("ab")
    ]
    return vpc_id, subnets


def default_vpc(clients: AccountClients, region: str) -> tuple[str, list[str]]:
    ec2 = clients.client("ec2", region)
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    return vpc_id, sorted(s["SubnetId"] for s in subnets)


def flow_logs_to_cloudwatch(clients: AccountClients, region: str, vpc_id: str, role_arn: str) -> None:
    group = f"/vpc/flow-logs/{vpc_id}"
    clients.client("logs", region).create_log_group(logGroupName=group)
    response = clients.client("ec2", region).create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName=group,
        DeliverLogsPermissionArn=role_arn,
    )
    _flow_logs_created(response, vpc_id)


def flow_logs_to_s3(clients: AccountClients, region: str, vpc_id: str, bucket: str) -> None:
    # moto 5.2.5 rejects a destination with a key prefix (arn:aws:s3:::bucket/prefix/) that AWS accepts.
    response = clients.client("ec2", region).create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
    )
    _flow_logs_created(response, vpc_id)


def _flow_logs_created(response: dict, vpc_id: str) -> None:
    """CreateFlowLogs reports failures in its response instead of raising; raise them here."""
    failures = response.get("Unsuccessful") or []
    if failures:
        raise RuntimeError(f"CreateFlowLogs failed for {vpc_id}: {failures[0]['Error']['Message']}")


def ingress(
    from_port: int,
    to_port: int | None = None,
    *,
    cidr: str | None = None,
    ipv6: str | None = None,
    group_id: str | None = None,
    protocol: str = "tcp",
    description: str = "",
) -> dict:
    """Build one IpPermissions item, for ingress or egress rules."""
    rule: dict = {"IpProtocol": protocol}
    if protocol != ALL_TRAFFIC:
        rule["FromPort"] = from_port
        rule["ToPort"] = from_port if to_port is None else to_port
    if cidr:
        rule["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
    if ipv6:
        rule["Ipv6Ranges"] = [{"CidrIpv6": ipv6, "Description": description}]
    if group_id:
        rule["UserIdGroupPairs"] = [{"GroupId": group_id, "Description": description}]
    return rule


def security_group_create(
    clients: AccountClients,
    region: str,
    name: str,
    vpc_id: str,
    *,
    rules: Iterable[dict] = (),
    egress: Iterable[dict] | None = None,
    description: str = "",
) -> str:
    """Create a security group with ingress `rules`; `egress` replaces the default allow-all rule."""
    ec2 = clients.client("ec2", region)
    group_id = ec2.create_security_group(GroupName=name, Description=description or name, VpcId=vpc_id)[
        "GroupId"
    ]
    rules = list(rules)
    if rules:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=rules)
    if egress is not None:
        egress_replace(clients, region, group_id, list(egress))
    return group_id


def egress_replace(clients: AccountClients, region: str, group_id: str, egress: list[dict]) -> None:
    ec2 = clients.client("ec2", region)
    current = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"]
    if current:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=current)
    if egress:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=egress)


def default_group_close(clients: AccountClients, region: str, vpc_id: str) -> None:
    """Remove every rule of the VPC's default security group, as the check expects."""
    ec2 = clients.client("ec2", region)
    group = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]
    if group["IpPermissions"]:
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    egress_replace(clients, region, group["GroupId"], [])


def security_group_id(clients: AccountClients, region: str, name: str) -> str:
    groups = clients.client("ec2", region).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    if not groups:
        raise LookupError(f"Account {clients.account_id} has no security group {name!r} in {region}.")
    return groups[0]["GroupId"]


def image_register(clients: AccountClients, region: str, name: str, *, public: bool = False) -> str:
    ec2 = clients.client("ec2", region)
    image_id = ec2.register_image(
        Name=name,
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
    )["ImageId"]
    if public:
        image_share_publicly(clients, region, image_id, public=True)
    return image_id


def image_share_publicly(clients: AccountClients, region: str, image_id: str, *, public: bool) -> None:
    change = "Add" if public else "Remove"
    clients.client("ec2", region).modify_image_attribute(
        ImageId=image_id, LaunchPermission={change: [{"Group": "all"}]}
    )


def instance_launch(
    clients: AccountClients,
    region: str,
    name: str,
    *,
    image_id: str,
    subnet_id: str,
    group_ids: list[str],
    key_name: str | None = None,
) -> str:
    """Launch one instance with an encrypted root volume; return its id."""
    kwargs: dict = {"KeyName": key_name} if key_name else {}
    response = clients.client("ec2", region).run_instances(
        ImageId=image_id,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet_id,
        SecurityGroupIds=group_ids,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 16, "Encrypted": True}}],
        TagSpecifications=[_name_tag("instance", name)],
        **kwargs,
    )
    return response["Instances"][0]["InstanceId"]


def volume_create(clients: AccountClients, region: str, name: str, *, encrypted: bool, size: int = 50) -> str:
    return clients.client("ec2", region).create_volume(
        AvailabilityZone=f"{region}a",
        Size=size,
        VolumeType="gp3",
        Encrypted=encrypted,
        TagSpecifications=[_name_tag("volume", name)],
    )["VolumeId"]


def certificate_request(clients: AccountClients, region: str, domain: str) -> str:
    return clients.client("acm", region).request_certificate(DomainName=domain)["CertificateArn"]


def _name_tag(resource_type: str, name: str) -> dict:
    return {"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}


def days_before(now: dt.datetime, days: float) -> dt.datetime:
    return now - dt.timedelta(days=days)


# Benchmark seed.


def seed_sized(
    account: SimulatedAccount,
    *,
    endpoint_url: str | None,
    users: int,
    buckets: int,
    security_groups: int,
    volumes: int,
    region: str = DEFAULT_REGION,
    now: dt.datetime | None = None,
) -> AccountClients:
    """Seed one account with `users` users, `buckets` buckets, `security_groups` groups and `volumes`
    volumes in `region`, with a steady mix of passing and failing resources.

    Every third user has a console password, and only every second of those has MFA. Every fourth
    user has an access key older than a year. Every fifth group opens SSH to the internet, and every
    other volume is unencrypted.
    Call `accounts_seal([account])` afterwards to enforce the ExternalId.
    """
    now = now or dt.datetime.now(dt.UTC)
    clients = account_bootstrap(account, endpoint_url=endpoint_url)
    for index in range(users):
        name = f"user-{index:05d}"
        key_id = user_create(
            clients, name, console=index % 3 == 0, mfa=index % 6 == 3, access_key=index % 4 == 0
        )
        if key_id:
            patches.iam_access_key_backdate(
                account.account_id, name, key_id, created_at=days_before(now, 400)
            )
    for index in range(buckets):
        bucket_create(clients, f"bench-{account.account_id}-{index:05d}")
    vpc_id, _ = default_vpc(clients, region)
    for index in range(security_groups):
        rules = [ingress(443, cidr="10.0.0.0/8")]
        if index % 5 == 0:
            rules.append(ingress(22, cidr="0.0.0.0/0"))
        security_group_create(clients, region, f"bench-sg-{index:05d}", vpc_id, rules=rules)
    for index in range(volumes):
        volume_create(clients, region, f"bench-volume-{index:05d}", encrypted=index % 2 == 0, size=8)
    return clients
