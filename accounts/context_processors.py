from __future__ import annotations

from accounts.roles import can_triage, is_admin


def roles(request) -> dict[str, bool]:
    """Expose the user's roles to every template (one query per request, see accounts.roles)."""
    user = getattr(request, "user", None)
    return {"user_is_admin": is_admin(user), "user_can_triage": can_triage(user)}
