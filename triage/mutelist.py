"""Import a Prowler mutelist (YAML) as proposed exception rules.

The format, as Prowler's own schema (prowler/lib/mutelist/models.py) defines it:

    Mutelist:
      Accounts:
        "<12-digit account id>" | "*":
          Checks:
            "<Prowler check id or regular expression>" | "*":
              Regions: ["us-east-1", ...] or ["*"]
              Resources: ["<regular expression>", ...] or ["*"]
              Tags: ["key=value", "key=a|key=b", ...]      # optional; items ANDed, | within one ORed
              Exceptions: {Accounts, Regions, Resources, Tags}  # optional
              Description: "..."                            # optional

Each entry becomes one rule per (check here, region, resource, tag combination), proposed as an
accepted risk with the reason and expiry given to the import, so an admin still approves each
rule. What cannot be expressed as rules here is listed and skipped, never widened:

- a Prowler check with no equivalent here (`PROWLER_CHECKS`) is listed as unmatched;
- an entry with `Exceptions` is skipped: a rule here cannot exclude accounts, regions or resources,
  so importing it would hide more than the mutelist does;
- a resource regular expression beyond literal text, `.`, `.*`, `.+`, escaped characters and the
  anchors ^ and $ is skipped, and so is a tag item beyond literal key=value alternatives.

Matching differs from Prowler in two documented ways. Resources here are ARNs where Prowler often
uses names, so an unanchored expression becomes a glob that matches it anywhere in the ARN and ^
means the start of a name segment. Tags here must equal the value, where Prowler searches for the
text. Prowler reports IAM and other account-wide resources in the region of its API client. Here
they are under "global", so `Regions` is ignored for those checks (`GLOBAL_CHECKS`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from accounts.roles import can_triage
from accounts.validators import ACCOUNT_ID_RE, known_regions
from posture.aws.inventory import GLOBAL_REGION
from triage.models import FindingException
from triage.services import exception_validate
from triage.validators import PARTITIONS, validate_expiry, validate_reason

# Prowler check ids (Prowler 5, prowler/providers/aws/services/) that judge what a check here
# judges. Prowler checks that cover only part of a check here (the six iam_password_policy_* checks,
# hardware MFA) are left out: muting one of them must not mute the whole check here.
PROWLER_CHECKS: dict[str, tuple[str, ...]] = {
    # Prowler judges each region: is a logging trail recording it.
    "cloudtrail_multi_region_enabled": ("cloudtrail_enabled",),
    "cloudtrail_multi_region_enabled_logging_management_events": ("cloudtrail_multi_region",),
    "cloudtrail_log_file_validation_enabled": ("cloudtrail_log_file_validation",),
    "cloudtrail_cloudwatch_logging_enabled": ("cloudtrail_cloudwatch_logs",),
    "cloudtrail_kms_encryption_enabled": ("cloudtrail_kms_encryption",),
    "cloudtrail_logs_s3_bucket_access_logging_enabled": ("cloudtrail_bucket_access_logging",),
    "cloudtrail_bucket_requires_mfa_delete": ("cloudtrail_bucket_mfa_delete",),
    "cloudtrail_logs_s3_bucket_is_not_publicly_accessible": ("cloudtrail_bucket_not_public",),
    "ec2_ebs_volume_encryption": ("ebs_volume_encrypted",),
    "ec2_ebs_default_encryption": ("ebs_default_encryption",),
    "ec2_ami_public": ("ami_not_public",),
    "ec2_securitygroup_default_restrict_traffic": ("sg_default_restricts_all",),
    # "wide-open IP address with a mask between 0 and 24", the default prefix of the check here.
    "ec2_securitygroup_allow_wide_open_public_ipv4": ("sg_wide_source_range",),
    "elb_logging_enabled": ("elb_access_logging",),
    "elbv2_logging_enabled": ("elb_access_logging",),
    "elb_insecure_ssl_ciphers": ("elb_tls_policy",),
    "elbv2_insecure_ssl_ciphers": ("elb_tls_policy",),
    "iam_root_mfa_enabled": ("root_mfa",),
    "iam_avoid_root_usage": ("root_account_usage",),
    "iam_no_root_access_key": ("root_access_keys",),
    "iam_user_mfa_enabled_console_access": ("iam_user_console_mfa",),
    "iam_policy_attached_only_to_group_or_roles": ("iam_user_no_direct_policies",),
    "iam_rotate_access_key_90_days": ("iam_access_key_rotation",),
    "iam_user_accesskey_unused": ("iam_access_key_unused",),
    "iam_user_console_access_unused": ("iam_user_inactive",),
    "rds_instance_storage_encrypted": ("rds_storage_encrypted",),
    "rds_cluster_storage_encrypted": ("rds_storage_encrypted",),
    "rds_instance_no_public_access": ("rds_not_public",),
    "redshift_cluster_audit_logging": ("redshift_audit_logging",),
    "vpc_flow_logs_enabled": ("vpc_flow_logs",),
}
# Checks here whose results are recorded under the "global" region.
GLOBAL_CHECKS = frozenset(
    {
        "cloudtrail_multi_region",
        "cloudtrail_bucket_access_logging",
        "cloudtrail_bucket_mfa_delete",
        "cloudtrail_bucket_not_public",
        "root_mfa",
        "root_account_usage",
        "root_access_keys",
        "iam_user_console_mfa",
        "iam_user_no_direct_policies",
        "iam_access_key_rotation",
        "iam_access_key_unused",
        "iam_user_inactive",
    }
)
# An import that would propose more rules than this is almost certainly a mistake.
MAX_RULES = 2000
MAX_TAG_COMBINATIONS = 16
MAX_FILE_BYTES = 1_000_000
_WILDCARDS = {"*", ".*"}
_REGEX_META = set(".^$*+?{}[]\\|()")
_LITERAL_TAG = re.compile(r"^[^=|\\^$*+?{}\[\]()]+=[^=|\\^$*+?{}\[\]()]*$")


@dataclass
class MutelistImport:
    """The rules an import created, and the parts of the mutelist it listed instead of importing."""

    created: list[FindingException] = field(default_factory=list)
    # Prowler check ids (or expressions) with no equivalent check here.
    unmatched_checks: list[str] = field(default_factory=list)
    # Entries or parts of entries that were not imported, each with the reason.
    skipped: list[str] = field(default_factory=list)
    # Account ids the rules name that are not registered yet; the rules apply once they are.
    unregistered_accounts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Rule:
    check_id: str
    account_id: str
    region: str
    resource_pattern: str
    tags: tuple[tuple[str, str], ...]


def _invalid(message: str, **params) -> ValidationError:
    return ValidationError(message, code="invalid_mutelist", params=params)


def mutelist_parse(text: str) -> dict[str, dict[str, dict]]:
    """Return {account: {check: entry}} from a mutelist's YAML; reject anything off the format."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise _invalid("The mutelist is larger than %(max)s bytes. Split it.", max=MAX_FILE_BYTES)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _invalid(
            "The mutelist is not valid YAML%(where)s: %(problem)s.", where=where, problem=problem
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("Mutelist"), dict):
        raise _invalid("The mutelist has no top-level Mutelist mapping. Expected Mutelist: Accounts: ...")
    accounts = document["Mutelist"].get("Accounts")
    if not isinstance(accounts, dict) or not accounts:
        raise _invalid("The mutelist has no Accounts mapping under Mutelist.")
    parsed: dict[str, dict[str, dict]] = {}
    for account, body in accounts.items():
        account = str(account)
        if account != "*" and not ACCOUNT_ID_RE.match(account):
            raise _invalid(
                "The account %(value)r in the mutelist is not * or a 12-digit account id. Quote account "
                'ids in YAML ("012345678901") so leading zeros are kept.',
                value=account,
            )
        checks = body.get("Checks") if isinstance(body, dict) else None
        if not isinstance(checks, dict):
            raise _invalid("The account %(value)r has no Checks mapping.", value=account)
        for check, entry in checks.items():
            if not isinstance(entry, dict):
                raise _invalid(
                    "The check %(value)r of account %(account)r is not a mapping.",
                    value=check,
                    account=account,
                )
            for key in ("Regions", "Resources"):
                if not isinstance(entry.get(key), list) or not all(isinstance(i, str) for i in entry[key]):
                    raise _invalid(
                        "The check %(value)r of account %(account)r needs %(key)s: a list of strings.",
                        value=check,
                        account=account,
                        key=key,
                    )
            tags = entry.get("Tags", [])
            if tags is not None and (not isinstance(tags, list) or not all(isinstance(i, str) for i in tags)):
                raise _invalid(
                    "Tags of check %(value)r of account %(account)r must be a list of key=value strings.",
                    value=check,
                    account=account,
                )
            parsed.setdefault(account, {})[str(check)] = entry
    return parsed


