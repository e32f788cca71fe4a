from django.urls import path

from posture.views import bulk, changes, drilldown, exceptions, findings, overview, saved_views, scans, triage

app_name = "posture"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("areas/<slug:area>/", drilldown.area_detail, name="area-detail"),
    path("checks/<slug:check_id>/", drilldown.check_detail, name="check-detail"),
    path(
        "checks/<slug:check_id>/accounts/<int:account_pk>/",
        drilldown.check_account_detail,
        name="check-account-detail",
    ),
    path("findings/", findings.finding_list, name="finding-list"),
    path("findings/export.csv", findings.finding_export_csv, name="finding-export-csv"),
    path("findings/export.json", findings.finding_export_json, name="finding-export-json"),
    path("findings/bulk/", bulk.finding_bulk, name="finding-bulk"),
    path("findings/views/save/", saved_views.saved_view_create, name="saved-view-create"),
    path("findings/views/<int:pk>/", saved_views.saved_view_open, name="saved-view-open"),
    path("findings/views/<int:pk>/delete/", saved_views.saved_view_delete, name="saved-view-delete"),
    path("findings/<int:pk>/", findings.finding_detail, name="finding-detail"),
    path("findings/<int:pk>/triage/state/", triage.finding_state_set, name="finding-state-set"),
    path("findings/<int:pk>/triage/assign/", triage.finding_assign, name="finding-assign"),
    path("findings/<int:pk>/triage/comment/", triage.finding_comment, name="finding-comment"),
    path("findings/<int:pk>/exceptions/propose/", triage.exception_propose, name="exception-propose"),
    path(
        "findings/<int:pk>/exceptions/<int:exception_pk>/approve/",
        triage.exception_approve,
        name="exception-approve",
    ),
    path(
        "findings/<int:pk>/exceptions/<int:exception_pk>/reject/",
        triage.exception_reject,
        name="exception-reject",
    ),
    # The finding-scoped review routes above redirect to the finding, and these to the exception.
    path("exceptions/", exceptions.exception_list, name="exception-list"),
    path("exceptions/new/", exceptions.exception_new, name="exception-new"),
    path("exceptions/<int:pk>/", exceptions.exception_detail, name="exception-detail"),
    path("exceptions/<int:pk>/approve/", exceptions.exception_approve, name="exception-detail-approve"),
    path("exceptions/<int:pk>/reject/", exceptions.exception_reject, name="exception-detail-reject"),
    path("exceptions/<int:pk>/disable/", exceptions.exception_disable, name="exception-disable"),
    path("exceptions/<int:pk>/enable/", exceptions.exception_enable, name="exception-enable"),
    path("exceptions/<int:pk>/delete/", exceptions.exception_delete, name="exception-delete"),
    path("scans/", scans.scan_list, name="scan-list"),
    path("scans/start/", scans.scan_start, name="scan-start"),
    path("scans/changes/", changes.scan_changes, name="scan-changes"),
    path("scans/<int:pk>/", scans.scan_detail, name="scan-detail"),
]
