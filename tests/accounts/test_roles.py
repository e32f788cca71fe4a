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