def prowler_check_targets(check: str) -> tuple[str, ...] | None:
    """Return the checks here that a mutelist check key names, () for "*", None when none match.

    A key that is no known Prowler id is treated as Prowler does: a regular expression searched in
    each Prowler check id (a leading * meaning any text).
    """
    if check in _WILDCARDS:
        return ()
    if check in PROWLER_CHECKS:
        return PROWLER_CHECKS[check]
    expression = ".*" + check[1:] if check.startswith("*") else check
    try:
        compiled = re.compile(expression)
    except re.error:
        return None
    found = sorted(
        {ours for prowler, targets in PROWLER_CHECKS.items() if compiled.search(prowler) for ours in targets}
    )
    return tuple(found) or None


def resource_glob(expression: str) -> str | None:
    """Translate a Prowler resource expression into a glob over the ARN, or None if it cannot be.

    Prowler searches the expression anywhere in the resource, so an unanchored one becomes
    *...*. Returns "" for an expression that matches everything.
    """
    if expression in _WILDCARDS:
        return ""
    if expression.startswith("*"):
        expression = ".*" + expression[1:]
    anchored_start = expression.startswith("^")
    anchored_end = expression.endswith("$") and not expression.endswith("\\$")
    body = expression
    if anchored_start:
        body = body[1:]
    if anchored_end:
        body = body[:-1]
    glob: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        pair = body[index : index + 2]
        if pair in (".*", ".+"):
            glob.append("*" if pair == ".*" else "?*")
            index += 2
        elif char == ".":
            glob.append("?")
            index += 1
        elif char == "\\" and index + 1 < len(body) and not body[index + 1].isalnum():
            literal = body[index + 1]
            if literal in "*?[]":
                return None  # a glob cannot match these characters literally
            glob.append(literal)
            index += 2
        elif char in _REGEX_META:
            return None
        else:
            glob.append(char)
            index += 1
    text = "".join(glob)
    if anchored_start:
        prefix = "" if text.startswith("arn:") else "*[:/]"
    else:
        prefix = "*"
    pattern = prefix + text + ("" if anchored_end else "*")
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    return "" if pattern == "*" else pattern


