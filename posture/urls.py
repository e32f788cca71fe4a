from django.urls import path

from posture.views import findings, overview, scans

app_name = "posture"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("findings/", findings.finding_list, name="finding-list"),
    path("findings/<int:pk>/", findings.finding_detail, name="finding-detail"),
    path("scans/", scans.scan_list, name="scan-list"),
    path("scans/<int:pk>/", scans.scan_detail, name="scan-detail"),
]
