"""Server-side fills for AWS behaviour that moto 5.2.5 lacks and the checks read.

Every change here edits moto's own classes or backend objects, so it works for in-process
`mock_aws` and for a moto server running in this process, but not for a separate moto process.

- `installed()` applies the class patches (credential report root row, account summary, S3
  MFADelete, CloudTrail CloudWatch delivery time, ExternalId enforcement, EC2 image block public
  access) and removes them on exit.
- `state` holds what those patches serve: the simulated clock, each account's root user, stalled
  CloudWatch Logs roles and the accounts whose roles require a matching ExternalId.
- The `*_backdate` functions move timestamps that moto always sets to the time of the call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Literal
from unittest import mock

PARTITION = "aws"
_CSV_DATE = "%Y-%m-%dT%H:%M:%S+00:00"
_MFA_DELETE_RE = re.compile(r"<MfaDelete>\s*(Enabled|Disabled)\s*</MfaDelete>")
_ROLE_ARN_RE = re.compile(r"^arn:[\w-]+:iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<name>[^/]+)$")


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """moto stores naive UTC datetimes; convert an aware one so comparisons and strftime agree."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class RootUser:
    """The root user of one simulated account, as the credential report and account summary show it.

    `mfa` is "hardware" or "virtual" when root has an MFA device; a virtual device also needs
    `root_virtual_mfa_assign` so ListVirtualMFADevices shows it assigned to root.
    """

    created_at: dt.datetime
    mfa: Literal["none", "virtual", "hardware"] = "none"
    password_last_used_at: dt.datetime | None = None
    # None means root has no access key.
    access_key_created_at: dt.datetime | None = None
    access_key_last_used_at: dt.datetime | None = None

    def report_row(self, account_id: str) -> str:
        """Return the `<root_account>` line of the credential report, in the column order AWS uses."""

        def date_or(value: dt.datetime | None, missing: str) -> str:
            return _naive_utc(value).strftime(_CSV_DATE) if value else missing

        has_key = self.access_key_created_at is not None
        key_used = has_key and self.access_key_last_used_at is not None
        columns = [
            "<root_account>",
            f"arn:{PARTITION}:iam::{account_id}:root",
            date_or(self.created_at, "N/A"),
            # AWS reports these three columns as not_supported for root.
            "not_supported",
            date_or(self.password_last_used_at, "no_information"),
            "not_supported",
            "not_supported",
            "true" if self.mfa != "none" else "false",
            "true" if has_key else "false",
            date_or(self.access_key_created_at, "N/A"),
            date_or(self.access_key_last_used_at, "N/A") if has_key else "N/A",
            "us-east-1" if key_used else "N/A",
            "s3" if key_used else "N/A",
            "false",
            "N/A",
            "N/A",
            "N/A",
            "N/A",
            "false",
            "N/A",
            "false",
            "N/A",
        ]
        return ",".join(columns)


@dataclass
class SandboxState:
    """Simulated facts that moto has no API for, read by the patches while they are installed."""

    # When set, "now" for the simulated world (credential report time, CloudWatch delivery);
    # the demo sets it to the date each of its back-dated scans stands for.
    clock: dt.datetime | None = None
    roots: dict[str, RootUser] = field(default_factory=dict)
    # IAM role ARN -> last successful delivery: a trail whose CloudWatch Logs role is listed here
    # stopped delivering at that time (for example because the role lost its permissions).
    stalled_cloudwatch_roles: dict[str, dt.datetime] = field(default_factory=dict)
    # Accounts where AssumeRole needs an existing role and the ExternalId its trust policy names.
    sealed_accounts: set[str] = field(default_factory=set)
    # When set, AssumeRole into any account that is not sealed is denied, as AWS denies a role that
    # does not exist; the demo sets it so that registering an unknown account fails verification.
    deny_unsealed: bool = False

    def now(self) -> dt.datetime:
        return self.clock or dt.datetime.now(dt.UTC)

    def reset(self) -> None:
        self.clock = None
        self.roots.clear()
        self.stalled_cloudwatch_roles.clear()
        self.sealed_accounts.clear()
        self.deny_unsealed = False


state = SandboxState()