def _tag_combinations(items: list[str]) -> list[tuple[tuple[str, str], ...]] | None:
    """Return every AND-combination of the tag items' alternatives, or None if one is not literal."""
    choices = []
    for item in items:
        alternatives = []
        for alternative in item.split("|"):
            alternative = alternative.strip()
            if not _LITERAL_TAG.match(alternative):
                return None
            key, _, value = alternative.partition("=")
            alternatives.append((key.strip(), value.strip()))
        choices.append(alternatives)
    combinations = [tuple(sorted(dict(combo).items())) for combo in itertools.product(*choices)]
    return combinations if len(combinations) <= MAX_TAG_COMBINATIONS else None


def _regions(items: list[str]) -> list[str] | None:
    """Return the regions named ([""] for every region), or None if an item names none."""
    if any(item in _WILDCARDS for item in items):
        return [""]
    known = sorted(set().union(*(known_regions(partition) for partition in PARTITIONS)) | {GLOBAL_REGION})
    regions: list[str] = []
    for item in items:
        if item in known:
            regions.append(item)
            continue
        try:
            compiled = re.compile(item)
        except re.error:
            return None
        matched = [region for region in known if compiled.search(region)]
        if not matched:
            return None
        regions.extend(matched)
    return sorted(set(regions))


def _entry_rules(account: str, check: str, entry: dict, report: MutelistImport) -> list[_Rule]:
    """Return the rules of one mutelist entry, and add to `report` what cannot be imported."""
    label = f"account {account}, check {check}"
    targets = prowler_check_targets(check)
    if targets is None:
        report.unmatched_checks.append(check)
        return []

    exceptions = entry.get("Exceptions") or {}
    if any(exceptions.get(key) for key in ("Accounts", "Regions", "Resources", "Tags")):
        report.skipped.append(
            f"{label}: it has Exceptions, which a rule here cannot express; importing it without "
            "them would hide more findings than the mutelist does."
        )
        return []

    regions = _regions(entry["Regions"])
    if regions is None:
        report.skipped.append(f"{label}: the regions {entry['Regions']} name no known region.")
        return []

    patterns = []
    for expression in entry["Resources"]:
        pattern = resource_glob(expression)
        if pattern is None:
            report.skipped.append(
                f"{label}: the resource expression {expression!r} uses regular-expression syntax that "
                "has no glob equivalent; add a rule with a glob for it by hand."
            )
            continue
        patterns.append(pattern)
    if not patterns:
        return []
    if "" in patterns:
        patterns = [""]

    tag_sets = _tag_combinations(entry.get("Tags") or [])
    if tag_sets is None:
        report.skipped.append(
            f"{label}: the tags {entry.get('Tags')} are not literal key=value alternatives (or give more "
            f"than {MAX_TAG_COMBINATIONS} combinations)."
        )
        return []

    account_id = "" if account == "*" else account
    rules = []
    for check_id in targets or ("",):
        check_regions = [""] if check_id in GLOBAL_CHECKS else regions
        for region, pattern, tags in itertools.product(check_regions, patterns, tag_sets):
            rules.append(_Rule(check_id, account_id, region, pattern, tags))
    return rules


