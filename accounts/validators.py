"""Validation of what identifies a monitored account. Every message names the rejected value."""

from __future__ import annotations

import re
from functools import cache

import botocore.session
from django.core.exceptions import ValidationError

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
# arn:PARTITION:iam::ACCOUNT:role/PATH/NAME; role names are 1-64 of [\w+=,.@-], paths are /.../.
ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-us-gov|aws-cn):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})$"
)


@cache
def known_regions(partition: str = "aws") -> frozenset[str]:
    """Return the EC2 regions botocore lists for the partition (the list the AWS CLI accepts)."""
    return frozenset(botocore.session.get_session().get_available_regions("ec2", partition))


def validate_account_id(value: str) -> None:
    if not ACCOUNT_ID_RE.match(value or ""):
        raise ValidationError(
            "%(value)r is not an AWS account id: it must be exactly 12 digits, such as 123456789012.",
            code="invalid_account_id",
            params={"value": value},
        )


def validate_external_id(value: str) -> None:
    if not EXTERNAL_ID_RE.match(value or ""):
        raise ValidationError(
            "The ExternalId %(value)r is invalid: it must be 2 to 1224 characters of letters, digits "
            "and + = , . @ : / - _ (no spaces).",
            code="invalid_external_id",
            params={"value": value if len(value or "") <= 80 else value[:77] + "..."},
        )


def parse_role_arn(value: str) -> re.Match[str]:
    match = ROLE_ARN_RE.match(value or "")
    if not match:
        raise ValidationError(
            "%(value)r is not an IAM role ARN. Expected arn:aws:iam::123456789012:role/RoleName.",
            code="invalid_role_arn",
            params={"value": value},
        )
    return match


def validate_role_arn_for_account(value: str, account_id: str) -> None:
    match = parse_role_arn(value)
    if match["account"] != account_id:
        raise ValidationError(
            "The role ARN %(value)r names account %(other)s, but this is account %(account)s. "
            "Use the read-only role created in account %(account)s.",
            code="role_in_other_account",
            params={"value": value, "other": match["account"], "account": account_id},
        )


def validate_regions(values: list[str], partition: str = "aws") -> None:
    unknown = [v for v in values if v not in known_regions(partition)]
    if unknown:
        raise ValidationError(
            "Unknown region(s): %(regions)s. Use region codes such as us-east-1 or eu-west-1.",
            code="unknown_region",
            params={"regions": ", ".join(unknown)},
        )
