"""Security headers on every response, and templates that a strict Content-Security-Policy allows."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from config.middleware import SecurityHeadersMiddleware
from tests.factories import UserFactory

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


# Headers.
@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        reverse("login"),
        reverse("posture:overview"),
        "/no-such-page/",
        "/static/css/app.css",
        "/static/django_htmx/htmx-2.min.js",
    ],
)
def test_csp_on_every_response(client, url):
    assert client.get(url).headers["Content-Security-Policy"] == CSP


@pytest.mark.django_db
def test_csp_on_logged_in_page(client):
    client.force_login(UserFactory(roles=["viewer"]))
    response = client.get(reverse("posture:scan-list"))
    assert response.headers["Content-Security-Policy"] == CSP


def test_csp_scripts_only_from_self():
    directives = csp_directives(settings.CONTENT_SECURITY_POLICY)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-eval'" not in settings.CONTENT_SECURITY_POLICY


def test_csp_forbids_framing_and_plugins():
    directives = csp_directives(settings.CONTENT_SECURITY_POLICY)
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


@pytest.mark.django_db
def test_permissions_policy_header(client):
    header = client.get(reverse("login")).headers["Permissions-Policy"]
    assert "camera=()" in header
    assert "geolocation=()" in header
    assert "microphone=()" in header


@pytest.mark.django_db
def test_cross_origin_opener_policy_header(client):
    assert client.get(reverse("login")).headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_frame_and_content_type_headers(client):
    response = client.get(reverse("login"))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_middleware_keeps_header_set_by_view():
    def view(request):
        response = HttpResponse()
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    response = SecurityHeadersMiddleware(view)(RequestFactory().get("/"))
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"


def test_middleware_empty_setting_sends_no_header(settings):
    settings.PERMISSIONS_POLICY = ""
    response = SecurityHeadersMiddleware(lambda request: HttpResponse())(RequestFactory().get("/"))
    assert "Permissions-Policy" not in response.headers


# Templates: what the policy would block must not be there.
class ScriptAndHandlerCollector(HTMLParser):
    """Collect, with their line numbers, the parts of a template that the policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts: list[str] = []
        self.remote_sources: list[str] = []
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        line = f"line {self.getpos()[0]}"
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self.inline_scripts.append(line)
        for name in attributes:
            # Inline handlers need 'unsafe-inline' and htmx's hx-on needs 'unsafe-eval', which the
            # policy does not allow.
            if name.startswith(("on", "hx-on")):
                self.event_handlers.append(f"{name} at {line}")
        # A hyperlink may point anywhere; what the page loads must come from this site.
        loaded = attributes.get("href") if tag == "link" else attributes.get("src")
        if loaded and re.match(r"^(https?:)?//", loaded):
            self.remote_sources.append(f"{loaded} at {line}")


def collect(path: Path) -> ScriptAndHandlerCollector:
    parser = ScriptAndHandlerCollector()
    parser.feed(path.read_text())
    return parser


def test_templates_found():
    assert any(path.name == "base.html" for path in TEMPLATES)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_template_has_no_inline_script(path):
    assert collect(path).inline_scripts == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_template_has_no_event_handler_attribute(path):
    assert collect(path).event_handlers == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_template_loads_nothing_remote(path):
    assert collect(path).remote_sources == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_template_has_no_javascript_url(path):
    assert "javascript:" not in path.read_text().lower()