def _iam_backend(account_id: str):
    from moto.iam.models import iam_backends

    return iam_backends[account_id][PARTITION]


# Class patches.


def _credential_report_with_root(original):
    """moto's credential report has no `<root_account>` row; AWS always puts it first."""

    def get_credential_report(self) -> str:
        report = original(self)
        root = state.roots.get(self.account_id)
        if root is None:
            return report
        header, _, rows = report.partition("\n")
        return f"{header}\n{root.report_row(self.account_id)}\n{rows}"

    return get_credential_report


def _credential_report_response(self):
    """Return the report with its generation time: moto always returns 2015-02-02T20:02:02Z."""
    from moto.core.responses import ActionResult

    generated = _naive_utc(state.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ActionResult(
        {
            "Content": self.backend.get_credential_report(),
            "ReportFormat": "text/csv",
            "GeneratedTime": generated,
        }
    )


def _account_summary_with_root(original_getter):
    """moto hard-codes AccountMFAEnabled and AccountAccessKeysPresent to 0."""

    def summary_map(self) -> dict:
        summary = original_getter(self)
        backend = self._iam_backend  # noqa: SLF001 - moto keeps the owning backend only here
        root = state.roots.get(backend.account_id)
        if root is not None:
            summary["AccountMFAEnabled"] = int(root.mfa != "none")
            summary["AccountAccessKeysPresent"] = int(root.access_key_created_at is not None)
        return summary

    return property(summary_map)


def _bucket_put_keeping_mfa_delete(original):
    """moto accepts PutBucketVersioning with MfaDelete but drops it; keep it on the bucket."""

    def bucket_response_put(self, request, bucket_name, querystring):
        response = original(self, request, bucket_name, querystring)
        if "versioning" in querystring:
            match = _MFA_DELETE_RE.search(self.body.decode("utf-8") if self.body else "")
            if match:
                self.backend.get_bucket(bucket_name).mfa_delete = match.group(1)
        return response

    return bucket_response_put


def _bucket_versioning_with_mfa_delete(self):
    """GetBucketVersioning with the MFADelete value kept by the PUT patch, as AWS returns it."""
    from moto.core.responses import ActionResult

    bucket = self.backend.get_bucket(self.bucket_name)
    result = {"Status": bucket.versioning_status}
    mfa_delete = getattr(bucket, "mfa_delete", None)
    if mfa_delete:
        result["MFADelete"] = mfa_delete
    self.data["Action"] = "GetBucketVersioning"
    return self.serialized(ActionResult(result))


def _trail_status_with_cloudwatch(original):
    """moto never returns LatestCloudWatchLogsDeliveryTime; AWS does for trails sending to CloudWatch Logs."""

    def get_trail_status(self) -> str:
        body = original(self)
        name = self._get_param("Name")
        trails = self.cloudtrail_backend.describe_trails(include_shadow_trails=True)
        trail = next((t for t in trails if name in (t.trail_name, t.arn)), None)
        if trail is None or not trail.cw_log_group_arn or not trail.status.is_logging:
            return body
        status = json.loads(body)
        stalled_at = state.stalled_cloudwatch_roles.get(trail.cw_role_arn or "")
        delivered = stalled_at or state.now() - dt.timedelta(minutes=4)
        status["LatestCloudWatchLogsDeliveryTime"] = int(delivered.timestamp())
        return json.dumps(status)

    return get_trail_status


def _assume_role_checking_trust(original):
    """moto issues credentials for any role and ignores the ExternalId; AWS checks the trust policy.

    Only accounts in `state.sealed_accounts` are checked, so seeding can create the roles first.
    """
    from moto.sts.exceptions import STSClientError

    def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
        match = _ROLE_ARN_RE.match(role_arn or "")
        if match and match["account"] not in state.sealed_accounts and state.deny_unsealed:
            raise STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        if match and match["account"] in state.sealed_accounts:
            expected = _trusted_external_ids(match["account"], match["name"])
            if expected is None or (expected and external_id not in expected):
                raise STSClientError(
                    "AccessDenied",
                    f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                )
        return original(self, region_name, role_session_name, role_arn, policy, duration, external_id)

    return assume_role


def _trusted_external_ids(account_id: str, role_name: str) -> set[str] | None:
    """Return the ExternalIds the role's trust policy requires (empty: none), or None without a role."""
    backend = _iam_backend(account_id)
    role = next((r for r in backend.roles.values() if r.name == role_name), None)
    if role is None:
        return None
    document = json.loads(role.assume_role_policy_document)
    expected: set[str] = set()
    for statement in document.get("Statement", []):
        condition = statement.get("Condition", {}).get("StringEquals", {})
        value = condition.get("sts:ExternalId")
        if value:
            expected.update([value] if isinstance(value, str) else value)
    return expected


def _image_block_public_access_get(self):
    """GetImageBlockPublicAccessState, which moto does not implement; the default is unblocked."""
    from moto.core.responses import ActionResult

    value = getattr(self.ec2_backend, "image_block_public_access", "unblocked")
    return ActionResult({"ImageBlockPublicAccessState": value, "ManagedBy": "account"})


def _image_block_public_access_enable(self):
    """EnableImageBlockPublicAccess; AWS accepts only the state block-new-sharing.

    NOTE: unlike AWS, the sandbox still lets ModifyImageAttribute make an image public while the
    block is on; the checks read the state only.
    """
    from moto.core.responses import ActionResult

    value = self._get_param("ImageBlockPublicAccessState") or "block-new-sharing"
    self.ec2_backend.image_block_public_access = value
    return ActionResult({"ImageBlockPublicAccessState": value})


def _image_block_public_access_disable(self):
    from moto.core.responses import ActionResult

    self.ec2_backend.image_block_public_access = "unblocked"
    return ActionResult({"ImageBlockPublicAccessState": "unblocked"})


_install_lock = threading.Lock()
_installed = False


@contextlib.contextmanager
def installed() -> Iterator[SandboxState]:
    """Apply every class patch for the duration of the block; reset `state` on exit.

    Raises RuntimeError when the patches are already installed, because a second copy would wrap
    the patched methods again.
    """
    global _installed
    with _install_lock:
        if _installed:
            raise RuntimeError("The sandbox patches are already installed in this process.")
        _installed = True
    try:
        with contextlib.ExitStack() as stack:
            yield _apply(stack)
    finally:
        with _install_lock:
            _installed = False


def _apply(stack: contextlib.ExitStack) -> SandboxState:
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.ec2.responses import EC2Response
    from moto.iam.models import AccountSummary, IAMBackend
    from moto.iam.responses import IamResponse
    from moto.s3.responses import S3Response
    from moto.sts.models import STSBackend

    patches = [
        mock.patch.object(
            IAMBackend,
            "get_credential_report",
            _credential_report_with_root(IAMBackend.get_credential_report),
        ),
        mock.patch.object(IamResponse, "get_credential_report", _credential_report_response),
        mock.patch.object(
            AccountSummary,
            "summary_map",
            _account_summary_with_root(AccountSummary.summary_map.fget),
        ),
        mock.patch.object(
            S3Response,
            "_bucket_response_put",
            _bucket_put_keeping_mfa_delete(S3Response._bucket_response_put),  # noqa: SLF001
        ),
        mock.patch.object(S3Response, "get_bucket_versioning", _bucket_versioning_with_mfa_delete),
        mock.patch.object(
            CloudTrailResponse,
            "get_trail_status",
            _trail_status_with_cloudwatch(CloudTrailResponse.get_trail_status),
        ),
        mock.patch.object(STSBackend, "assume_role", _assume_role_checking_trust(STSBackend.assume_role)),
        mock.patch.object(
            EC2Response,
            "get_image_block_public_access_state",
            _image_block_public_access_get,
            create=True,
        ),
        mock.patch.object(
            EC2Response,
            "enable_image_block_public_access",
            _image_block_public_access_enable,
            create=True,
        ),
        mock.patch.object(
            EC2Response,
            "disable_image_block_public_access",
            _image_block_public_access_disable,
            create=True,
        ),
    ]
    for patch in patches:
        stack.enter_context(patch)
    # moto warns that AccessDenied is not a modeled STS error; the client still gets the right code.
    warnings.filterwarnings("ignore", message=r"Exception\(STSClientError\) with code AccessDenied")
    stack.callback(state.reset)
    return state


# Backend edits: fields AWS sets over time that moto always sets to the time of the call.


def iam_user_backdate(
    account_id: str,
    user_name: str,
    *,
    created_at: dt.datetime | None = None,
    password_last_used_at: dt.datetime | None = None,
) -> None:
    """Set a user's creation time and last console sign-in (moto never records a sign-in)."""
    user = _iam_backend(account_id).get_user(user_name)
    if created_at is not None:
        user.create_date = _naive_utc(created_at)
    if password_last_used_at is not None:
        user.password_last_used = _naive_utc(password_last_used_at)


def iam_access_key_backdate(
    account_id: str,
    user_name: str,
    access_key_id: str,
    *,
    created_at: dt.datetime | None = None,
    last_used_at: dt.datetime | None = None,
    last_used_service: str = "s3",
    last_used_region: str = "us-east-1",
) -> None:
    """Set an access key's creation time and last use (moto only records use by real calls)."""
    from moto.iam.models import AccessKeyLastUsed

    user = _iam_backend(account_id).get_user(user_name)
    key = next((k for k in user.access_keys if k.access_key_id == access_key_id), None)
    if key is None:
        raise LookupError(f"User {user_name} in account {account_id} has no access key {access_key_id}.")
    if created_at is not None:
        key.create_date = _naive_utc(created_at)
    if last_used_at is not None:
        key.last_used = AccessKeyLastUsed(
            timestamp=_naive_utc(last_used_at), service=last_used_service, region=last_used_region
        )


def iam_ssh_key_backdate(
    account_id: str, user_name: str, ssh_public_key_id: str, *, uploaded_at: dt.datetime
) -> None:
    user = _iam_backend(account_id).get_user(user_name)
    key = next((k for k in user.ssh_public_keys if k.ssh_public_key_id == ssh_public_key_id), None)
    if key is None:
        raise LookupError(
            f"User {user_name} in account {account_id} has no SSH public key {ssh_public_key_id}."
        )
    key.upload_date = _naive_utc(uploaded_at)


def ec2_key_pair_backdate(account_id: str, region: str, key_name: str, *, created_at: dt.datetime) -> None:
    from moto.ec2.models import ec2_backends

    ec2_backends[account_id][region].key_pairs[key_name].create_time = _naive_utc(created_at)


def timestamps_clamp(account_id: str, regions: Iterable[str], *, latest: dt.datetime) -> None:
    """Move creation times later than `latest` back to `latest`.

    moto stamps each new resource with the wall-clock time, while the demo dates its scans in the
    past. Without this, a key created while seeding would be "-20 days old" in the first scan.
    Covers what checks judge by age or show as evidence: IAM users, access keys and SSH public
    keys, and EC2 key pairs, volumes and instances.
    """
    from moto.ec2.models import ec2_backends

    latest = _naive_utc(latest)
    for user in _iam_backend(account_id).users.values():
        user.create_date = min(user.create_date, latest)
        for key in user.access_keys:
            key.create_date = min(key.create_date, latest)
        for ssh_key in user.ssh_public_keys:
            ssh_key.upload_date = min(ssh_key.upload_date, latest)
    for region in regions:
        ec2 = ec2_backends[account_id][region]
        for key_pair in ec2.key_pairs.values():
            key_pair.create_time = min(key_pair.create_time, latest)
        for volume in ec2.volumes.values():
            volume.create_time = min(volume.create_time, latest)
        for instance in ec2.all_instances():
            instance.launch_time = min(instance.launch_time, latest)


def root_virtual_mfa_assign(account_id: str, serial_number: str, *, enabled_at: dt.datetime) -> None:
    """Show a virtual MFA device as assigned to root (moto only assigns devices to IAM users)."""
    device = _iam_backend(account_id).virtual_mfa_devices[serial_number]
    device.enable_date = _naive_utc(enabled_at)
    root_created = state.roots[account_id].created_at if account_id in state.roots else enabled_at
    device.user = SimpleNamespace(
        path="/",
        name="root",
        id=account_id,
        arn=f"arn:{PARTITION}:iam::{account_id}:root",
        create_date=_naive_utc(root_created),
        tags=[],
    )
