"""Validation of an exception's reason, expiry and scope. Every message names the rejected value."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.validators import known_regions, validate_account_id
from posture.aws.inventory import GLOBAL_REGION
from posture.checks.base import registry

# An accepted risk is reviewed at least once a year: its expiry may be at most this far ahead.
MAX_EXPIRY_DAYS = 365
PARTITIONS = ("aws", "aws-us-gov", "aws-cn")
# AWS limits on tags: keys of 1 to 128 characters, values of 0 to 256.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_PATTERN = 512
# Characters that mean something in a regular expression but are literal (and almost certainly a
# mistake) in a glob over ARNs.
_REGEX_ONLY = re.compile(r"[\\(){}|]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_reason(value: str) -> str:
    """Return the reason without surrounding blanks; reject an empty one."""
    reason = (value or "").strip()
    if not reason:
        raise ValidationError(
            "The reason is empty. Say why the risk is acceptable or the check is wrong, so a reviewer "
            "can judge it.",
            code="reason_required",
        )
    return reason


def validate_expiry(value: dt.datetime | None, *, required: bool, now: dt.datetime) -> dt.datetime | None:
    """Return the expiry as an aware datetime; reject one in the past or over a year ahead."""
    if value is None:
        if required:
            raise ValidationError(
                f"An accepted risk needs an expiry. Choose a date at most {MAX_EXPIRY_DAYS} days ahead.",
                code="expiry_required",
            )
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    if value <= now:
        raise ValidationError(
            "The expiry %(value)s is not in the future. Choose a later date.",
            code="expiry_past",
            params={"value": f"{value:%Y-%m-%d %H:%M} UTC"},
        )
    latest = now + dt.timedelta(days=MAX_EXPIRY_DAYS)
    if value > latest:
        raise ValidationError(
            "The expiry %(value)s is more than %(days)s days ahead. Choose %(latest)s or earlier, and "
            "renew the exception when it expires if the risk is still accepted.",
            code="expiry_too_far",
            params={"value": f"{value:%Y-%m-%d}", "days": MAX_EXPIRY_DAYS, "latest": f"{latest:%Y-%m-%d}"},
        )
    return value


def validate_check_id(value: str) -> None:
    if value and value not in registry():
        raise ValidationError(
            "There is no check %(value)r. Use a check id from docs/checks.md, such as ebs_volume_encrypted.",
            code="unknown_check",
            params={"value": value},
        )


def validate_rule_region(value: str) -> None:
    if not value or value == GLOBAL_REGION:
        return
    if not any(value in known_regions(partition) for partition in PARTITIONS):
        raise ValidationError(
            "Unknown region %(value)r. Use a region code such as us-east-1, or %(global)r for "
            "account-wide results such as IAM.",
            code="unknown_region",
            params={"value": value, "global": GLOBAL_REGION},
        )


def validate_rule_account_id(value: str) -> None:
    if value:
        validate_account_id(value)


def validate_resource_pattern(pattern: str) -> None:
    """Reject a glob that fnmatch would accept but that cannot mean what its author intended."""
    if len(pattern) > MAX_PATTERN:
        raise ValidationError(
            "The resource pattern %(value)r is longer than %(max)s characters. Shorten it.",
            code="pattern_too_long",
            params={"value": pattern[:60] + "...", "max": MAX_PATTERN},
        )
    if _CONTROL.search(pattern):
        raise ValidationError(
            "The resource pattern %(value)r contains a control character. Remove it.",
            code="pattern_control",
            params={"value": pattern},
        )
    if pattern.startswith("^") or pattern.endswith("$") or _REGEX_ONLY.search(pattern):
        raise ValidationError(
            "The resource pattern %(value)r looks like a regular expression. Use a glob over the "
            "resource id: * for any text, ? for one character, [abc] for one of a set, e.g. "
            "arn:aws:s3:::backup-*.",
            code="pattern_regex",
            params={"value": pattern},
        )
    problem = _unbalanced_bracket(pattern)
    if problem:
        raise ValidationError(
            "The resource pattern %(value)r has %(problem)s. Close each [ with ] around at least one "
            "character, or use ? to match any single character.",
            code="pattern_bracket",
            params={"value": pattern, "problem": problem},
        )


def _unbalanced_bracket(pattern: str) -> str:
    """Describe the first [ ... ] set that fnmatch would silently take literally, or return ""."""
    index = 0
    while index < len(pattern):
        if pattern[index] == "[":
            end = index + 1
            if end < len(pattern) and pattern[end] == "!":
                end += 1
            if end < len(pattern) and pattern[end] == "]":  # "[]...]": the first ] is a member
                end += 1
            close = pattern.find("]", end)
            if close == -1:
                return f"an unclosed [ at position {index + 1}"
            index = close + 1
            continue
        if pattern[index] == "]":
            return f"a ] without [ at position {index + 1}"
        index += 1
    return ""


def validate_tags(value: object) -> dict[str, str]:
    """Return the tags as {key: value}; reject anything that is not string keys and values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            "Tags must be key=value pairs, not %(value)r.", code="tags_invalid", params={"value": value}
        )
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY:
            raise ValidationError(
                "The tag key %(value)r is invalid: it must be 1 to %(max)s characters.",
                code="tag_key_invalid",
                params={"value": key, "max": MAX_TAG_KEY},
            )
        if not isinstance(item, str) or len(item) > MAX_TAG_VALUE:
            raise ValidationError(
                "The value %(value)r of tag %(key)r is invalid: it must be text of at most %(max)s "
                "characters.",
                code="tag_value_invalid",
                params={"value": item, "key": key, "max": MAX_TAG_VALUE},
            )
    return dict(value)


def parse_tags(text: str) -> dict[str, str]:
    """Parse "key=value" pairs separated by commas or new lines, as typed in a form."""
    tags: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValidationError(
                "The tag %(value)r is not key=value. Write tags as Environment=test, one per line.",
                code="tag_syntax",
                params={"value": part},
            )
        tags[key.strip()] = value.strip()
    return validate_tags(tags)
