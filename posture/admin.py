"""Admin pages for scans, findings and snapshots: for inspecting data, not for triage.

Scans, findings and scores are written by the scan services, so most fields are read-only here.
"""

from __future__ import annotations

from django.contrib import admin

from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot


class AccountScanInline(admin.TabularInline):
    model = AccountScan
    extra = 0
    can_delete = False
    fields = ("account", "state", "started_at", "finished_at", "regions_done", "error_code")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Scan)
class ScanAdmin(admin.ModelAdmin):
    list_display = ("id", "state", "trigger", "scanned_at", "started_at", "finished_at", "note")
    list_filter = ("state", "trigger")
    date_hierarchy = "scanned_at"
    readonly_fields = (
        "trigger",
        "requested_by",
        "ruleset_version",
        "thresholds",
        "scanned_at",
        "created_at",
        "started_at",
        "finished_at",
    )
    inlines = [AccountScanInline]


@admin.register(AccountScan)
class AccountScanAdmin(admin.ModelAdmin):
    list_display = ("id", "scan", "account", "state", "started_at", "finished_at", "error_code")
    list_filter = ("state",)
    list_select_related = ("scan", "account")
    search_fields = ("account__account_id", "account__name", "error_code")
    raw_id_fields = ("scan", "account")
    readonly_fields = ("regions", "regions_done", "checks_done", "errors", "counts")


class FindingEventInline(admin.TabularInline):
    model = FindingEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "old_status", "new_status", "actor", "scan", "comment")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("check_id", "resource_id", "account", "region", "status", "severity", "is_current")
    list_filter = ("status", "severity", "area", "is_current")
    list_select_related = ("account",)
    search_fields = ("check_id", "resource_id", "account__account_id", "account__name")
    raw_id_fields = ("account", "last_scan")
    # Triage fields change only through the triage services, which write the events.
    readonly_fields = (
        "first_seen_at",
        "last_seen_at",
        "status_changed_at",
        "evidence",
        "thresholds",
        "triage_state",
        "assignee",
        "exception",
    )
    inlines = [FindingEventInline]


@admin.register(ScoreSnapshot)
class ScoreSnapshotAdmin(admin.ModelAdmin):
    list_display = (
        "scan",
        "account",
        "area",
        "numerator",
        "raw_numerator",
        "denominator",
        "results_decided",
        "results_expected",
    )
    list_filter = ("area",)
    list_select_related = ("scan", "account")
    raw_id_fields = ("scan", "account")


@admin.register(CheckCount)
class CheckCountAdmin(admin.ModelAdmin):
    list_display = ("scan", "account", "check_id", "passed", "failed", "unknown", "not_applicable")
    list_select_related = ("scan", "account")
    search_fields = ("check_id",)
    raw_id_fields = ("scan", "account")
