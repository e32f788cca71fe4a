from __future__ import annotations

from django import forms

from accounts.models import Account
from posture.checks.base import Area, Severity, Status, registry


class FindingFilterForm(forms.Form):
    """Filters of the findings list, read from the query string so a filtered list has a URL."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name", "account_id"),
        to_field_name="account_id",
        required=False,
        empty_label="All accounts",
    )
    area = forms.ChoiceField(choices=[("", "All areas"), *Area.choices], required=False)
    check = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(choices=[("", "All severities"), *Severity.choices], required=False)
    status = forms.ChoiceField(choices=[("", "All statuses"), *Status.choices], required=False)
    include_gone = forms.BooleanField(
        required=False,
        label="Include resources no longer listed",
        help_text="Findings whose resource the latest scan of the account did not list.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        checks = sorted(registry().values(), key=lambda d: d.title)
        self.fields["check"].choices = [("", "All checks"), *((d.id, d.title) for d in checks)]

    def filters(self) -> dict:
        """Return the keyword arguments of `posture.selectors.findings.finding_list` for the valid filters.

        An invalid filter is left out (its error shows on the page), so one bad value in a shared
        URL does not hide the whole list.
        """
        self.is_valid()
        data = self.cleaned_data
        account = data.get("account")
        return {
            "account_pk": account.pk if account else None,
            "area": data.get("area", ""),
            "check_id": data.get("check", ""),
            "severity": data.get("severity", ""),
            "status": data.get("status", ""),
            "include_gone": bool(data.get("include_gone")),
        }
