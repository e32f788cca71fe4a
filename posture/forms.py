from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import botocore.loaders
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.models import Account
from posture.aws.inventory import GLOBAL_REGION
from posture.checks.base import Area, Severity, Status, registry
from posture.selectors.findings import DEFAULT_SORT, SORT_CHOICES

# Partitions whose regions the region filter offers (those an account's role ARN may name), beside
# "global" for account-wide results.
PARTITIONS = ("aws", "aws-us-gov", "aws-cn")
# (from field, to field, label of the range) of the date filters.
DATE_RANGES = (
    ("first_seen_from", "first_seen_to", "first seen"),
    ("last_seen_from", "last_seen_to", "last seen"),
)


class DateFilterField(forms.DateField):
    """An ISO date (what an <input type="date"> sends) whose error names the rejected value."""

    widget = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    input_formats = ["%Y-%m-%d"]

    def to_python(self, value: Any) -> dt.date | None:
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(
                "%(value)r is not a date. Use the form YYYY-MM-DD, such as 2025-01-31.",
                code="invalid",
                params={"value": value},
            ) from None


@cache
def region_names() -> tuple[str, ...]:
    """Return the region names of PARTITIONS, sorted, from botocore's partitions data.

    That small file is read instead of botocore's endpoint data, which would add tens of MB to
    every process that renders the findings page.
    """
    data = botocore.loaders.create_loader().load_data("partitions")
    names = {
        region
        for partition in data["partitions"]
        if partition["id"] in PARTITIONS
        for region in partition["regions"]
        # Pseudo-regions such as aws-global name global endpoints, never a place resources live.
        if not region.endswith("-global")
    }
    return tuple(sorted(names))


def _invalid_choice(kind: str) -> dict[str, str]:
    return {"invalid_choice": f"%(value)r is not a known {kind}. Pick one from the list."}


class FindingFilterForm(forms.Form):
    """Filters and sort order of the findings list, read from the query string so a view has a URL."""

    q = forms.CharField(
        label="Search",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Resource id or check title"}),
    )
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name", "account_id"),
        to_field_name="account_id",
        required=False,
        empty_label="All accounts",
        error_messages={"invalid_choice": "No account has the account id %(value)r."},
    )
    environment = forms.ChoiceField(required=False, error_messages=_invalid_choice("environment"))
    area = forms.ChoiceField(
        choices=[("", "All areas"), *Area.choices], required=False, error_messages=_invalid_choice("area")
    )
    check = forms.ChoiceField(required=False, error_messages=_invalid_choice("check id"))
    severity = forms.ChoiceField(
        choices=[("", "All severities"), *Severity.choices],
        required=False,
        error_messages=_invalid_choice("severity"),
    )
    status = forms.ChoiceField(
        choices=[("", "All statuses"), *Status.choices],
        required=False,
        error_messages=_invalid_choice("status"),
    )
    region = forms.ChoiceField(required=False, error_messages=_invalid_choice("region"))
    first_seen_from = DateFilterField(label="First seen from", required=False)
    first_seen_to = DateFilterField(label="First seen to", required=False)
    last_seen_from = DateFilterField(label="Last seen from", required=False)
    last_seen_to = DateFilterField(label="Last seen to", required=False)
    include_gone = forms.BooleanField(
        required=False,
        label="Include resources no longer listed",
        help_text="Findings whose resource the latest scan of the account did not list.",
    )
    sort = forms.ChoiceField(
        label="sort order",
        choices=[("", "Default"), *((value, value) for value in SORT_CHOICES)],
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "%(value)r is not a column to sort by."},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        checks = sorted(registry().values(), key=lambda d: d.title)
        self.fields["check"].choices = [("", "All checks"), *((d.id, d.title) for d in checks)]
        environments = (
            Account.objects.exclude(environment="")
            .order_by("environment")
            .values_list("environment", flat=True)
            .distinct()
        )
        self.fields["environment"].choices = [("", "All environments"), *((e, e) for e in environments)]
        self.fields["region"].choices = [
            ("", "All regions"),
            (GLOBAL_REGION, "global (account-wide)"),
            *((region, region) for region in region_names()),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for first_name, last_name, label in DATE_RANGES:
            first, last = data.get(first_name), data.get(last_name)
            if first and last and first > last:
                self.add_error(
                    None,
                    f"The {label} range was ignored: {first:%Y-%m-%d} is after {last:%Y-%m-%d}. "
                    "Put the earlier date first.",
                )
                data.pop(first_name, None)
                data.pop(last_name, None)
        return data

    def filters(self) -> dict[str, Any]:
        """Return the keyword arguments of `posture.selectors.findings.finding_list` for the valid filters.

        An invalid filter is left out (`ignored_messages` returns the reason), so one bad value in a shared
        URL does not hide the whole list.
        """
        self.is_valid()
        data = self.cleaned_data
        account = data.get("account")
        return {
            "account_pk": account.pk if account else None,
            "environment": data.get("environment", ""),
            "area": data.get("area", ""),
            "check_id": data.get("check", ""),
            "severity": data.get("severity", ""),
            "status": data.get("status", ""),
            "region": data.get("region", ""),
            "first_seen_from": data.get("first_seen_from"),
            "first_seen_to": data.get("first_seen_to"),
            "last_seen_from": data.get("last_seen_from"),
            "last_seen_to": data.get("last_seen_to"),
            "search": data.get("q", ""),
            "include_gone": bool(data.get("include_gone")),
        }

    def sort_order(self) -> str:
        """Return the requested sort order, or the default one when none or an invalid one was given."""
        self.is_valid()
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def ignored_messages(self) -> list[str]:
        """Return one sentence per ignored filter, naming the filter, the value and the reason."""
        self.is_valid()
        messages = []
        for name, errors in self.errors.items():
            if name == NON_FIELD_ERRORS:
                messages.extend(errors)
                continue
            what = "The sort order" if name == "sort" else f"The {self[name].label.lower()} filter"
            messages.extend(f"{what} was ignored: {error}" for error in errors)
        return messages
