"""The dashboard pages in a real browser: Chromium through Playwright, against the live test server.

Every response gets a Content-Security-Policy that forbids inline and remote scripts, so the tests
fail if a page needs either. The browser may reach only the live server; any other request is
aborted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from posture.checks.base import Area, Severity, Status
from posture.models import Finding
from tests.factories import AccountFactory, UserFactory, finished_scan, install_fake_checks, result

CHROMIUM = Path("/usr/bin/chromium")
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (Debian package chromium).",
    ),
]


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def session_cookie(live_server) -> dict:
    """Log a viewer in and return its session cookie for the browser."""
    client = Client()
    client.force_login(UserFactory(roles=["viewer"]))
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


@pytest.fixture
def browser_page(live_server, session_cookie):
    """Return a logged-in page whose responses carry the strict CSP, and the errors it logs."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []

    def add_csp(route) -> None:
        if not route.request.url.startswith(live_server.url):
            route.abort()
            return
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        context.add_cookies([session_cookie])
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route("**/*", add_csp)
        yield page, errors
        browser.close()


@pytest.fixture
def scanned() -> Finding:
    """Store one finished scan and return its only critical finding.

    Tests read the database here, before the browser starts: Django rejects ORM calls from the
    thread where Playwright's event loop runs.
    """
    account = AccountFactory(name="prod")
    finished_scan(
        {
            account: [
                result("fake_monitoring_trail"),
                result("fake_authentication_mfa", Status.FAIL),
                result("fake_access_ports", Status.FAIL),
            ]
        }
    )
    return Finding.objects.get(severity=Severity.CRITICAL)


def test_overview_draws_trend_under_csp(live_server, scanned, browser_page):
    page, errors = browser_page
    page.goto(live_server.url + reverse("posture:overview"))
    page.wait_for_selector("#trend-chart .scatterlayer .trace")
    assert page.locator("#trend-chart .scatterlayer .trace").count() == len(Area) + 1
    assert errors == []


def test_finding_filter_swaps_table_and_url(live_server, scanned, browser_page):
    page, errors = browser_page
    page.goto(live_server.url + reverse("posture:finding-list"))
    page.select_option("select[name=severity]", Severity.CRITICAL.value)
    page.wait_for_url("**severity=critical**")
    rows = page.locator("#finding-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert page.locator(f'#finding-table a[href="{scanned.get_absolute_url()}"]').count() == 1
    assert errors == []
