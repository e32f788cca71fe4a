from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Account

REGION_SEPARATOR_RE = re.compile(r"[\s,]+")


class AccountForm(forms.Form):
    """Register or edit a monitored account.

    Field rules live in `services.account_validate`, so the form, the admin and any script reject
    the same values with the same messages. The form only turns the regions text into a list.
    """

    account_id = forms.CharField(label="Account id", help_text="12 digits, such as 123456789012.")
    name = forms.CharField(max_length=100)
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        help_text="The read-only role in this account, such as "
        "arn:aws:iam::123456789012:role/BackupPostureReadOnly.",
    )
    external_id = forms.CharField(
        label="External ID",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="The value of the sts:ExternalId condition in the role's trust policy: 2 to 1224 "
        "letters, digits or + = , . @ : / - _.",
    )
    regions = forms.CharField(
        required=False,
        help_text="Region codes separated by commas or spaces, such as us-east-1, eu-west-1. "
        "Leave empty to scan every region enabled in the account.",
    )
    environment = forms.CharField(
        max_length=40, required=False, help_text="A label such as production, staging or log-archive."
    )
    enabled = forms.BooleanField(
        required=False, initial=True, help_text="Disabled accounts are left out of scans."
    )

    def __init__(self, *args: Any, instance: Account | None = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", initial_from(instance))
        super().__init__(*args, **kwargs)
        if instance is not None and instance.scans.exists():
            # Findings and score history are filed under the account id. A disabled field also
            # ignores whatever value a crafted POST sends.
            self.fields["account_id"].disabled = True
            self.fields[
                "account_id"
            ].help_text = "Fixed because the account has scans. Register another account id as a new account."

    def clean_regions(self) -> list[str]:
        text = self.cleaned_data["regions"]
        regions = [region.lower() for region in REGION_SEPARATOR_RE.split(text) if region]
        return list(dict.fromkeys(regions))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A field missing from cleaned_data already has an error, so the model default stands in.
        values = {field: cleaned[field] for field in services.EDITABLE_FIELDS if field in cleaned}
        candidate = Account(pk=self.instance.pk if self.instance else None, **values)
        try:
            services.account_validate(account=candidate)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                # A field that already failed (required, too long) keeps its one message.
                if field not in self.errors:
                    self.add_error(field, errors)
        return cleaned


def initial_from(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "role_arn": account.role_arn,
        "external_id": account.external_id,
        "regions": ", ".join(account.regions),
        "environment": account.environment,
        "enabled": account.enabled,
    }
