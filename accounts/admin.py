from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Account


class AccountAdminForm(forms.ModelForm):
    """Apply the same rules as the account pages, so the admin cannot store an unreachable account."""

    class Meta:
        model = Account
        fields = list(services.EDITABLE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        values = {field: cleaned[field] for field in services.EDITABLE_FIELDS if field in cleaned}
        candidate = Account(pk=self.instance.pk, **values)
        try:
            services.account_validate(account=candidate)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                if field not in self.errors:
                    self.add_error(field, errors)
        return cleaned

    def validate_unique(self) -> None:
        # account_validate already rejected a duplicate account id with a message naming it.
        pass


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = [
        "name",
        "account_id",
        "environment",
        "enabled",
        "verification_ok",
        "verified_at",
        "updated_at",
    ]
    list_filter = ["enabled", "environment", "verification_ok"]
    search_fields = ["name", "account_id", "role_arn"]
    readonly_fields = ["verified_at", "verification_ok", "verification_message", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["account_id", "name", "environment", "enabled"]}),
        ("Role", {"fields": ["role_arn", "external_id", "regions"]}),
        ("Last verification", {"fields": ["verified_at", "verification_ok", "verification_message"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj: Account, form: AccountAdminForm, change: bool) -> None:
        if change and set(form.changed_data) & set(services.ROLE_FIELDS):
            # The stored verification described the previous role.
            obj.verified_at = None
            obj.verification_ok = None
            obj.verification_message = ""
        super().save_model(request, obj, form, change)
