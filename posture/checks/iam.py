"""IAM checks: the root user, console and API users, access keys, groups, password policy and SSH keys.

Most checks read the credential report (see posture/aws/collectors/iam.py for its typed rows). Its
"never" values (`N/A`, `no_information`, ...) arrive as `None`, and its generation time goes into
the evidence because AWS serves a report up to 4 hours old. IAM results are under region "global";
EC2 key pairs are regional. Only usable credentials are judged: inactive access keys and SSH keys
are skipped by the age checks, and users without a console password need no MFA.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from posture.aws.inventory import GLOBAL_REGION, DataUnavailable, ReadError
from posture.checks.base import Area, CheckContext, EmptyScope, Severity, Threshold, check, tags_evidence

ACCESS_KEY_SLOTS = (1, 2)
# Maximum number of names listed in one evidence field. The count next to the list is always complete.
EVIDENCE_LIST_LIMIT = 20


# Shared helpers.
def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _optional(ctx: CheckContext, key: str) -> tuple[Any, ReadError | None]:
    """Return (value, None), or (None, error) when the read failed, for checks that combine sources."""
    try:
        return ctx.data.global_.get(key), None
    except DataUnavailable as exc:
        return None, exc.error


def _report_evidence(report: dict[str, Any]) -> dict[str, Any]:
    return {"report_generated_time": _iso(report.get("GeneratedTime"))}


def _older_than(ctx: CheckContext, when: dt.datetime, days: int) -> bool:
    return ctx.now - when > dt.timedelta(days=days)


def _age_days(ctx: CheckContext, when: dt.datetime | None) -> int | None:
    return None if when is None else (ctx.now - when).days


def _root_arn(ctx: CheckContext) -> str:
    return f"arn:{ctx.data.partition}:iam::{ctx.account_id}:root"


def _root_has_credentials(root: dict[str, Any]) -> bool:
    """False only when the report shows no password and no active key or signing certificate.

    The root row's `password_enabled` is normally `not_supported` (None here), which means a
    password exists. It reads `false` when AWS Organizations manages root credentials centrally.
    """
    if root.get("password_enabled") is not False:
        return True
    columns = ("access_key_1_active", "access_key_2_active", "cert_1_active", "cert_2_active")
    return any(root.get(column) for column in columns)


def _access_key_id(row: dict[str, Any], slot: int) -> str:
    # The report names keys by position, not by AccessKeyId, so the position identifies the key.
    return f"{row['arn']}#access_key_{slot}"


def _active_access_keys(row: dict[str, Any]) -> list[int]:
    return [slot for slot in ACCESS_KEY_SLOTS if row.get(f"access_key_{slot}_active")]


def _names(values: list[str]) -> list[str]:
    return sorted(values)[:EVIDENCE_LIST_LIMIT]


class _UserTags:
    """Each IAM user's tags by ARN, from the authorization details (the credential report has none).

    Results about a user's access keys and SSH public keys carry the user's tags too: IAM cannot tag
    those, so the user's tags are what a tag-scoped exception rule can name.
    """

    def __init__(self, ctx: CheckContext) -> None:
        users, self.error = _optional(ctx, "iam.users")
        self.by_arn = {user.get("Arn"): user.get("Tags") for user in users or []}

    def evidence(self, user_arn: str) -> dict[str, Any]:
        return tags_evidence(self.error or self.by_arn.get(user_arn))


# Secure authentication.
@check(
    id="root_mfa",
    area=Area.AUTHENTICATION,
    title="Root user has MFA",
    severity=Severity.CRITICAL,
    resource_type="account",
    decides="PASS when the root user has an MFA device; NOT_APPLICABLE when root has no password, "
    "access key or signing certificate at all.",
    rationale="The root user can delete every backup and close the account; a stolen root password "
    "without MFA gives that power away. A hardware device resists phishing and malware better than a "
    "virtual one.",
    console="Sign in as the root user, open the account menu > Security credentials, and under "
    "Multi-factor authentication (MFA) choose Assign MFA device (prefer a hardware or passkey device).",
    cli="Root MFA cannot be assigned from an IAM identity; use the console as root. Verify with: "
    "aws iam get-account-summary --query SummaryMap.AccountMFAEnabled",
    empty=EmptyScope.ACCOUNT,
)
def root_mfa(ctx: CheckContext) -> None:
    resource_id = ctx.region_resource_id(GLOBAL_REGION)
    report, report_error = _optional(ctx, "iam.credential_report")
    summary, summary_error = _optional(ctx, "iam.account_summary")
    root = report["root"] if report else None

    evidence: dict[str, Any] = {}
    if report:
        evidence.update(_report_evidence(report))
    if root:
        evidence.update(
            password_enabled=root.get("password_enabled"),
            mfa_active=root.get("mfa_active"),
            access_key_1_active=root.get("access_key_1_active"),
            access_key_2_active=root.get("access_key_2_active"),
        )
        if not _root_has_credentials(root):
            ctx.not_applicable(
                region=GLOBAL_REGION,
                resource_id=resource_id,
                reason="The root user has no password, access key or signing certificate "
                "(root credentials are managed centrally by AWS Organizations).",
                evidence=evidence,
            )
            return

    summary_mfa = summary.get("AccountMFAEnabled") if summary else None
    evidence["AccountMFAEnabled"] = summary_mfa
    # The summary is live while the report may be hours old, so the summary decides when present.
    if summary_mfa is not None:
        mfa = bool(summary_mfa)
    elif root and root.get("mfa_active") is not None:
        mfa = bool(root["mfa_active"])
    else:
        ctx.unknown(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            error=summary_error
            or report_error
            or "Neither GetAccountSummary nor the credential report says whether the root user has MFA.",
            evidence=evidence,
        )
        return
    if not mfa and root is None and report_error:
        # Without the report, "no MFA" is indistinguishable from "no root credentials at all".
        ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=report_error, evidence=evidence)
        return

    if mfa:
        evidence.update(_root_mfa_type(ctx))
    ctx.judge(
        mfa,
        region=GLOBAL_REGION,
        resource_id=resource_id,
        pass_reason=f"The root user has a {evidence.get('mfa_type', 'registered')} MFA device.",
        fail_reason="The root user has no MFA device.",
        evidence=evidence,
    )


def _root_mfa_type(ctx: CheckContext) -> dict[str, Any]:
    """Say whether root's MFA is virtual: a virtual device whose assigned user is the root ARN."""
    devices, error = _optional(ctx, "iam.virtual_mfa_devices")
    if error:
        return {"mfa_type": "unknown", "virtual_mfa_error": error.as_dict()}
    root_arn = _root_arn(ctx)
    for device in devices:
        if device.get("User", {}).get("Arn") == root_arn:
            return {"mfa_type": "virtual", "virtual_mfa_serial": device.get("SerialNumber")}
    return {"mfa_type": "hardware"}


