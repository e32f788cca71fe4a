"""Admin page for exceptions: for inspecting them and for the review actions.

Exceptions are proposed in the dashboard or imported with `manage.py import_mutelist`, so they
cannot be added or edited here. The actions and deletion go through triage.services, which check
the role, keep the findings' coverage current and write the events.

Saved views are listed read-only, because each belongs to its owner, who changes it on the
findings page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from triage import services
from triage.models import FindingException, SavedView


@admin.register(FindingException)
class FindingExceptionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "state",
        "enabled",
        "scope",
        "check_id",
        "account_id",
        "region",
        "expires_at",
        "created_by",
        "reviewed_by",
    )
    list_filter = ("state", "kind", "enabled", "scope")
    search_fields = ("reason", "check_id", "account_id", "resource_pattern", "source")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "reason",
        "scope",
        "check_id",
        "account_id",
        "region",
        "resource_pattern",
        "tags",
        "expires_at",
        "state",
        "enabled",
        "source",
        "created_by",
        "created_at",
        "reviewed_by",
        "reviewed_at",
        "review_comment",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["approve", "disable", "enable"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _run(self, request: HttpRequest, queryset: QuerySet[FindingException], service, verb: str) -> None:
        done = 0
        for exception in queryset:
            try:
                service(user=request.user, exception_id=exception.pk)
            except (PermissionDenied, ValidationError) as exc:
                message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, message, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} exception(s).", messages.SUCCESS)

    @admin.action(description="Approve the selected proposed exceptions")
    def approve(self, request: HttpRequest, queryset: QuerySet[FindingException]) -> None:
        self._run(request, queryset, services.exception_approve, "Approved")

    @admin.action(description="Disable the selected exceptions")
    def disable(self, request: HttpRequest, queryset: QuerySet[FindingException]) -> None:
        self._run(request, queryset, services.exception_disable, "Disabled")

    @admin.action(description="Enable the selected exceptions")
    def enable(self, request: HttpRequest, queryset: QuerySet[FindingException]) -> None:
        self._run(request, queryset, services.exception_enable, "Enabled")

    def delete_model(self, request: HttpRequest, obj: FindingException) -> None:
        services.exception_delete(user=request.user, exception_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FindingException]) -> None:
        for exception in queryset:
            services.exception_delete(user=request.user, exception_id=exception.pk)


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "query", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username")
    fields = ("owner", "name", "query", "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SavedView | None = None) -> bool:
        return False
