from __future__ import annotations

from django.db import models
from django.urls import reverse

from accounts.validators import validate_account_id, validate_external_id


class AccountQuerySet(models.QuerySet["Account"]):
    def enabled(self) -> AccountQuerySet:
        return self.filter(enabled=True)


class Account(models.Model):
    """An AWS account the product scans through a read-only role assumed with an ExternalId."""

    account_id = models.CharField("account id", max_length=12, unique=True, validators=[validate_account_id])
    name = models.CharField(max_length=100)
    role_arn = models.CharField("role ARN", max_length=2048)
    external_id = models.CharField("external ID", max_length=1224, validators=[validate_external_id])
    regions = models.JSONField(
        default=list, blank=True, help_text="Regions to scan; empty means every enabled region."
    )
    environment = models.CharField(
        max_length=40, blank=True, help_text="A label such as production, staging or log-archive."
    )
    enabled = models.BooleanField(default=True, help_text="Disabled accounts are left out of scans.")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_ok = models.BooleanField(null=True)
    verification_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "account_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    def get_absolute_url(self) -> str:
        return reverse("accounts:account-detail", args=[self.pk])

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1] if self.role_arn.count(":") >= 5 else "aws"