@check(
    id="iam_user_console_mfa",
    area=Area.AUTHENTICATION,
    title="Console users have MFA",
    severity=Severity.HIGH,
    resource_type="user",
    decides="PASS when an IAM user with a console password has an MFA device; users without a "
    "console password are not judged.",
    rationale="A console password alone falls to phishing or reuse, and a console session can delete "
    "backups and snapshots.",
    console="IAM > Users > choose the user > Security credentials > Multi-factor authentication (MFA) > "
    "Assign MFA device.",
    cli="aws iam create-virtual-mfa-device --virtual-mfa-device-name USER --outfile qr.png "
    "--bootstrap-method QRCodePNG, then aws iam enable-mfa-device --user-name USER --serial-number "
    "arn:aws:iam::ACCOUNT_ID:mfa/USER --authentication-code1 CODE1 --authentication-code2 CODE2",
    empty=EmptyScope.ACCOUNT,
)
def iam_user_console_mfa(ctx: CheckContext) -> None:
    report = ctx.data.global_.get("iam.credential_report")
    user_tags = _UserTags(ctx)
    for row in report["users"]:
        if not row.get("password_enabled"):
            continue
        ctx.judge(
            bool(row.get("mfa_active")),
            region=GLOBAL_REGION,
            resource_id=row["arn"],
            pass_reason=f"Console user {row['user']} has MFA.",
            fail_reason=f"Console user {row['user']} has a password but no MFA device.",
            evidence={
                "user": row["user"],
                "password_enabled": row.get("password_enabled"),
                "mfa_active": row.get("mfa_active"),
                **_report_evidence(report),
                **user_tags.evidence(row["arn"]),
            },
        )


