from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.roles import ADMIN, ROLE_GROUPS, is_admin
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_migration_creates_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_GROUPS)


def test_grant_role_adds_group():
    user = UserFactory(username="alice")
    call_command("grant_role", "alice", ADMIN)
    assert is_admin(User.objects.get(pk=user.pk))


def test_grant_role_unknown_user():
    with pytest.raises(CommandError, match="'nobody'"):
        call_command("grant_role", "nobody", ADMIN)


def test_grant_role_unknown_role():
    UserFactory(username="alice")
    with pytest.raises(CommandError):
        call_command("grant_role", "alice", "owner")


def test_admin_group_has_admin_permissions():
    group = Group.objects.get(name="admin")
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"change_account", "change_periodictask", "view_scan"} <= codenames


def test_grant_admin_makes_user_staff():
    user = User.objects.create_user(username="ops", password="x-long-password-1")
    call_command("grant_role", "ops", "admin")
    user.refresh_from_db()
    assert user.is_staff


def test_grant_viewer_leaves_staff_unset():
    user = User.objects.create_user(username="reader", password="x-long-password-1")
    call_command("grant_role", "reader", "viewer")
    user.refresh_from_db()
    assert not user.is_staff