def mutelist_import(
    *,
    user,
    text: str,
    reason: str,
    expires_at: dt.datetime | None,
    source: str = "Prowler mutelist",
    now: dt.datetime | None = None,
) -> MutelistImport:
    """Propose one accepted-risk rule per importable part of a Prowler mutelist.

    Raises ValidationError naming the problem (bad YAML, an empty reason, an expiry in the past
    or beyond a year) before creating anything. Otherwise creates every rule in one transaction,
    and returns them with the parts that were not imported.
    """
    if not can_triage(user):
        raise PermissionDenied("Importing a mutelist needs the analyst or admin role.")
    now = now or timezone.now()
    reason = validate_reason(reason)
    expires_at = validate_expiry(expires_at, required=True, now=now)
    parsed = mutelist_parse(text)

    report = MutelistImport()
    rules: dict[_Rule, str] = {}
    for account, checks in parsed.items():
        for check, entry in checks.items():
            description = entry.get("Description")
            for rule in _entry_rules(account, check, entry, report):
                rules.setdefault(rule, str(description).strip() if description else "")
    if len(rules) > MAX_RULES:
        raise _invalid(
            "The mutelist would propose %(count)s rules; an import takes at most %(max)s. Split it.",
            count=len(rules),
            max=MAX_RULES,
        )
    with transaction.atomic():
        for rule, description in rules.items():
            try:
                fields = exception_validate(
                    kind=FindingException.Kind.RISK_ACCEPTED,
                    reason=f"{reason} (Prowler: {description})" if description else reason,
                    expires_at=expires_at,
                    check_id=rule.check_id,
                    account_id=rule.account_id,
                    region=rule.region,
                    resource_pattern=rule.resource_pattern,
                    tags=dict(rule.tags),
                    listed=False,
                    now=now,
                )
            except ValidationError as exc:
                report.skipped.append(f"{_describe(rule)}: {' '.join(exc.messages)}")
                continue
            report.created.append(
                FindingException.objects.create(
                    **fields, scope=FindingException.Scope.RULE, source=source[:200], created_by=user
                )
            )
    named = {rule.account_id for rule in rules if rule.account_id}
    known = set(Account.objects.filter(account_id__in=named).values_list("account_id", flat=True))
    report.unregistered_accounts = sorted(named - known)
    report.unmatched_checks = sorted(set(report.unmatched_checks))
    return report


def _describe(rule: _Rule) -> str:
    parts = [
        f"check {rule.check_id or '*'}",
        f"account {rule.account_id or '*'}",
        f"region {rule.region or '*'}",
        f"resources {rule.resource_pattern or '*'}",
    ]
    if rule.tags:
        parts.append("tags " + ", ".join(f"{key}={value}" for key, value in rule.tags))
    return ", ".join(parts)