@check(
    id="iam_user_single_access_mode",
    area=Area.AUTHENTICATION,
    title="Users are either console users or API users",
    severity=Severity.MEDIUM,
    resource_type="user",
    decides="FAIL when an IAM user has both a console password and an active access key.",
    rationale="Keeping people (console) and programs (access keys) in separate identities limits what "
    "one leaked credential exposes and makes each credential's use easier to audit.",
    console="IAM > Users > choose the user > Security credentials: either Manage console access > "
    "Disable access, or deactivate and delete the access keys and give the program its own identity.",
    cli="aws iam delete-login-profile --user-name USER, or aws iam update-access-key --user-name USER "
    "--access-key-id KEY_ID --status Inactive",
    empty=EmptyScope.ACCOUNT,
)
def iam_user_single_access_mode(ctx: CheckContext) -> None:
    report = ctx.data.global_.get("iam.credential_report")
    user_tags = _UserTags(ctx)
    for row in report["users"]:
        console = bool(row.get("password_enabled"))
        active_keys = _active_access_keys(row)
        ctx.judge(
            not (console and active_keys),
            region=GLOBAL_REGION,
            resource_id=row["arn"],
            pass_reason=f"User {row['user']} has only one kind of access.",
            fail_reason=f"User {row['user']} has a console password and {len(active_keys)} active "
            "access key(s).",
            evidence={
                "user": row["user"],
                "password_enabled": row.get("password_enabled"),
                "access_key_1_active": row.get("access_key_1_active"),
                "access_key_2_active": row.get("access_key_2_active"),
                **_report_evidence(report),
                **user_tags.evidence(row["arn"]),
            },
        )


@check(
    id="iam_user_no_direct_policies",
    area=Area.AUTHENTICATION,
    title="Users get permissions through groups only",
    severity=Severity.LOW,
    resource_type="user",
    decides="PASS when an IAM user has no inline policy and no attached managed policy.",
    rationale="Permissions granted through groups or roles are reviewed in one place; policies on "
    "single users are easy to miss when access to backups is audited.",
    console="IAM > User groups > create or choose a group with the permissions and add the user, then "
    "IAM > Users > choose the user > Permissions > Remove each directly attached or inline policy.",
    cli="aws iam add-user-to-group --group-name GROUP --user-name USER; aws iam detach-user-policy "
    "--user-name USER --policy-arn POLICY_ARN; aws iam delete-user-policy --user-name USER "
    "--policy-name POLICY_NAME",
    empty=EmptyScope.ACCOUNT,
)
def iam_user_no_direct_policies(ctx: CheckContext) -> None:
    for user in ctx.data.global_.get("iam.users"):
        inline = [p["PolicyName"] for p in user.get("UserPolicyList", [])]
        attached = [p["PolicyArn"] for p in user.get("AttachedManagedPolicies", [])]
        ctx.judge(
            not inline and not attached,
            region=GLOBAL_REGION,
            resource_id=user["Arn"],
            pass_reason=f"User {user['UserName']} has no policy of its own.",
            fail_reason=f"User {user['UserName']} has {len(inline)} inline and {len(attached)} "
            "attached managed policies.",
            evidence={
                "user": user["UserName"],
                "inline_policy_count": len(inline),
                "inline_policies": _names(inline),
                "attached_policy_count": len(attached),
                "attached_policies": _names(attached),
                **tags_evidence(user.get("Tags")),
            },
        )


@check(
    id="iam_access_key_rotation",
    area=Area.AUTHENTICATION,
    title="Access keys are rotated",
    severity=Severity.MEDIUM,
    resource_type="access key",
    decides="PASS when an active access key was created or rotated at most max_age_days ago; "
    "inactive keys are not judged.",
    rationale="A long-lived key has had more chances to leak through code, logs or laptops, and a key "
    "that is never rotated keeps working for whoever holds a copy.",
    console="IAM > Users > choose the user > Security credentials > Create access key, move the "
    "application to the new key, then Deactivate and Delete the old key.",
    cli="aws iam create-access-key --user-name USER; then aws iam update-access-key --user-name USER "
    "--access-key-id OLD_KEY_ID --status Inactive and aws iam delete-access-key --user-name USER "
    "--access-key-id OLD_KEY_ID",
    empty=EmptyScope.ACCOUNT,
    thresholds=[Threshold("max_age_days", 90, "days", "Maximum age of an active access key.")],
)
def iam_access_key_rotation(ctx: CheckContext) -> None:
    max_age = ctx.threshold("max_age_days")
    report = ctx.data.global_.get("iam.credential_report")
    user_tags = _UserTags(ctx)
    for row in report["users"]:
        for slot in _active_access_keys(row):
            rotated = row.get(f"access_key_{slot}_last_rotated")
            evidence = {
                "user": row["user"],
                f"access_key_{slot}_last_rotated": _iso(rotated),
                "age_days": _age_days(ctx, rotated),
                "max_age_days": max_age,
                **_report_evidence(report),
                **user_tags.evidence(row["arn"]),
            }
            resource_id = _access_key_id(row, slot)
            if rotated is None:
                ctx.unknown(
                    region=GLOBAL_REGION,
                    resource_id=resource_id,
                    error=f"The credential report gives no creation date for active access key {slot} "
                    f"of {row['user']}.",
                    evidence=evidence,
                )
                continue
            ctx.judge(
                not _older_than(ctx, rotated, max_age),
                region=GLOBAL_REGION,
                resource_id=resource_id,
                pass_reason=f"Access key {slot} of {row['user']} is {evidence['age_days']} days old.",
                fail_reason=f"Access key {slot} of {row['user']} is {evidence['age_days']} days old, "
                f"more than {max_age}.",
                evidence=evidence,
            )


