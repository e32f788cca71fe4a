from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from posture.checks.base import Status
from posture.models import Finding, Scan
from tests.factories import (
    AccountFactory,
    FindingEventFactory,
    FindingFactory,
    UserFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

CHECK_IDS = (
    "fake_monitoring_trail",
    "fake_monitoring_alarm",
    "fake_authentication_mfa",
    "fake_configuration_encryption",
    "fake_inactive_keys",
    "fake_access_ports",
)
# Enough rows that a query per row would break the query limits below.
MANY_ACCOUNTS = 10
# The overview needs 12 queries, and a query per row would exceed this by far.
MAX_QUERIES = 12
# The overview also reads the ages of failing findings and the times to remediate.
MAX_OVERVIEW_QUERIES = 16


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


def account_results(index: int) -> list:
    """Five or six results per account, every other one failing."""
    return [
        result(check_id, Status.FAIL if (index + n) % 2 else Status.PASS)
        for n, check_id in enumerate(CHECK_IDS)
    ]


@pytest.fixture
def scanned():
    """One finished scan of one account with a failing finding, and its events."""
    account = AccountFactory(name="prod")
    scan = finished_scan({account: account_results(0)})
    finding = Finding.objects.get(account=account, check_id="fake_monitoring_alarm")
    return scan, finding


def page_urls(scan: Scan, finding: Finding) -> list[str]:
    return [
        reverse("posture:overview"),
        reverse("posture:finding-list"),
        reverse("posture:finding-detail", args=[finding.pk]),
        reverse("posture:scan-list"),
        reverse("posture:scan-detail", args=[scan.pk]),
    ]


class ScriptCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def scripts_of(html: str) -> list[dict[str, str | None]]:
    parser = ScriptCollector()
    parser.feed(html)
    return parser.scripts


# Access.
def test_pages_redirect_anonymous_to_login(client, scanned):
    for url in page_urls(*scanned):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_pages_reject_user_without_role(client, scanned):
    client.force_login(UserFactory())
    for url in page_urls(*scanned):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_pages_open_to_each_role(client, scanned, role):
    client.force_login(UserFactory(roles=[role]))
    for url in page_urls(*scanned):
        assert client.get(url).status_code == 200, url


def test_pages_open_to_superuser(client, scanned):
    client.force_login(UserFactory(is_superuser=True))
    for url in page_urls(*scanned):
        assert client.get(url).status_code == 200, url


def test_pages_reject_post(client, viewer, scanned):
    for url in page_urls(*scanned):
        assert client.post(url).status_code == 405, url


def test_missing_finding_is_404(client, viewer):
    assert client.get(reverse("posture:finding-detail", args=[999999])).status_code == 404


def test_missing_scan_is_404(client, viewer):
    assert client.get(reverse("posture:scan-detail", args=[999999])).status_code == 404


# Layout.
def test_layout_nav_and_logout_form(client, viewer):
    html = client.get(reverse("posture:overview")).content.decode()
    assert f'href="{reverse("accounts:account-list")}"' in html
    assert f'href="{reverse("posture:finding-list")}"' in html
    assert re.search(rf'<form class="logout" method="post" action="{reverse("logout")}"', html)


def test_layout_admin_link_only_for_staff(client, viewer):
    admin_url = reverse("admin:index")
    assert admin_url not in client.get(reverse("posture:overview")).content.decode()
    client.force_login(UserFactory(roles=["admin"], is_staff=True))
    assert admin_url in client.get(reverse("posture:overview")).content.decode()


def test_layout_sends_csrf_header_with_htmx(client, viewer):
    response = client.get(reverse("posture:overview"))
    html = response.content.decode()
    match = re.search(r"<body hx-headers='(.*?)'>", html)
    assert match
    assert json.loads(match.group(1))["X-CSRFToken"]


def test_layout_loads_htmx_from_django_htmx(client, viewer):
    html = client.get(reverse("posture:overview")).content.decode()
    sources = [s.get("src") or "" for s in scripts_of(html)]
    assert any("django_htmx/htmx-2" in src for src in sources)


def test_pages_have_no_inline_script(client, viewer, scanned):
    for url in page_urls(*scanned):
        for script in scripts_of(client.get(url).content.decode()):
            assert script.get("src") or script.get("type") == "application/json", (url, script)


def test_pages_load_no_remote_script(client, viewer, scanned):
    for url in page_urls(*scanned):
        for script in scripts_of(client.get(url).content.decode()):
            assert not (script.get("src") or "").startswith(("http:", "https:", "//")), (url, script)


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


# Findings.
def test_finding_detail_shows_check_and_evidence(client, viewer, scanned):
    _, finding = scanned
    finding.evidence = {"alarm_name": "root-login", "enabled": False}
    finding.save(update_fields=["evidence"])
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "Title of fake_monitoring_alarm" in html
    assert "Rationale of fake_monitoring_alarm." in html
    assert "Console steps of fake_monitoring_alarm." in html
    assert "aws fix fake_monitoring_alarm" in html
    assert "&quot;alarm_name&quot;: &quot;root-login&quot;" in html


def test_finding_detail_shows_thresholds_with_unit(client, viewer):
    finding = FindingFactory(check_id="fake_monitoring_trail", thresholds={"max_age_days": 30})
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "max_age_days" in html
    assert "30 days" in html
    assert "Oldest allowed log file." in html


def test_finding_detail_threshold_list_readable(client, viewer):
    finding = FindingFactory(check_id="fake_monitoring_trail", thresholds={"ports": [22, "137-139"]})
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "22, 137-139" in html
    assert "[22" not in html


def test_finding_detail_threshold_boolean_readable(client, viewer):
    finding = FindingFactory(check_id="fake_monitoring_trail", thresholds={"strict": True})
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "<td>yes</td>" in html


def test_finding_detail_shows_events(client, viewer):
    finding = FindingFactory()
    FindingEventFactory(finding=finding, comment="Opened by the first scan.")
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "Opened by the first scan." in html


def test_finding_detail_check_missing_from_registry(client, viewer):
    finding = FindingFactory(check_id="renamed_check")
    response = client.get(finding.get_absolute_url())
    assert response.status_code == 200
    assert "no longer in this version" in response.content.decode()


# Queries do not grow with rows.
@pytest.fixture
def many_rows():
    accounts = [AccountFactory() for _ in range(MANY_ACCOUNTS)]
    now = timezone.now()
    finished_scan(
        {account: account_results(i) for i, account in enumerate(accounts)},
        scanned_at=now - dt.timedelta(days=8),
    )
    scan = finished_scan(
        {account: account_results(i + 1) for i, account in enumerate(accounts)}, scanned_at=now
    )
    assert Finding.objects.count() >= 50
    return scan, Finding.objects.filter(status=Status.FAIL).first()


def test_pages_query_count_fixed(client, viewer, many_rows, django_assert_max_num_queries):
    for url in page_urls(*many_rows):
        limit = MAX_OVERVIEW_QUERIES if url == reverse("posture:overview") else MAX_QUERIES
        with django_assert_max_num_queries(limit):
            assert client.get(url).status_code == 200, url
