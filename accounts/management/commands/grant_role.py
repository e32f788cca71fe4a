"""Give a user a role: `python manage.py grant_role USERNAME {viewer,analyst,admin}`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ADMIN, ROLE_GROUPS


class Command(BaseCommand):
    help = (
        "Put a user in a role group: viewer reads every page, analyst also triages findings, admin also "
        "manages accounts, schedules and settings."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="Username of an existing user.")
        parser.add_argument("role", choices=ROLE_GROUPS, help="The role to grant.")

    def handle(self, *args, **options) -> None:
        username, role = options["username"], options["role"]
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(
                f"User {username!r} not found. Create it first with `python manage.py createsuperuser` "
                "or in the admin."
            ) from None
        # get_or_create: the group normally comes from a migration, but a flushed database lacks it.
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        if role == ADMIN and not user.is_staff:
            # Admins manage schedules and accounts in the Django admin, which needs staff status.
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        self.stdout.write(f"{username} now has the {role} role.")