@check(
    id="iam_password_policy",
    area=Area.AUTHENTICATION,
    title="Strong IAM password policy",
    severity=Severity.MEDIUM,
    resource_type="account",
    decides="PASS when the account password policy requires at least min_length characters, upper "
    "and lower case letters, numbers and symbols, prevents reuse of the last min_reuse_prevention "
    "passwords, and expires passwords after at least min_max_age_days days; no policy is FAIL.",
    rationale="Without a policy, IAM users may choose short or reused passwords. Forcing changes more "
    "often than every few months pushes people to weaker, predictable passwords.",
    console="IAM > Account settings > Password policy > Edit > Custom, and set the length, character "
    "types, expiration and reuse prevention.",
    cli="aws iam update-account-password-policy --minimum-password-length 14 "
    "--require-uppercase-characters --require-lowercase-characters --require-numbers --require-symbols "
    "--password-reuse-prevention 24 --max-password-age 90",
    empty=EmptyScope.ACCOUNT,
    thresholds=[
        Threshold("min_length", 14, "characters", "Minimum password length the policy must require."),
        Threshold("min_reuse_prevention", 24, "passwords", "Previous passwords that may not be reused."),
        Threshold("min_max_age_days", 90, "days", "Lowest acceptable MaxPasswordAge."),
    ],
)
def iam_password_policy(ctx: CheckContext) -> None:
    min_length = ctx.threshold("min_length")
    min_reuse = ctx.threshold("min_reuse_prevention")
    min_max_age = ctx.threshold("min_max_age_days")
    thresholds = {
        "min_length": min_length,
        "min_reuse_prevention": min_reuse,
        "min_max_age_days": min_max_age,
    }
    resource_id = ctx.region_resource_id(GLOBAL_REGION)

    policy = ctx.data.global_.get("iam.password_policy")
    if policy is None:
        ctx.failed(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            reason="The account has no IAM password policy.",
            evidence={"password_policy": None, "failed_requirements": ["no password policy"], **thresholds},
        )
        return

    failed = _password_policy_failures(
        policy, min_length=min_length, min_reuse=min_reuse, min_max_age=min_max_age
    )
    fields = (
        "MinimumPasswordLength",
        "RequireUppercaseCharacters",
        "RequireLowercaseCharacters",
        "RequireNumbers",
        "RequireSymbols",
        "PasswordReusePrevention",
        "ExpirePasswords",
        "MaxPasswordAge",
    )
    ctx.judge(
        not failed,
        region=GLOBAL_REGION,
        resource_id=resource_id,
        pass_reason="The password policy meets every requirement.",  # noqa: S106 - a PASS reason, not a password
        fail_reason=f"The password policy misses {len(failed)} requirement(s): {'; '.join(failed)}.",
        evidence={
            "password_policy": {name: policy.get(name) for name in fields},
            "failed_requirements": failed,
            **thresholds,
        },
    )


def _password_policy_failures(
    policy: dict[str, Any], *, min_length: int, min_reuse: int, min_max_age: int
) -> list[str]:
    failed = []
    if (policy.get("MinimumPasswordLength") or 0) < min_length:
        failed.append(f"minimum length below {min_length}")
    for field, label in (
        ("RequireUppercaseCharacters", "upper case letters"),
        ("RequireLowercaseCharacters", "lower case letters"),
        ("RequireNumbers", "numbers"),
        ("RequireSymbols", "symbols"),
    ):
        if not policy.get(field):
            failed.append(f"{label} not required")
    if (policy.get("PasswordReusePrevention") or 0) < min_reuse:
        failed.append(f"reuse prevention below {min_reuse}")
    if not policy.get("ExpirePasswords") or not policy.get("MaxPasswordAge"):
        failed.append("passwords never expire")
    elif policy["MaxPasswordAge"] < min_max_age:
        failed.append(f"maximum age below {min_max_age} days")
    return failed


