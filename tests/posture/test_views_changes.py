"""The changes page: roles, default scans, bad scan ids, filters, the HTMX partial and the links to it."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from posture.checks.base import Status
from posture.models import Finding, Scan
from posture.selectors import changes as change_selectors
from tests.factories import (
    AccountFactory,
    ScanFactory,
    UserFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

URL = reverse("posture:scan-changes")
HTMX = {"HX-Request": "true"}
TRAIL = "fake_monitoring_trail"
# The page needs 11 queries with the test client. They are the session, the user and its roles
# (3), the environments, the two scans of the URL, the changes and their findings, the latest scan,
# and the scans and accounts of the selects. A query per scan or per finding would exceed it.
MAX_QUERIES = 11


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


def volume(name: str) -> str:
    return f"arn:aws:ec2:us-east-1:111111111111:volume/{name}"


@pytest.fixture
def scans() -> list[Scan]:
    """Three scans of one production account: a volume fails, is fixed, and another starts failing."""
    account = AccountFactory(name="prod-main", account_id="123456789012", environment="production")
    AccountFactory(name="stage-main", account_id="210987654321", environment="staging")
    start = timezone.now() - dt.timedelta(days=3)
    first = finished_scan(
        {account: [result(TRAIL, Status.FAIL, resource_id=volume("old"))]}, scanned_at=start
    )
    second = finished_scan(
        {account: [result(TRAIL, Status.PASS, resource_id=volume("old"))]},
        scanned_at=start + dt.timedelta(days=1),
    )
    third = finished_scan(
        {
            account: [
                result(TRAIL, Status.PASS, resource_id=volume("old")),
                result(TRAIL, Status.FAIL, resource_id=volume("new")),
            ]
        },
        scanned_at=start + dt.timedelta(days=2),
    )
    return [first, second, third]


def shown_scans(html: str) -> tuple[str, str]:
    """Return the scan ids selected in the "from" and "to" selects."""
    selected = {}
    for name in ("from", "to"):
        select = re.search(rf'<select name="{name}">(.*?)</select>', html, re.S)
        assert select, f"no {name} select"
        option = re.search(r'<option value="(\d+)" selected>', select.group(1))
        assert option, f"nothing selected in {name}"
        selected[name] = option.group(1)
    return selected["from"], selected["to"]


def section(html: str, kind: str) -> str:
    match = re.search(rf'<section class="card" id="changes-{kind}".*?</section>', html, re.S)
    assert match, kind
    return match.group(0)


# Access.
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_changes_anonymous_redirected_to_login(client, scans, headers):
    response = client.get(URL, headers=headers)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_changes_user_without_role_forbidden(client, scans, headers):
    client.force_login(UserFactory())
    assert client.get(URL, headers=headers).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_changes_open_to_each_role(client, scans, role):
    client.force_login(UserFactory(roles=[role]))
    response = client.get(URL)
    assert response.status_code == 200
    assert 'id="changes-new"' in response.content.decode()


def test_changes_rejects_post(client, viewer):
    assert client.post(URL).status_code == 405


# Defaults.
def test_changes_empty_without_finished_scans(client, viewer):
    ScanFactory(state=Scan.State.RUNNING)
    html = client.get(URL).content.decode()
    assert "No finished scans yet" in html


def test_changes_default_latest_two(client, viewer, scans):
    html = client.get(URL).content.decode()
    assert shown_scans(html) == (str(scans[1].pk), str(scans[2].pk))


def test_changes_default_from_is_previous_of_to(client, viewer, scans):
    html = client.get(URL, {"to": scans[1].pk}).content.decode()
    assert shown_scans(html) == (str(scans[0].pk), str(scans[1].pk))


def test_changes_default_skips_running_scan(client, viewer, scans):
    ScanFactory(state=Scan.State.RUNNING, scanned_at=timezone.now())
    html = client.get(URL).content.decode()
    assert shown_scans(html)[1] == str(scans[2].pk)


def test_changes_first_scan_has_no_previous(client, viewer, scans):
    html = client.get(URL, {"to": scans[0].pk}).content.decode()
    assert f"Scan {scans[0].pk} is the first finished scan" in html
    assert 'id="changes-new"' not in html


# Results.
def test_changes_lists_new_and_resolved(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[2].pk}).content.decode()
    new = Finding.objects.get(resource_id=volume("new"))
    old = Finding.objects.get(resource_id=volume("old"))
    assert f'href="{new.get_absolute_url()}"' in section(html, "new")
    assert f'href="{old.get_absolute_url()}"' in section(html, "resolved")


def test_changes_counts_by_severity(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[2].pk}).content.decode()
    table = re.search(r'<table class="change-counts">.*?</table>', html, re.S).group(0)
    new_row = re.search(r'href="#changes-new">New failing</a></th>(.*?)</tr>', table, re.S).group(1)
    # Critical, high, medium, low, total: the new volume fails a high-severity check.
    assert re.findall(r'<td class="num">(\d+)</td>', new_row) == ["0", "1", "0", "0", "1"]


def test_changes_headline_names_both_scans(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[2].pk}).content.decode()
    assert "2 findings changed from" in html
    assert f'href="{scans[0].get_absolute_url()}">scan {scans[0].pk}</a>' in html


def test_changes_capped_says_showing(client, viewer, scans, monkeypatch):
    monkeypatch.setattr(change_selectors, "ROWS_PER_KIND", 1)
    account = Finding.objects.first().account
    failing = [result(TRAIL, Status.FAIL, resource_id=volume(f"many-{n}")) for n in range(3)]
    latest = finished_scan({account: failing}, scanned_at=timezone.now())
    response = client.get(URL, {"from": scans[2].pk, "to": latest.pk})
    assert "Showing 1 of 3" in response.content.decode()


def test_changes_findings_link_when_to_is_latest(client, viewer, scans):
    html = client.get(
        URL, {"from": scans[0].pk, "to": scans[2].pk, "environment": "production"}
    ).content.decode()
    expected = f'href="{reverse("posture:finding-list")}?status=FAIL&amp;environment=production"'
    assert expected in section(html, "new")


def test_changes_no_findings_link_for_older_to(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[1].pk}).content.decode()
    assert reverse("posture:finding-list") + "?" not in section(html, "resolved")


# Filters.
def test_changes_filter_account(client, viewer, scans):
    html = client.get(
        URL, {"from": scans[0].pk, "to": scans[2].pk, "account": "210987654321"}
    ).content.decode()
    assert "0 findings changed" in html


def test_changes_filter_severity(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[2].pk, "severity": "high"}).content.decode()
    assert "2 findings changed" in html


def test_changes_invalid_filter_ignored(client, viewer, scans):
    html = client.get(URL, {"from": scans[0].pk, "to": scans[2].pk, "severity": "urgent"}).content.decode()
    assert "The severity filter was ignored. &#x27;urgent&#x27; is not a known severity." in html
    assert "2 findings changed" in html


# Bad scans.
def test_changes_unknown_scan_id(client, viewer, scans):
    html = client.get(URL, {"from": 999999, "to": scans[2].pk}).content.decode()
    assert "The &quot;from&quot; scan was ignored. Scan 999999 was not found." in html
    assert shown_scans(html) == (str(scans[1].pk), str(scans[2].pk))


def test_changes_not_a_scan_id(client, viewer, scans):
    html = client.get(URL, {"to": "latest"}).content.decode()
    assert "&#x27;latest&#x27; is not a valid scan id." in html


@pytest.mark.parametrize("value", ["1" * 19, "\u00b2", "-1"])
def test_changes_scan_id_out_of_range(client, viewer, scans, value):
    response = client.get(URL, {"from": value})
    assert response.status_code == 200
    assert "is not a valid scan id." in response.content.decode()


def test_changes_scan_not_finished(client, viewer, scans):
    running = ScanFactory(state=Scan.State.RUNNING)
    html = client.get(URL, {"from": scans[0].pk, "to": running.pk}).content.decode()
    assert f"Scan {running.pk} is running, so its results are not final." in html
    assert shown_scans(html) == (str(scans[0].pk), str(scans[2].pk))


def test_changes_same_scan_both_ends(client, viewer, scans):
    html = client.get(URL, {"from": scans[1].pk, "to": scans[1].pk}).content.decode()
    assert f"Scan {scans[1].pk} is both the start and the end of the range." in html
    assert 'id="changes-new"' not in html


def test_changes_newer_from_swapped(client, viewer, scans):
    html = client.get(URL, {"from": scans[2].pk, "to": scans[0].pk}).content.decode()
    assert f"Scan {scans[2].pk} is newer than scan {scans[0].pk}, so the two were swapped" in html
    assert shown_scans(html) == (str(scans[0].pk), str(scans[2].pk))


# HTMX.
def test_changes_partial_is_results_only(client, viewer, scans):
    html = client.get(URL, headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="changes-results"')
    assert "<h1>" not in html


def test_changes_partial_pushes_scans_shown(client, viewer, scans):
    response = client.get(URL, {"severity": "high"}, headers=HTMX)
    pushed = urlsplit(response["HX-Push-Url"])
    assert pushed.path == URL
    assert parse_qs(pushed.query) == {
        "from": [str(scans[1].pk)],
        "to": [str(scans[2].pk)],
        "severity": ["high"],
    }


def test_changes_history_restore_gets_full_page(client, viewer, scans):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert "<h1>" in client.get(URL, headers=headers).content.decode()


def test_changes_varies_on_htmx_header(client, viewer, scans):
    assert "HX-Request" in client.get(URL)["Vary"]


def test_changes_form_swaps_results(client, viewer, scans):
    html = client.get(URL).content.decode()
    form = re.search(r'<form class="filters changes-filters"[^>]*>', html, re.S).group(0)
    assert f'hx-get="{URL}"' in form
    assert 'hx-target="#changes-results"' in form
    assert 'hx-push-url="true"' in form


def test_changes_no_inline_script(client, viewer, scans):
    html = client.get(URL).content.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag
    assert " style=" not in html


def test_changes_query_count(client, viewer, scans, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(URL, {"from": scans[0].pk, "to": scans[2].pk})


# Links to the page.
def test_scan_detail_links_to_changes(client, viewer, scans):
    html = client.get(scans[2].get_absolute_url()).content.decode()
    assert f'href="{URL}?to={scans[2].pk}">Changes since the previous scan</a>' in html


def test_running_scan_detail_has_no_changes_link(client, viewer):
    running = ScanFactory(state=Scan.State.RUNNING)
    html = client.get(running.get_absolute_url()).content.decode()
    assert "Changes since the previous scan" not in html


def test_overview_links_to_changes(client, viewer, scans):
    html = client.get(reverse("posture:overview")).content.decode()
    assert f'href="{URL}?to={scans[2].pk}">Compare any two scans</a>' in html
