from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.account_list, name="account-list"),
    path("add/", views.account_create, name="account-create"),
    path("<int:pk>/", views.account_detail, name="account-detail"),
    path("<int:pk>/edit/", views.account_update, name="account-update"),
    path("<int:pk>/verify/", views.account_verify, name="account-verify"),
]