# Secure configuration.
@check(
    id="root_account_usage",
    area=Area.CONFIGURATION,
    title="Root user not used recently",
    severity=Severity.HIGH,
    resource_type="account",
    decides="PASS when neither the root password nor a root access key was used in the last "
    "unused_days days.",
    rationale="Everyday work as root bypasses every IAM guard rail, including those protecting "
    "backups; regular root use also means the root password is typed often and can leak.",
    console="Do daily work through IAM Identity Center or IAM roles. Review root activity in "
    "CloudTrail > Event history with the filter User name = root, and delete root access keys under "
    "the account menu > Security credentials.",
    cli="aws iam generate-credential-report; aws iam get-credential-report --query Content --output "
    "text | base64 -d | grep '<root_account>'",
    empty=EmptyScope.ACCOUNT,
    thresholds=[Threshold("unused_days", 90, "days", "Days in which root must not have been used.")],
)
def root_account_usage(ctx: CheckContext) -> None:
    unused_days = ctx.threshold("unused_days")
    resource_id = ctx.region_resource_id(GLOBAL_REGION)
    report = ctx.data.global_.get("iam.credential_report")
    root = report["root"]
    evidence: dict[str, Any] = {"unused_days": unused_days, **_report_evidence(report)}
    if root is None:
        ctx.unknown(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            error="The credential report has no <root_account> row.",
            evidence=evidence,
        )
        return

    columns = ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")
    evidence.update({column: _iso(root.get(column)) for column in columns})
    recent = [c for c in columns if root.get(c) and not _older_than(ctx, root[c], unused_days)]
    evidence["used_recently"] = recent
    ctx.judge(
        not recent,
        region=GLOBAL_REGION,
        resource_id=resource_id,
        pass_reason=f"The root user was not used in the last {unused_days} days.",
        fail_reason=f"The root user was used in the last {unused_days} days ({', '.join(recent)}).",
        evidence=evidence,
    )


@check(
    id="root_access_keys",
    area=Area.CONFIGURATION,
    title="Root user has no access keys",
    severity=Severity.CRITICAL,
    resource_type="account",
    decides="PASS when the root user has no active access key (GetAccountSummary "
    "AccountAccessKeysPresent and the credential report).",
    rationale="A root access key gives unrestricted, MFA-free API access to the whole account, "
    "including deleting every backup; it cannot be limited by IAM policies.",
    console="Sign in as the root user, open the account menu > Security credentials > Access keys, "
    "and Deactivate then Delete each key.",
    cli="With centralized root access in AWS Organizations: aws sts assume-root --target-principal "
    "ACCOUNT_ID --task-policy-arn arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials, "
    "then aws iam delete-access-key --access-key-id KEY_ID with those credentials. Verify with: "
    "aws iam get-account-summary --query SummaryMap.AccountAccessKeysPresent",
    empty=EmptyScope.ACCOUNT,
)
def root_access_keys(ctx: CheckContext) -> None:
    resource_id = ctx.region_resource_id(GLOBAL_REGION)
    report, report_error = _optional(ctx, "iam.credential_report")
    summary, summary_error = _optional(ctx, "iam.account_summary")
    root = report["root"] if report else None
    summary_keys = summary.get("AccountAccessKeysPresent") if summary else None

    evidence: dict[str, Any] = {"AccountAccessKeysPresent": summary_keys}
    if report:
        evidence.update(_report_evidence(report))
    if root:
        for slot in ACCESS_KEY_SLOTS:
            evidence[f"access_key_{slot}_active"] = root.get(f"access_key_{slot}_active")
            evidence[f"access_key_{slot}_last_rotated"] = _iso(root.get(f"access_key_{slot}_last_rotated"))

    if root is None and summary_keys is None:
        ctx.unknown(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            error=summary_error
            or report_error
            or "Neither GetAccountSummary nor the credential "
            "report says whether the root user has access keys.",
            evidence=evidence,
        )
        return

    active = _active_access_keys(root) if root else []
    # A key the report does not show at all is newer than the report, so it counts as active.
    listed = bool(root) and any(root.get(f"access_key_{slot}_last_rotated") for slot in ACCESS_KEY_SLOTS)
    unlisted = bool(summary_keys) and not listed
    ctx.judge(
        not active and not unlisted,
        region=GLOBAL_REGION,
        resource_id=resource_id,
        pass_reason="The root user has no active access key.",  # noqa: S106 - a PASS reason, not a password
        fail_reason="The root user has an active access key."
        if active
        else "GetAccountSummary reports a root access key.",
        evidence=evidence,
    )


