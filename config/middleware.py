"""Security headers that Django 5.2's SecurityMiddleware does not set.

Django's SecurityMiddleware sets Cross-Origin-Opener-Policy (SECURE_CROSS_ORIGIN_OPENER_POLICY),
X-Content-Type-Options and Referrer-Policy. This middleware adds Content-Security-Policy and
Permissions-Policy.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class SecurityHeadersMiddleware:
    """Set CONTENT_SECURITY_POLICY and PERMISSIONS_POLICY on every response.

    A header that a view already set is kept, so one page can loosen or tighten its own policy.
    An empty setting sends no header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.headers = {
            name: value
            for name, value in (
                ("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY),
                ("Permissions-Policy", settings.PERMISSIONS_POLICY),
            )
            if value
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response
