"""Roles are Django groups. Superusers count as admins.

A user's role groups are read once per user object and kept on it, so a view, its services and
the layout that all ask about the same request's user share one query. A change to the user's
groups shows on the next request (a new user object), or at once through `roles_forget`.
"""

from __future__ import annotations

VIEWER = "viewer"
ANALYST = "analyst"
ADMIN = "admin"
ROLE_GROUPS = (VIEWER, ANALYST, ADMIN)

_CACHE_ATTRIBUTE = "_backup_posture_roles"


def role_names(user) -> frozenset[str]:
    """Return the names of the role groups `user` belongs to (empty for None and anonymous)."""
    if user is None or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLE_GROUPS).values_list("name", flat=True))
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def roles_forget(user) -> None:
    """Drop the role groups kept on `user`, after its groups changed."""
    if user is not None and hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


def is_admin(user) -> bool:
    return bool(
        user is not None and user.is_authenticated and (user.is_superuser or ADMIN in role_names(user))
    )


def can_view(user) -> bool:
    """Viewers, analysts and admins read every page."""
    return bool(user is not None and user.is_authenticated and (user.is_superuser or role_names(user)))


def can_triage(user) -> bool:
    """Analysts and admins change triage state, assign, comment and propose exceptions.

    Returns False for None and for anonymous users, so services can pass whatever user they got.
    """
    return bool(
        user is not None
        and user.is_authenticated
        and (user.is_superuser or role_names(user) & {ANALYST, ADMIN})
    )
