"""Django admin permissions of the role groups.

Django creates permissions after the migrations run, so a data migration cannot grant them. This
post_migrate handler completes the admin group's permissions on every migrate.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from accounts.roles import ADMIN

# Apps whose objects the admin role manages in the Django admin: monitored accounts, the
# schedules (django-celery-beat), the scan history and the exceptions.
ADMIN_APPS = ("accounts", "django_celery_beat", "posture", "triage")


def admin_group_permissions_sync(**kwargs) -> None:
    group, _ = Group.objects.get_or_create(name=ADMIN)
    group.permissions.add(*Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
