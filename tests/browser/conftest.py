"""Chromium, driven by Playwright, against the dashboard served by the live test server.

The live server runs in a thread of the test process on 127.0.0.1, so the test and the server
share the test database (and in-process moto, when a test turns it on). Chromium is Debian's
/usr/bin/chromium, launched headless with a fresh profile for every test. It may reach only the
live server: every other request is aborted and fails the test. A JavaScript console error or an
uncaught page error fails the test too.

Screenshots go to test-output/browser/ at the repository root (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.urls import reverse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# Upper bound for one browser action or expectation. The scan page polls every 2 s, well within it.
TIMEOUT_MS = 15_000
LIVE_SERVER_HOST = "127.0.0.1"


@pytest.fixture(scope="session")
def live_server() -> Iterator:
    """Override pytest-django's live server so it listens on 127.0.0.1 rather than localhost."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(LIVE_SERVER_HOST)
    yield server
    server.stop()


@dataclass
class Browser:
    """One Chromium profile with one page, and what went wrong in it."""

    page: object
    base_url: str
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def url(self, name: str, *args, query: str = "") -> str:
        return self.base_url + reverse(name, args=args) + (f"?{query}" if query else "")

    def goto(self, name: str, *args, query: str = "") -> None:
        self.page.goto(self.url(name, *args, query=query))

    def path(self) -> str:
        """Return the path and query string of the page's current URL."""
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def log_in(self, username: str, password: str) -> None:
        self.goto("login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("form button[type=submit], form input[type=submit]")
        self.page.wait_for_url(self.url("posture:overview"))

    def screenshot(self, name: str) -> Path:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUTPUT_DIR / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser(live_server, tmp_path, monkeypatch) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: install the Debian package chromium.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio event loop on this thread, and Django then rejects ORM
    # calls made here. The test's ORM calls are plain synchronous ones, so they are allowed.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    origin = f"{urlsplit(live_server.url).scheme}://{urlsplit(live_server.url).netloc}"
    test_connections = {alias: connections[alias] for alias in connections}

    with sync_playwright() as playwright:
        # With a loop running, Django keeps connections per asyncio context rather than per thread,
        # so the ORM would open a second connection that the test teardown never closes. Reuse the
        # test's own (which an in-memory SQLite database also shares with the live server).
        for alias, connection in test_connections.items():
            connections[alias] = connection
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        session = Browser(page=page, base_url=live_server.url)

        def only_live_server(route) -> None:
            url = route.request.url
            if url == origin or url.startswith(origin + "/"):
                route.continue_()
            else:
                session.blocked.append(url)
                route.abort()

        context.route("**/*", only_live_server)
        context.on("console", lambda message: _console_error(session, message))
        context.on("weberror", lambda error: session.errors.append(f"uncaught: {error.error}"))
        try:
            yield session
        finally:
            context.close()

    if session.blocked:
        pytest.fail(f"The browser requested hosts other than the live server: {session.blocked}")
    if session.errors:
        pytest.fail(f"JavaScript errors in the browser: {session.errors}")


def _console_error(session: Browser, message) -> None:
    if message.type == "error":
        session.errors.append(f"console: {message.text} ({message.location.get('url', '')})")
