"""Role checks shared by the dashboard views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.roles import can_view


def viewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject with 403 a logged-in user who has no role that may read the dashboard."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_view(request.user):
            raise PermissionDenied(
                "Your user has no dashboard role. Ask an admin to add you to the viewer, analyst "
                "or admin group."
            )
        return view(request, *args, **kwargs)

    return wrapper
