"""IAM collector: users, groups, the credential report and the root user's credentials, once per account.

Keys written to the global inventory (each is a `ReadError` instead when its read failed):

- `iam.credential_report`: `{"GeneratedTime": datetime, "root": row | None, "users": [row, ...]}`.
  A row is one line of the report as a dict keyed by the report's column names. Boolean columns
  hold `bool`, date columns hold an aware `datetime`, and the values `N/A`, `not_supported`,
  `no_information` and the empty string become `None` ("never" or "not applicable"). The
  `<root_account>` row is kept under `root`, apart from the users. AWS serves a cached report up to
  4 hours old, so `GeneratedTime` belongs in the evidence of every result decided on the report.
- `iam.account_summary`: the `SummaryMap` of GetAccountSummary (`AccountMFAEnabled`,
  `AccountAccessKeysPresent`, ...).
- `iam.password_policy`: the `PasswordPolicy` of GetAccountPasswordPolicy, or `None` when the
  account has no password policy (`NoSuchEntity`).
- `iam.users`: `UserDetailList` items of GetAccountAuthorizationDetails (`UserName`, `Arn`,
  `CreateDate`, `GroupList`, `UserPolicyList`, `AttachedManagedPolicies`, `Tags`), each with an added
  `SSHPublicKeys` key: the `SSHPublicKeys` items of ListSSHPublicKeys for that user (`SSHPublicKeyId`,
  `Status`, `UploadDate`), or a `ReadError` when that user's listing failed.
- `iam.groups`: `GroupDetailList` items of GetAccountAuthorizationDetails (`GroupName`, `Arn`, ...).
- `iam.virtual_mfa_devices`: assigned virtual MFA devices as `{"SerialNumber", "User", "EnableDate"}`.
  The seed and QR code fields are dropped: they are MFA secrets.

The authorization details carry each user's tags, so no per-user ListUserTags call is needed; IAM
groups have no tags. Access keys come from the credential report (`access_key_N_active`,
`access_key_N_last_rotated`, `access_key_N_last_used_date`), so no per-user ListAccessKeys call is
needed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from posture.aws.collectors import collector
from posture.aws.collectors.base import error_code, paginate, read_error, safe_put, try_read
from posture.aws.inventory import Inventory, ReadError
from posture.aws.session import ClientFactory

logger = logging.getLogger(__name__)

ROOT_ROW_USER = "<root_account>"
SSH_KEY_LIST_THREADS = 8

# IAM is a global service with one endpoint per partition; the client needs one of its regions.
_IAM_REGIONS = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}

# Report values that mean "never" or "not applicable" in any column.
_ABSENT_VALUES = frozenset({"N/A", "not_supported", "no_information", ""})

_BOOLEAN_COLUMNS = frozenset(
    {
        "password_enabled",
        "mfa_active",
        "access_key_1_active",
        "access_key_2_active",
        "cert_1_active",
        "cert_2_active",
    }
)
_DATE_COLUMNS = frozenset(
    {
        "user_creation_time",
        "password_last_used",
        "password_last_changed",
        "password_next_rotation",
        "access_key_1_last_rotated",
        "access_key_1_last_used_date",
        "access_key_2_last_rotated",
        "access_key_2_last_used_date",
        "cert_1_last_rotated",
        "cert_2_last_rotated",
    }
)

# GetCredentialReport errors that mean "not ready yet, keep polling".
_REPORT_NOT_READY = ("ReportInProgress", "ReportNotPresent", "ReportExpired")


class CredentialReportError(Exception):
    """The credential report was not ready in time or could not be parsed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@collector(name="iam", phase="global")
def collect_iam(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    iam = clients.client("iam", _IAM_REGIONS.get(settings.AWS_PARTITION, "us-east-1"))

    _put_credential_report(iam, inventory)
    safe_put(
        inventory,
        "iam.account_summary",
        "iam:GetAccountSummary",
        lambda: iam.get_account_summary()["SummaryMap"],
    )
    _put_password_policy(iam, inventory)
    if _put_authorization_details(iam, inventory):
        _put_ssh_public_keys(iam, inventory.get("iam.users"))
    safe_put(
        inventory,
        "iam.virtual_mfa_devices",
        "iam:ListVirtualMFADevices",
        lambda: [
            _without_secrets(device)
            for device in paginate(
                iam, "list_virtual_mfa_devices", "VirtualMFADevices", AssignmentStatus="Assigned"
            )
        ],
    )
    logger.info("Collected IAM for account %s", account_id)


def _put_ssh_public_keys(iam, users: list[dict[str, Any]]) -> None:
    """Add each user's SSH public keys; IAM has no account-wide listing, so this is one call per user.

    The calls run on a few threads because they dominate the request count of a large account.
    botocore clients are thread-safe, and adaptive retries slow down on throttling.
    """

    def list_keys(user: dict[str, Any]) -> None:
        user["SSHPublicKeys"] = try_read(
            "iam:ListSSHPublicKeys",
            # UserName is required: without it IAM lists the caller's own keys.
            lambda: paginate(iam, "list_ssh_public_keys", "SSHPublicKeys", UserName=user["UserName"]),
        )

    with ThreadPoolExecutor(max_workers=SSH_KEY_LIST_THREADS, thread_name_prefix="iam-ssh") as pool:
        list(pool.map(list_keys, users))


# Credential report.
def _put_credential_report(iam, inventory: Inventory) -> None:
    key = "iam.credential_report"
    try:
        response = fetch_credential_report(iam, wait_seconds=settings.AWS_CREDENTIAL_REPORT_WAIT)
        report = parse_credential_report(response["Content"], response.get("GeneratedTime"))
    except CredentialReportError as exc:
        error = ReadError(operation="iam:GetCredentialReport", code=exc.code, message=str(exc))
        logger.warning("Credential report unavailable: %s", error.code)
        inventory.fail(key, error)
        return
    except Exception as exc:  # noqa: BLE001 - any failure becomes UNKNOWN for the checks that need it
        error = read_error("iam:GetCredentialReport", exc)
        logger.warning("iam:GetCredentialReport failed: %s", error.code)
        inventory.fail(key, error)
        return
    inventory.put(key, report)
    inventory.listed[key] = len(report["users"])


def _poll_delays() -> Iterator[float]:
    # The first re-poll is immediate. On AWS that costs one extra request, and it spares the tests
    # a wait because moto completes on the second call. After that, back off up to 8 s per wait.
    yield 0.0
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 2, 8.0)


