"""Writes to monitored accounts: register, edit, and verify the role.

Every write validates the whole account first (the same rules the form shows), so a command, an
import or the admin cannot store an account that a scan could never reach.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.validators import (
    parse_role_arn,
    validate_account_id,
    validate_external_id,
    validate_regions,
    validate_role_arn_for_account,
)
from posture.aws.session import verify_role

logger = logging.getLogger(__name__)

PARTITIONS = ("aws", "aws-us-gov", "aws-cn")
EDITABLE_FIELDS = ("account_id", "name", "role_arn", "external_id", "regions", "environment", "enabled")
# A change to any of these makes the stored verification describe a role the account no longer uses.
ROLE_FIELDS = ("account_id", "role_arn", "external_id")
VERIFICATION_FIELDS = ("verified_at", "verification_ok", "verification_message")


def validate_role_partition(value: str) -> None:
    """Reject a role ARN outside the partition this installation's STS endpoint serves.

    AssumeRole cannot cross partitions, so a role in aws-cn can never be reached from aws.
    """
    parts = (value or "").split(":")
    if len(parts) < 2 or parts[0] != "arn":
        return  # Not ARN-shaped at all: parse_role_arn reports that with the expected form.
    partition = parts[1]
    if partition not in PARTITIONS:
        raise ValidationError(
            "The role ARN %(value)r is in partition %(partition)r, which does not exist. "
            "The partition must be aws, aws-us-gov or aws-cn.",
            code="invalid_partition",
            params={"value": value, "partition": partition},
        )
    if partition != settings.AWS_PARTITION:
        raise ValidationError(
            "The role ARN %(value)r is in partition %(partition)s, but this installation reaches "
            "partition %(expected)s (setting AWS_PARTITION). Use a role in partition %(expected)s.",
            code="other_partition",
            params={"value": value, "partition": partition, "expected": settings.AWS_PARTITION},
        )


def account_validate(*, account: Account) -> None:
    """Check every field a scan depends on and raise one ValidationError keyed by field name.

    The role ARN is only compared with the account id when the account id itself is valid, so a
    typo in the account id gives one message, not two.
    """
    errors: dict[str, list[ValidationError]] = {}

    def check(field: str, validator: Callable[..., Any], *args: Any) -> bool:
        try:
            validator(*args)
        except ValidationError as exc:
            errors.setdefault(field, []).append(exc)
            return False
        return True

    account_id_ok = check("account_id", validate_account_id, account.account_id)
    if account_id_ok:
        check("account_id", _validate_account_id_free, account)
    if check("role_arn", validate_role_partition, account.role_arn) and check(
        "role_arn", parse_role_arn, account.role_arn
    ):
        if account_id_ok:
            check("role_arn", validate_role_arn_for_account, account.role_arn, account.account_id)
    check("external_id", validate_external_id, account.external_id)
    if not isinstance(account.regions, list) or not all(isinstance(r, str) for r in account.regions):
        errors.setdefault("regions", []).append(
            ValidationError(
                'Invalid regions %(value)r: expected a list of region codes such as ["us-east-1"].',
                code="invalid_regions",
                params={"value": account.regions},
            )
        )
    else:
        check("regions", validate_regions, account.regions, settings.AWS_PARTITION)
    try:
        # The model's own rules for the plain fields: name required, lengths within the columns.
        account.clean_fields(exclude=[*ROLE_FIELDS, "regions", *VERIFICATION_FIELDS])
    except ValidationError as exc:
        for field, field_errors in exc.error_dict.items():
            errors.setdefault(field, []).extend(field_errors)
    if errors:
        raise ValidationError(errors)


def _validate_account_id_free(account: Account) -> None:
    other = Account.objects.filter(account_id=account.account_id).exclude(pk=account.pk).first()
    if other is not None:
        raise ValidationError(
            "Account %(value)s is already registered as %(name)r. Edit that account instead.",
            code="duplicate_account_id",
            params={"value": account.account_id, "name": other.name},
        )


def _duplicate_error(account_id: str) -> ValidationError:
    # Reached only when two requests register the same account id at the same moment.
    return ValidationError(
        {
            "account_id": ValidationError(
                "Account %(value)s was registered by someone else just now. Edit that account instead.",
                code="duplicate_account_id",
                params={"value": account_id},
            )
        }
    )


def _unique(regions: Any) -> Any:
    """Drop repeated regions, keeping the first occurrence in place.

    Anything but a list of strings is returned as it came, for account_validate to reject by value.
    """
    if not isinstance(regions, list) or not all(isinstance(region, str) for region in regions):
        return regions
    return list(dict.fromkeys(regions))


def account_create(
    *,
    account_id: str,
    name: str,
    role_arn: str,
    external_id: str,
    regions: list[str] | None = None,
    environment: str = "",
    enabled: bool = True,
) -> Account:
    """Validate and store a new account. Raise ValidationError, keyed by field, for any invalid value."""
    account = Account(
        account_id=account_id,
        name=name,
        role_arn=role_arn,
        external_id=external_id,
        regions=[] if regions is None else _unique(regions),
        environment=environment,
        enabled=enabled,
    )
    account_validate(account=account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise _duplicate_error(account_id) from None
    logger.info("Registered account %s (%s)", account.account_id, account.pk)
    return account


def account_update(*, account: Account, **changes: Any) -> Account:
    """Apply changes to the editable fields, validate, and save only the fields that changed.

    The account id is fixed once the account has scans, because findings and score history are
    filed under it. Changing the account id, role ARN or ExternalId clears the last verification,
    which described the old role.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"account_update() got fields that cannot be edited: {', '.join(unknown)}")

    if "regions" in changes:
        changes["regions"] = _unique(changes["regions"])
    changed = [field for field, value in changes.items() if getattr(account, field) != value]
    if not changed:
        return account
    if "account_id" in changed and account.scans.exists():
        raise ValidationError(
            {
                "account_id": ValidationError(
                    "The account id of %(name)r cannot change from %(old)s to %(value)s because it "
                    "has scans. Register account %(value)s as a new account instead.",
                    code="account_id_locked",
                    params={"name": account.name, "old": account.account_id, "value": changes["account_id"]},
                )
            }
        )

    originals = {field: getattr(account, field) for field in (*changed, *VERIFICATION_FIELDS)}
    for field in changed:
        setattr(account, field, changes[field])
    if any(field in ROLE_FIELDS for field in changed):
        account.verified_at = None
        account.verification_ok = None
        account.verification_message = ""
        changed += VERIFICATION_FIELDS
    try:
        account_validate(account=account)
        with transaction.atomic():
            account.save(update_fields=[*changed, "updated_at"])
    except (ValidationError, IntegrityError) as exc:
        # Leave the caller's object as it was, so a failed edit does not show unsaved values.
        for field, value in originals.items():
            setattr(account, field, value)
        if isinstance(exc, IntegrityError):
            raise _duplicate_error(changes.get("account_id", account.account_id)) from None
        raise
    logger.info("Updated account %s (%s): %s", account.account_id, account.pk, ", ".join(changed))
    return account


def account_verify(*, account: Account) -> Account:
    """Assume the account's role with its ExternalId, check the account STS returns, store the result.

    Failures (AccessDenied, another account, STS unreachable) are stored as a failed verification,
    not raised. The stored message carries the AWS error code and message, never credentials.
    """
    verification = verify_role(
        account_id=account.account_id, role_arn=account.role_arn, external_id=account.external_id
    )
    account.verified_at = timezone.now()
    account.verification_ok = verification.ok
    account.verification_message = verification.message
    account.save(update_fields=["verified_at", "verification_ok", "verification_message"])
    if verification.ok:
        logger.info("Verified the role of account %s (%s)", account.account_id, account.pk)
    else:
        logger.warning(
            "Verification of account %s (%s) failed: %s",
            account.account_id,
            account.pk,
            verification.message,
        )
    return account
