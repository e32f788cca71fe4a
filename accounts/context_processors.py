from __future__ import annotations

from accounts.roles import is_admin


def roles(request) -> dict[str, bool]:
    user = getattr(request, "user", None)
    return {"user_is_admin": bool(user and is_admin(user))}