def fetch_credential_report(
    iam,
    *,
    wait_seconds: float,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Generate the credential report, poll until it is complete, and return GetCredentialReport's response.

    Raises CredentialReportError when the report is not ready within `wait_seconds`. Any AWS error
    other than "not ready yet" propagates as a ClientError. `sleep` and `clock` default to
    time.sleep and time.monotonic.
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + wait_seconds
    delays = _poll_delays()
    while True:
        state = iam.generate_credential_report().get("State")
        if state == "COMPLETE":
            try:
                return iam.get_credential_report()
            except ClientError as exc:
                if error_code(exc) not in _REPORT_NOT_READY:
                    raise
        remaining = deadline - clock()
        if remaining <= 0:
            raise CredentialReportError(
                "CredentialReportTimeout",
                f"The credential report was not ready after {wait_seconds} s (last state {state!r}). "
                "Scan again later or raise AWS_CREDENTIAL_REPORT_WAIT.",
            )
        sleep(min(next(delays), remaining))


def parse_credential_report(content: bytes | str, generated_time: dt.datetime | None) -> dict[str, Any]:
    """Parse the report CSV into typed rows, with the `<root_account>` row kept apart from the users."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    root: dict[str, Any] | None = None
    users: list[dict[str, Any]] = []
    for line_number, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row = {column: _parse_value(column, value, line_number) for column, value in raw.items()}
        if raw.get("user") == ROOT_ROW_USER:
            root = row
        else:
            users.append(row)
    return {"GeneratedTime": generated_time, "root": root, "users": users}


def _parse_value(column: str | None, value: str | None, line_number: int) -> Any:
    if column is None or value is None:
        raise CredentialReportError(
            "MalformedCredentialReport",
            f"Line {line_number} of the credential report has a different number of fields than its header.",
        )
    if value in _ABSENT_VALUES:
        return None
    if column in _BOOLEAN_COLUMNS:
        if value not in ("true", "false"):
            raise CredentialReportError(
                "MalformedCredentialReport",
                f"Column {column} on line {line_number} is {value!r}, expected true or false.",
            )
        return value == "true"
    if column in _DATE_COLUMNS:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CredentialReportError(
                "MalformedCredentialReport",
                f"Column {column} on line {line_number} is {value!r}, expected an ISO 8601 date.",
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


# Account settings, users and groups.
def _put_password_policy(iam, inventory: Inventory) -> None:
    policy = try_read(
        "iam:GetAccountPasswordPolicy",
        lambda: iam.get_account_password_policy()["PasswordPolicy"],
        absent=("NoSuchEntity",),
    )
    if isinstance(policy, ReadError):
        logger.warning("iam:GetAccountPasswordPolicy failed: %s", policy.code)
        inventory.fail("iam.password_policy", policy)
    else:
        inventory.put("iam.password_policy", policy)


def _put_authorization_details(iam, inventory: Inventory) -> bool:
    """Store users and groups from one paginated GetAccountAuthorizationDetails; return whether it worked."""
    users: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    try:
        pages = iam.get_paginator("get_account_authorization_details").paginate(Filter=["User", "Group"])
        for page in pages:
            users.extend(page.get("UserDetailList", []))
            groups.extend(page.get("GroupDetailList", []))
    except Exception as exc:  # noqa: BLE001 - any failure becomes UNKNOWN for the checks that need it
        error = read_error("iam:GetAccountAuthorizationDetails", exc)
        logger.warning("iam:GetAccountAuthorizationDetails failed: %s", error.code)
        inventory.fail("iam.users", error)
        inventory.fail("iam.groups", error)
        return False
    inventory.put("iam.users", users)
    inventory.put("iam.groups", groups)
    return True


def _without_secrets(device: dict[str, Any]) -> dict[str, Any]:
    return {key: device[key] for key in ("SerialNumber", "User", "EnableDate") if key in device}
