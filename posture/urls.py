from django.urls import path

from posture.views import drilldown, findings, overview, scans, triage

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
    path("exceptions/", triage.exception_list, name="exception-list"),
    path("scans/", scans.scan_list, name="scan-list"),
    path("scans/start/", scans.scan_start, name="scan-start"),
    path("scans/<int:pk>/", scans.scan_detail, name="scan-detail"),
]