@check(
    id="ssh_key_rotation",
    area=Area.CONFIGURATION,
    title="SSH keys are rotated",
    severity=Severity.MEDIUM,
    resource_type="SSH key",
    decides="PASS when an active IAM SSH public key was uploaded, or an EC2 key pair created, at most "
    "max_age_days ago; inactive IAM SSH keys are not judged.",
    rationale="Old SSH keys tend to be copied to many machines and people; replacing them regularly "
    "limits how long a leaked private key stays useful.",
    console="IAM > Users > choose the user > Security credentials > SSH public keys for AWS CodeCommit: "
    "upload a new key, then delete the old one. EC2 > Network & Security > Key Pairs: create a new key "
    "pair, install its public key on the instances, then delete the old pair.",
    cli="aws iam upload-ssh-public-key --user-name USER --ssh-public-key-body file://new.pub; aws iam "
    "delete-ssh-public-key --user-name USER --ssh-public-key-id KEY_ID; aws ec2 create-key-pair "
    "--key-name NEW_NAME --query KeyMaterial --output text > new.pem; aws ec2 delete-key-pair "
    "--key-name OLD_NAME",
    empty=EmptyScope.REGION,
    thresholds=[Threshold("max_age_days", 90, "days", "Maximum age of an SSH key.")],
)
def ssh_key_rotation(ctx: CheckContext) -> None:
    max_age = ctx.threshold("max_age_days")

    def judge_age(
        *,
        region: str,
        resource_id: str,
        resource_type: str,
        label: str,
        created: dt.datetime | None,
        evidence: dict[str, Any],
    ) -> None:
        if created is None:
            ctx.unknown(
                region=region,
                resource_id=resource_id,
                resource_type=resource_type,
                error=f"{label} has no creation date.",
                evidence=evidence,
            )
            return
        age = _age_days(ctx, created)
        ctx.judge(
            not _older_than(ctx, created, max_age),
            region=region,
            resource_id=resource_id,
            resource_type=resource_type,
            pass_reason=f"{label} is {age} days old.",
            fail_reason=f"{label} is {age} days old, more than {max_age}.",
            evidence={**evidence, "age_days": age, "max_age_days": max_age},
        )

    for user, key in _iam_ssh_keys(ctx):
        if key.get("Status") != "Active":
            continue
        judge_age(
            region=GLOBAL_REGION,
            resource_id=_ssh_key_id(user, key),
            resource_type="IAM SSH public key",
            label=f"SSH public key {key['SSHPublicKeyId']} of {user['UserName']}",
            created=key.get("UploadDate"),
            evidence=_ssh_key_evidence(user, key),
        )

    for region, inventory in ctx.regions("ec2.key_pairs"):
        for pair in inventory.get("ec2.key_pairs"):
            judge_age(
                region=region,
                resource_id=_key_pair_arn(ctx, region, pair),
                resource_type="EC2 key pair",
                label=f"Key pair {pair['KeyName']}",
                created=pair.get("CreateTime"),
                evidence=_key_pair_evidence(pair),
            )


def _iam_ssh_keys(ctx: CheckContext):
    """Yield (user, SSH public key) pairs; a failed listing becomes one UNKNOWN result."""
    users, error = _optional(ctx, "iam.users")
    if error:
        ctx.unknown(
            region=GLOBAL_REGION,
            resource_id=ctx.region_resource_id(GLOBAL_REGION),
            error=error,
            resource_type="account",
        )
        return
    for user in users:
        keys = user.get("SSHPublicKeys", [])
        if isinstance(keys, ReadError):
            ctx.unknown(
                region=GLOBAL_REGION,
                resource_id=f"{user['Arn']}#ssh_public_keys",
                error=keys,
                resource_type="IAM SSH public key",
                evidence={"user": user["UserName"], **tags_evidence(user.get("Tags"))},
            )
            continue
        for key in keys:
            yield user, key


def _ssh_key_id(user: dict[str, Any], key: dict[str, Any]) -> str:
    return f"{user['Arn']}#ssh_public_key/{key['SSHPublicKeyId']}"


def _ssh_key_evidence(user: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user["UserName"],
        "SSHPublicKeyId": key["SSHPublicKeyId"],
        "Status": key.get("Status"),
        "UploadDate": _iso(key.get("UploadDate")),
        **tags_evidence(user.get("Tags")),
    }


