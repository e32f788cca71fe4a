from django.urls import path

from posture.views import drilldown, findings, overview, scans

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
    path("scans/", scans.scan_list, name="scan-list"),
    path("scans/start/", scans.scan_start, name="scan-start"),
    path("scans/<int:pk>/", scans.scan_detail, name="scan-detail"),
]
