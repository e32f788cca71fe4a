from django.urls import path

app_name = "posture"
urlpatterns: list = []
