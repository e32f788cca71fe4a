"""Exceptions: an accepted risk or a false positive, for a list of findings or for a rule.

A rule covers every finding, present or future, that matches all of its scope fields: check id,
AWS account id, region, a glob over the resource id and resource tags (an empty field matches
everything). An exception counts only while it is valid: approved by an admin other than its
creator, enabled, and not past `expires_at`. Which valid exception covers a finding is stored on
the finding (`posture.Finding.exception`) and kept current by triage.coverage.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.validators import validate_account_id


class FindingExceptionQuerySet(models.QuerySet["FindingException"]):
    def valid(self, now: dt.datetime) -> FindingExceptionQuerySet:
        """Exceptions that count at `now`: approved, enabled and not expired.

        The expiry is compared with `now` here, so an exception past its expiry is left out even
        before the expiry task has marked it expired.
        """
        return self.filter(state=FindingException.State.APPROVED, enabled=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class FindingException(models.Model):
    class Kind(models.TextChoices):
        RISK_ACCEPTED = "risk_accepted", "Risk accepted"
        FALSE_POSITIVE = "false_positive", "False positive"

    class Scope(models.TextChoices):
        FINDINGS = "findings", "Listed findings"
        RULE = "rule", "Rule"

    class State(models.TextChoices):
        """The review stage of the exception. Switching it off is the separate `enabled` flag."""

        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField()
    scope = models.CharField(max_length=10, choices=Scope.choices)
    # Scope FINDINGS: exactly these findings.
    findings = models.ManyToManyField("posture.Finding", blank=True, related_name="listed_in_exceptions")
    # Scope RULE: every field that is not empty must match.
    check_id = models.CharField(max_length=80, blank=True)
    account_id = models.CharField("account id", max_length=12, blank=True, validators=[validate_account_id])
    region = models.CharField(max_length=30, blank=True)
    resource_pattern = models.CharField(
        max_length=512, blank=True, help_text="A glob over the resource id (ARN): * any text, ? one character"
    )
    # {key: value}: the resource must carry every one of these tags with exactly this value.
    tags = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROPOSED)
    enabled = models.BooleanField(default=True)
    # Where the exception came from when it was not typed in, e.g. an imported Prowler mutelist.
    source = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FindingExceptionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["state", "enabled", "expires_at"]),
            models.Index(fields=["check_id"]),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Exception {self.pk} ({self.get_kind_display()}, {self.display_state})"

    @property
    def display_state(self) -> str:
        """The state shown to people: "disabled" for a switched-off exception, else `state`."""
        return "disabled" if not self.enabled else self.state

    def is_valid(self, now: dt.datetime) -> bool:
        return (
            self.state == self.State.APPROVED
            and self.enabled
            and (self.expires_at is None or self.expires_at > now)
        )

    def describe_scope(self) -> str:
        """Return one line naming what the exception covers, for events and lists."""
        if self.scope == self.Scope.FINDINGS:
            return "listed findings"
        parts = [
            f"check {self.check_id}" if self.check_id else "every check",
            f"account {self.account_id}" if self.account_id else "every account",
            f"region {self.region}" if self.region else "every region",
        ]
        if self.resource_pattern:
            parts.append(f"resources {self.resource_pattern}")
        if self.tags:
            parts.append("tags " + ", ".join(f"{key}={value}" for key, value in sorted(self.tags.items())))
        return ", ".join(parts)


class SavedView(models.Model):
    """A user's named set of findings filters and sort order, private to its owner.

    `query` is the query string of the findings page, normalised by `triage.saved_views`: only the
    filter form's fields, without empty values or the page cursor, in the form's field order.
    """

    NAME_MAX_LENGTH = 80

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    query = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                models.F("owner"),
                Lower("name"),
                name="triage_savedview_unique_owner_name",
                violation_error_message="You already have a saved view with this name.",
            ),
        ]
        ordering = [Lower("name"), "id"]

    def __str__(self) -> str:
        return self.name