def _key_pair_arn(ctx: CheckContext, region: str, pair: dict[str, Any]) -> str:
    return f"arn:{ctx.data.partition}:ec2:{region}:{ctx.account_id}:key-pair/{pair['KeyName']}"


def _key_pair_evidence(pair: dict[str, Any]) -> dict[str, Any]:
    return {
        "KeyName": pair["KeyName"],
        "KeyPairId": pair.get("KeyPairId"),
        "CreateTime": _iso(pair.get("CreateTime")),
        **tags_evidence(pair.get("Tags")),
    }


# Inactive entities.
@check(
    id="iam_group_unused",
    area=Area.INACTIVE,
    title="IAM groups have members",
    severity=Severity.LOW,
    resource_type="group",
    decides="PASS when the IAM group has at least one user.",
    rationale="Empty groups keep permissions around that nobody reviews; adding a user to one later "
    "grants access that may have been forgotten.",
    console="IAM > User groups > choose the group > Delete (or add the users it was meant for).",
    cli="aws iam detach-group-policy --group-name GROUP --policy-arn POLICY_ARN; aws iam "
    "delete-group-policy --group-name GROUP --policy-name POLICY_NAME; aws iam delete-group "
    "--group-name GROUP",
    empty=EmptyScope.ACCOUNT,
)
def iam_group_unused(ctx: CheckContext) -> None:
    users = ctx.data.global_.get("iam.users")
    groups = ctx.data.global_.get("iam.groups")
    # Users list their groups by name; group names are unique within an account.
    members: dict[str, list[str]] = {}
    for user in users:
        for group_name in user.get("GroupList", []):
            members.setdefault(group_name, []).append(user["UserName"])
    for group in groups:
        names = members.get(group["GroupName"], [])
        ctx.judge(
            bool(names),
            region=GLOBAL_REGION,
            resource_id=group["Arn"],
            pass_reason=f"Group {group['GroupName']} has {len(names)} user(s).",
            fail_reason=f"Group {group['GroupName']} has no users.",
            evidence={"group": group["GroupName"], "user_count": len(names), "users": _names(names)},
        )


@check(
    id="iam_access_key_unused",
    area=Area.INACTIVE,
    title="Access keys are in use",
    severity=Severity.MEDIUM,
    resource_type="access key",
    decides="PASS when an active access key was used in the last max_unused_days days or was created "
    "less than max_unused_days days ago; inactive keys are not judged.",
    rationale="An active key nobody uses is a credential that can only be used by someone it leaked "
    "to; deactivating it removes that risk without affecting any workload.",
    console="IAM > Users > choose the user > Security credentials > Access keys > Actions > Deactivate, "
    "then Delete once nothing breaks.",
    cli="aws iam update-access-key --user-name USER --access-key-id KEY_ID --status Inactive; aws iam "
    "delete-access-key --user-name USER --access-key-id KEY_ID",
    empty=EmptyScope.ACCOUNT,
    thresholds=[
        Threshold("max_unused_days", 30, "days", "Days an active access key may go unused (or be new).")
    ],
)
def iam_access_key_unused(ctx: CheckContext) -> None:
    max_unused = ctx.threshold("max_unused_days")
    report = ctx.data.global_.get("iam.credential_report")
    user_tags = _UserTags(ctx)
    for row in report["users"]:
        for slot in _active_access_keys(row):
            last_used = row.get(f"access_key_{slot}_last_used_date")
            created = row.get(f"access_key_{slot}_last_rotated")
            evidence = {
                "user": row["user"],
                f"access_key_{slot}_last_used_date": _iso(last_used),
                f"access_key_{slot}_last_rotated": _iso(created),
                "max_unused_days": max_unused,
                **_report_evidence(report),
                **user_tags.evidence(row["arn"]),
            }
            if last_used is None and created is None:
                ctx.unknown(
                    region=GLOBAL_REGION,
                    resource_id=_access_key_id(row, slot),
                    error=f"The credential report gives neither a creation nor a last-used date for "
                    f"active access key {slot} of {row['user']}.",
                    evidence=evidence,
                )
                continue
            used_recently = last_used is not None and not _older_than(ctx, last_used, max_unused)
            new = created is not None and not _older_than(ctx, created, max_unused)
            if last_used is None:
                detail = "was never used"
            else:
                detail = f"was last used {_age_days(ctx, last_used)} days ago"
            ctx.judge(
                used_recently or new,
                region=GLOBAL_REGION,
                resource_id=_access_key_id(row, slot),
                pass_reason=f"Access key {slot} of {row['user']} "
                + ("was used recently." if used_recently else "is new."),
                fail_reason=f"Access key {slot} of {row['user']} {detail} and is older than "
                f"{max_unused} days.",
                evidence=evidence,
            )


