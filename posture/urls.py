from django.urls import path

from posture import views

app_name = "posture"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("findings/", views.finding_list, name="finding-list"),
    path("findings/<int:pk>/", views.finding_detail, name="finding-detail"),
    path("scans/", views.scan_list, name="scan-list"),
    path("scans/<int:pk>/", views.scan_detail, name="scan-detail"),
]
