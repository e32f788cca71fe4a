"""The demo's history: the back-dated scans and what changed in the accounts before each one.

Every change goes through the AWS APIs of the simulator, as an administrator would make it. Some
are fixes, such as EBS encryption by default, a narrowed SSH rule or MFA for a console user. Others
are regressions, such as a public AMI, an unencrypted volume or RDP opened to the internet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sandbox.demo_accounts import EU, LOG_ARCHIVE, PRODUCTION, STAGING, US
from sandbox.seed import (
    AccountClients,
    SimulatedAccount,
    image_register,
    image_share_publicly,
    ingress,
    password_policy_set,
    security_group_create,
    security_group_id,
    service_role_create,
    user_create,
    volume_create,
)


@dataclass(frozen=True)
class Change:
    account: SimulatedAccount
    summary: str
    apply: Callable[[AccountClients], None]


@dataclass(frozen=True)
class DemoScan:
    """A scan dated `days_back` days before the demo starts, after `changes` were made."""

    days_back: int
    changes: tuple[Change, ...] = ()

    def note(self) -> str:
        """Return the scan's note (at most 200 characters, the column's size)."""
        unit = "day" if self.days_back == 1 else "days"
        note = f"Demo scan dated {self.days_back} {unit} back."
        if self.changes:
            note += (
                " Changes: " + "; ".join(f"{c.account.environment}: {c.summary}" for c in self.changes) + "."
            )
        return note if len(note) <= 200 else note[:197] + "..."


# Fixes and regressions, one function per change.


def _production_ebs_default_eu(clients: AccountClients) -> None:
    clients.client("ec2", EU).enable_ebs_encryption_by_default()


def _staging_ssh_narrowed(clients: AccountClients) -> None:
    ec2 = clients.client("ec2", US)
    group_id = security_group_id(clients, US, "bastion-ssh")
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[ingress(22, cidr="0.0.0.0/0")])
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=[ingress(22, cidr="198.51.100.0/24", description="Office VPN")]
    )


def _staging_empty_group_deleted(clients: AccountClients) -> None:
    clients.client("iam").delete_group(GroupName="temp-migration")


def _production_public_ami(clients: AccountClients) -> None:
    image_register(clients, US, "web-golden-2026-11-hotfix", public=True)


def _staging_unencrypted_volume(clients: AccountClients) -> None:
    volume_create(clients, US, "load-test-data", encrypted=False, size=200)


def _staging_intern_without_mfa(clients: AccountClients) -> None:
    user_create(clients, "intern-sam", console=True, groups=["qa"])


def _staging_console_mfa(clients: AccountClients) -> None:
    iam = clients.client("iam")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="erin")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="erin", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )


def _production_scratch_volume_deleted(clients: AccountClients) -> None:
    ec2 = clients.client("ec2", US)
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["scratch-legacy"]}])["Volumes"]
    for volume in volumes:
        ec2.delete_volume(VolumeId=volume["VolumeId"])


def _staging_redis_closed(clients: AccountClients) -> None:
    clients.client("ec2", US).revoke_security_group_ingress(
        GroupId=security_group_id(clients, US, "redis-staging"),
        IpPermissions=[ingress(6379, cidr="0.0.0.0/0")],
    )


def _log_archive_cloudwatch_role_replaced(clients: AccountClients) -> None:
    cloudtrail = clients.client("cloudtrail", US)
    trail = cloudtrail.describe_trails(trailNameList=["log-archive-audit"])["trailList"][0]
    role_arn = service_role_create(clients, "CloudTrailToCloudWatchLogs", "cloudtrail.amazonaws.com")
    cloudtrail.update_trail(
        Name="log-archive-audit",
        CloudWatchLogsLogGroupArn=trail["CloudWatchLogsLogGroupArn"],
        CloudWatchLogsRoleArn=role_arn,
    )


def _staging_password_policy_strict(clients: AccountClients) -> None:
    password_policy_set(clients, strict=True)


def _production_ami_private_and_blocked(clients: AccountClients) -> None:
    ec2 = clients.client("ec2", US)
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["web-golden-2026-11-hotfix"]}]
    )["Images"]
    for image in images:
        image_share_publicly(clients, US, image["ImageId"], public=False)
    ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")


def _production_deploy_key_rotated(clients: AccountClients) -> None:
    iam = clients.client("iam")
    old_keys = iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"]
    iam.create_access_key(UserName="ci-deploy")
    for key in old_keys:
        iam.update_access_key(UserName="ci-deploy", AccessKeyId=key["AccessKeyId"], Status="Inactive")
        iam.delete_access_key(UserName="ci-deploy", AccessKeyId=key["AccessKeyId"])


def _staging_test_runner_added(clients: AccountClients) -> None:
    # Its key is a day old and unused at the next scan: new, so not counted as stale.
    user_create(clients, "test-runner", access_key=True, groups=["qa"])


def _staging_rdp_opened(clients: AccountClients) -> None:
    vpc_id = clients.client("ec2", US).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"
    ][0]["VpcId"]
    security_group_create(
        clients, US, "debug-rdp", vpc_id, rules=[ingress(3389, cidr="0.0.0.0/0", description="Debugging")]
    )


# The first scan is 30 days before the last one, so the overview's 30-day change has a scan
# to compare with.
TIMELINE = (
    DemoScan(31),
    DemoScan(
        22,
        (
            Change(PRODUCTION, "EBS encryption by default in eu-west-1", _production_ebs_default_eu),
            Change(STAGING, "SSH narrowed to the office", _staging_ssh_narrowed),
            Change(STAGING, "empty group deleted", _staging_empty_group_deleted),
        ),
    ),
    DemoScan(
        15,
        (
            Change(PRODUCTION, "public AMI", _production_public_ami),
            Change(STAGING, "unencrypted volume", _staging_unencrypted_volume),
            Change(STAGING, "console user without MFA", _staging_intern_without_mfa),
        ),
    ),
    DemoScan(
        8,
        (
            Change(STAGING, "MFA for erin", _staging_console_mfa),
            Change(LOG_ARCHIVE, "CloudTrail to CloudWatch fixed", _log_archive_cloudwatch_role_replaced),
            Change(STAGING, "password policy", _staging_password_policy_strict),
            Change(PRODUCTION, "old volume deleted", _production_scratch_volume_deleted),
            Change(STAGING, "Redis closed", _staging_redis_closed),
        ),
    ),
    DemoScan(
        1,
        (
            Change(PRODUCTION, "AMI private, AMI sharing blocked", _production_ami_private_and_blocked),
            Change(PRODUCTION, "deploy key rotated", _production_deploy_key_rotated),
            Change(STAGING, "RDP open to the internet", _staging_rdp_opened),
            Change(STAGING, "new API user", _staging_test_runner_added),
        ),
    ),
)