@check(
    id="iam_user_inactive",
    area=Area.INACTIVE,
    title="Console users sign in",
    severity=Severity.MEDIUM,
    resource_type="user",
    decides="PASS when an IAM user with a console password signed in within max_inactive_days days or "
    "was created less than max_inactive_days days ago; users without a console password are not judged.",
    rationale="A password nobody uses belongs to someone who left or no longer needs access, and its "
    "misuse would go unnoticed.",
    console="IAM > Users > choose the user > Security credentials > Console sign-in > Manage console "
    "access > Disable access, or delete the user.",
    cli="aws iam delete-login-profile --user-name USER",
    empty=EmptyScope.ACCOUNT,
    thresholds=[Threshold("max_inactive_days", 90, "days", "Days a console user may go without signing in.")],
)
def iam_user_inactive(ctx: CheckContext) -> None:
    max_inactive = ctx.threshold("max_inactive_days")
    report = ctx.data.global_.get("iam.credential_report")
    user_tags = _UserTags(ctx)
    for row in report["users"]:
        if not row.get("password_enabled"):
            continue
        last_used = row.get("password_last_used")
        created = row.get("user_creation_time")
        active = last_used is not None and not _older_than(ctx, last_used, max_inactive)
        new = created is not None and not _older_than(ctx, created, max_inactive)
        if last_used is None:
            detail = "never signed in"
        else:
            detail = f"last signed in {_age_days(ctx, last_used)} days ago"
        ctx.judge(
            active or new,
            region=GLOBAL_REGION,
            resource_id=row["arn"],
            pass_reason=f"User {row['user']} " + ("signed in recently." if active else "is new."),
            fail_reason=f"User {row['user']} {detail} and is older than {max_inactive} days.",
            evidence={
                "user": row["user"],
                "password_last_used": _iso(last_used),
                "user_creation_time": _iso(created),
                "max_inactive_days": max_inactive,
                **_report_evidence(report),
                **user_tags.evidence(row["arn"]),
            },
        )


@check(
    id="ssh_key_unused",
    area=Area.INACTIVE,
    title="SSH keys are in use",
    severity=Severity.LOW,
    resource_type="SSH key",
    decides="PASS when an EC2 key pair is referenced by at least one instance that is not terminated, "
    "and when an IAM SSH public key is active.",
    rationale="AWS records no last use for SSH keys, so a key pair no instance references and an IAM "
    "key left inactive are the signs that a key is no longer needed and can be deleted.",
    console="EC2 > Network & Security > Key Pairs > choose the key pair > Actions > Delete. IAM > Users "
    "> choose the user > Security credentials > SSH public keys for AWS CodeCommit > Delete.",
    cli="aws ec2 delete-key-pair --key-name NAME; aws iam delete-ssh-public-key --user-name USER "
    "--ssh-public-key-id KEY_ID",
    empty=EmptyScope.REGION,
)
def ssh_key_unused(ctx: CheckContext) -> None:
    for user, key in _iam_ssh_keys(ctx):
        label = f"SSH public key {key['SSHPublicKeyId']} of {user['UserName']}"
        ctx.judge(
            key.get("Status") == "Active",
            region=GLOBAL_REGION,
            resource_id=_ssh_key_id(user, key),
            resource_type="IAM SSH public key",
            pass_reason=f"{label} is active.",
            fail_reason=f"{label} is inactive.",
            evidence=_ssh_key_evidence(user, key),
        )

    for region, inventory in ctx.regions("ec2.key_pairs", "ec2.key_pair_instances"):
        instances = inventory.get("ec2.key_pair_instances")
        for pair in inventory.get("ec2.key_pairs"):
            users = instances.get(pair["KeyName"], [])
            ctx.judge(
                bool(users),
                region=region,
                resource_id=_key_pair_arn(ctx, region, pair),
                resource_type="EC2 key pair",
                pass_reason=f"Key pair {pair['KeyName']} is used by {len(users)} instance(s).",
                fail_reason=f"Key pair {pair['KeyName']} is used by no instance.",
                evidence={
                    **_key_pair_evidence(pair),
                    "instance_count": len(users),
                    "instances": _names(users),
                },
            )
