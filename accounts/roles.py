"""Roles are Django groups. Superusers count as admins."""

from __future__ import annotations

VIEWER = "viewer"
ANALYST = "analyst"
ADMIN = "admin"
ROLE_GROUPS = (VIEWER, ANALYST, ADMIN)


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.groups.filter(name=ADMIN).exists()))


def can_view(user) -> bool:
    """Viewers, analysts and admins read every page."""
    return bool(
        user.is_authenticated and (user.is_superuser or user.groups.filter(name__in=ROLE_GROUPS).exists())
    )


def can_triage(user) -> bool:
    """Analysts and admins change triage state, assign, comment and propose exceptions.

    Returns False for None and for anonymous users, so services can pass whatever user they got.
    """
    return bool(
        user is not None
        and user.is_authenticated
        and (user.is_superuser or user.groups.filter(name__in=(ANALYST, ADMIN)).exists())
    )
