"""The scan pages: the list with its start form, starting a scan, and a scan's progress and errors."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from posture.checks.base import Result, Status
from posture.models import AccountScan, Scan
from posture.views import scans as scan_views
from tests.factories import (
    AccountFactory,
    AccountScanFactory,
    ScanFactory,
    UserFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# Enough accounts that a query per account would break MAX_QUERIES.
MANY_ACCOUNTS = 10
MAX_QUERIES = 12
READ_ERROR = {
    "region": "eu-west-1",
    "key": "ec2.volumes",
    "operation": "ec2:DescribeVolumes",
    "code": "UnauthorizedOperation",
    "message": "You are not authorized to perform this operation.",
}


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


@pytest.fixture
def admin(client):
    user = UserFactory(roles=["admin"])
    client.force_login(user)
    return user


@pytest.fixture
def running_scan() -> Scan:
    """A scan with one account halfway through its regions and one still queued."""
    scan = ScanFactory(state=Scan.State.RUNNING)
    AccountScanFactory(
        scan=scan,
        account=AccountFactory(name="alpha", account_id="111111111111"),
        state=AccountScan.State.RUNNING,
        regions=["us-east-1", "eu-west-1"],
        regions_done=1,
    )
    AccountScanFactory(
        scan=scan,
        account=AccountFactory(name="bravo", account_id="222222222222"),
        state=AccountScan.State.QUEUED,
        regions=[],
        regions_done=0,
    )
    return scan


def unknown(
    check_id: str, resource_id: str, *, region: str = "us-east-1", code: str = "AccessDenied"
) -> Result:
    """Return an UNKNOWN result as a check records a failed read."""
    return Result(
        check_id=check_id,
        region=region,
        resource_id=resource_id,
        resource_type="bucket",
        status=Status.UNKNOWN,
        reason=f"s3:GetBucketPolicy failed with {code}: Access Denied",
        evidence={"error": {"operation": "s3:GetBucketPolicy", "code": code, "message": "Access Denied"}},
    )


@pytest.fixture
def scan_with_errors() -> Scan:
    """A finished scan: one account unreachable, one with a failed read and UNKNOWN results."""
    reachable = AccountFactory(name="reachable", account_id="333333333333")
    unreachable = AccountFactory(name="unreachable", account_id="444444444444")
    scan = finished_scan(
        {
            reachable: [
                result("fake_monitoring_trail"),
                unknown("fake_access_ports", "arn:aws:s3:::bucket-a"),
                unknown("fake_access_ports", "arn:aws:s3:::bucket-b"),
                unknown("fake_inactive_keys", "arn:aws::333333333333:account/eu-west-1", region="eu-west-1"),
            ],
            unreachable: None,
        }
    )
    AccountScan.objects.filter(scan=scan, account=reachable).update(errors=[READ_ERROR])
    return scan


def partial_html(response) -> str:
    return response.content.decode().strip()


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Access to the pages and the partial.
def scan_urls(scan: Scan) -> list[str]:
    return [reverse("posture:scan-list"), scan.get_absolute_url()]


def test_pages_redirect_anonymous(client, running_scan):
    for url in scan_urls(running_scan):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_partial_redirects_anonymous(client, running_scan):
    response = client.get(running_scan.get_absolute_url(), headers=HTMX)
    assert response.status_code == 302


def test_pages_reject_user_without_role(client, running_scan):
    client.force_login(UserFactory())
    for url in scan_urls(running_scan):
        assert client.get(url).status_code == 403, url


def test_partial_rejects_user_without_role(client, running_scan):
    client.force_login(UserFactory())
    assert client.get(running_scan.get_absolute_url(), headers=HTMX).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_pages_open_to_each_role(client, running_scan, role):
    client.force_login(UserFactory(roles=[role]))
    for url in scan_urls(running_scan):
        assert client.get(url).status_code == 200, url
    assert client.get(running_scan.get_absolute_url(), headers=HTMX).status_code == 200


def test_missing_scan_is_404(client, viewer):
    assert client.get(reverse("posture:scan-detail", args=[999999])).status_code == 404


# Scan list.
def test_list_links_each_scan(client, viewer, running_scan):
    html = client.get(reverse("posture:scan-list")).content.decode()
    assert f'href="{running_scan.get_absolute_url()}"' in html


def test_list_start_form_only_for_admin(client, viewer):
    AccountFactory()
    start_url = reverse("posture:scan-start")
    assert start_url not in client.get(reverse("posture:scan-list")).content.decode()
    client.force_login(UserFactory(roles=["admin"]))
    assert f'action="{start_url}"' in client.get(reverse("posture:scan-list")).content.decode()


def test_list_start_form_offers_enabled_accounts(client, admin):
    AccountFactory(name="enabled-one", account_id="555555555555")
    AccountFactory(name="disabled-one", account_id="666666666666", enabled=False)
    html = client.get(reverse("posture:scan-list")).content.decode()
    assert '<option value="">All enabled accounts (1)</option>' in html
    assert '<option value="555555555555">' in html
    assert "666666666666" not in html


def test_list_start_form_without_accounts(client, admin):
    AccountFactory(enabled=False)
    html = client.get(reverse("posture:scan-list")).content.decode()
    assert "No account is enabled" in html
    assert f'action="{reverse("posture:scan-start")}"' not in html


# Starting a scan.
def test_start_redirects_anonymous(client):
    AccountFactory()
    response = client.post(reverse("posture:scan-start"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not Scan.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_start_rejects_non_admin(client, role):
    AccountFactory()
    client.force_login(UserFactory(roles=[role]))
    assert client.post(reverse("posture:scan-start")).status_code == 403
    assert not Scan.objects.exists()


def test_start_rejects_get(client, admin):
    assert client.get(reverse("posture:scan-start")).status_code == 405


def test_start_all_enabled_accounts(client, admin):
    enabled = [AccountFactory(), AccountFactory()]
    AccountFactory(enabled=False)
    response = client.post(reverse("posture:scan-start"), {"account": ""})
    scan = Scan.objects.get()
    assert response.status_code == 302
    assert response.url == scan.get_absolute_url()
    assert {a.account_id for a in scan.account_scans.all()} == {a.pk for a in enabled}


def test_start_records_trigger_and_user(client, admin):
    AccountFactory()
    client.post(reverse("posture:scan-start"))
    scan = Scan.objects.get()
    assert scan.trigger == Scan.Trigger.MANUAL
    assert scan.requested_by == admin


def test_start_one_account(client, admin):
    chosen = AccountFactory(account_id="777777777777")
    AccountFactory()
    response = client.post(reverse("posture:scan-start"), {"account": "777777777777"})
    scan = Scan.objects.get()
    assert [a.account_id for a in scan.account_scans.all()] == [chosen.pk]
    assert f"Scan {scan.pk} of account {chosen} started." in message_texts(response)


def test_start_unknown_account_creates_nothing(client, admin):
    AccountFactory()
    response = client.post(reverse("posture:scan-start"), {"account": "999999999999"})
    assert response.status_code == 302
    assert response.url == reverse("posture:scan-list")
    assert not Scan.objects.exists()
    (text,) = message_texts(response)
    assert "'999999999999'" in text


def test_start_disabled_account_creates_nothing(client, admin):
    disabled = AccountFactory(name="retired", account_id="888888888888", enabled=False)
    response = client.post(reverse("posture:scan-start"), {"account": "888888888888"})
    assert not Scan.objects.exists()
    (text,) = message_texts(response)
    assert str(disabled) in text
    assert "disabled" in text


def test_start_without_enabled_accounts_explains(client, admin):
    AccountFactory(enabled=False)
    response = client.post(reverse("posture:scan-start"))
    assert response.url == reverse("posture:scan-list")
    assert not Scan.objects.exists()
    (text,) = message_texts(response)
    assert "no enabled account" in text


def test_start_error_returns_to_form_page(client, admin):
    account = AccountFactory(enabled=False)
    response = client.post(
        reverse("posture:scan-start"), {"account": account.account_id, "next": account.get_absolute_url()}
    )
    assert response.url == account.get_absolute_url()


def test_start_error_ignores_offsite_next(client, admin):
    response = client.post(
        reverse("posture:scan-start"), {"account": "999999999999", "next": "https://example.com/"}
    )
    assert response.url == reverse("posture:scan-list")


def test_start_htmx_post_with_csrf_token(admin):
    """htmx sends the token that base.html puts in hx-headers; Django's CSRF check accepts it."""
    from django.test import Client

    AccountFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    html = client.get(reverse("posture:scan-list")).content.decode()
    token = json.loads(re.search(r"<body hx-headers='(.*?)'>", html).group(1))["X-CSRFToken"]
    response = client.post(reverse("posture:scan-start"), headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 302
    assert Scan.objects.count() == 1


def test_start_rejects_missing_csrf_token(admin):
    from django.test import Client

    AccountFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(reverse("posture:scan-start"), headers=HTMX).status_code == 403
    assert not Scan.objects.exists()


def test_start_without_broker_runs_scan(client, admin, mock_aws_env, django_capture_on_commit_callbacks):
    """Without a broker Celery runs eagerly, so the scan reaches a final state (here against moto)."""
    AccountFactory(account_id="121212121212", regions=["us-east-1"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("posture:scan-start"))
    scan = Scan.objects.get()
    assert scan.is_finished
    assert scan.account_scans.get().checks_done > 0


def test_account_page_offers_scan_to_admin(client, admin):
    account = AccountFactory()
    html = client.get(account.get_absolute_url()).content.decode()
    assert f'action="{reverse("posture:scan-start")}"' in html
    assert f'name="account" value="{account.account_id}"' in html


def test_account_page_hides_scan_from_viewer(client, viewer):
    account = AccountFactory()
    html = client.get(account.get_absolute_url()).content.decode()
    assert reverse("posture:scan-start") not in html


def test_account_page_hides_disabled_scan(client, admin):
    account = AccountFactory(enabled=False)
    html = client.get(account.get_absolute_url()).content.decode()
    assert reverse("posture:scan-start") not in html


# Progress of a running scan.
def test_detail_polls_while_running(client, viewer, running_scan):
    html = client.get(running_scan.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' in html


def test_detail_shows_regions_done(client, viewer, running_scan):
    html = client.get(running_scan.get_absolute_url()).content.decode()
    assert '<progress max="2" value="1"></progress>' in html
    assert "1 of 2" in html


def test_detail_shows_checks_done_of_total(client, viewer, running_scan, fake_checks):
    html = client.get(running_scan.get_absolute_url()).content.decode()
    assert f"0 of {len(fake_checks)}" in html


def test_detail_shows_queued_account_waiting(client, viewer, running_scan):
    html = client.get(running_scan.get_absolute_url()).content.decode()
    assert "waiting for a worker" in html


def test_partial_continues_polling_while_running(client, viewer, running_scan):
    response = client.get(running_scan.get_absolute_url(), headers=HTMX)
    assert response.status_code == 200
    assert partial_html(response).startswith('<div id="scan-progress"')
    assert 'hx-trigger="every 2s"' in partial_html(response)


def test_partial_has_no_page_layout(client, viewer, running_scan):
    html = partial_html(client.get(running_scan.get_absolute_url(), headers=HTMX))
    assert "<html" not in html


def test_partial_stops_polling_when_finished(client, viewer, scan_with_errors):
    response = client.get(scan_with_errors.get_absolute_url(), headers=HTMX)
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


@pytest.mark.parametrize("fixture", ["running_scan", "scan_with_errors"])
def test_partial_matches_full_page(client, viewer, request, fixture):
    scan = request.getfixturevalue(fixture)
    partial = partial_html(client.get(scan.get_absolute_url(), headers=HTMX))
    page = client.get(scan.get_absolute_url()).content.decode()
    assert partial in page


def test_partial_and_page_vary_on_htmx(client, viewer, running_scan):
    response = client.get(running_scan.get_absolute_url(), headers=HTMX)
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_full_page(client, viewer, running_scan):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    html = client.get(running_scan.get_absolute_url(), headers=headers).content.decode()
    assert "<html" in html


def test_progress_moves_between_polls(client, viewer, running_scan):
    account_scan = running_scan.account_scans.get(account__name="alpha")
    assert "1 of 2" in partial_html(client.get(running_scan.get_absolute_url(), headers=HTMX))
    account_scan.regions_done = 2
    account_scan.save(update_fields=["regions_done"])
    assert "2 of 2" in partial_html(client.get(running_scan.get_absolute_url(), headers=HTMX))


# Results and errors of a finished scan.
def test_detail_shows_result_counts(client, viewer):
    account = AccountFactory()
    scan = finished_scan(
        {account: [result("fake_monitoring_trail", Status.FAIL), result("fake_access_ports")]}
    )
    response = client.get(scan.get_absolute_url())
    (row,) = response.context["accounts"]
    assert row.account_scan.counts["FAIL"] == 1
    assert '<td class="num">1</td>' in response.content.decode()


def test_detail_shows_account_error(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert 'id="errors-444444444444"' in html
    assert "AccessDenied" in html
    assert "Not authorized to perform sts:AssumeRole" in html


def test_detail_shows_failed_reads(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    for value in READ_ERROR.values():
        assert value in html, value


def test_detail_counts_errors_per_account(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert '<a href="#errors-333333333333">1</a>' in html
    assert '<a href="#errors-444444444444">1</a>' in html


def test_detail_groups_unknown_results(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert "Title of fake_access_ports" in html
    assert "arn:aws:s3:::bucket-a" in html
    assert "and 1 more" in html
    assert "arn:aws:s3:::bucket-b" not in html


def test_detail_links_unknown_check(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert f'href="{reverse("posture:check-detail", args=["fake_inactive_keys"])}"' in html


def test_detail_links_unknown_findings_of_account(client, viewer, scan_with_errors):
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert f'href="{reverse("posture:finding-list")}?status=UNKNOWN&amp;account=333333333333"' in html


def test_detail_explains_unknowns_judged_later(client, viewer):
    account = AccountFactory()
    older = finished_scan({account: [unknown("fake_access_ports", "arn:aws:s3:::bucket-a")]})
    finished_scan({account: [unknown("fake_access_ports", "arn:aws:s3:::bucket-a")]})
    html = client.get(older.get_absolute_url()).content.decode()
    assert "1 unknown result of this scan was judged again by a later scan" in html
    assert f"?status=UNKNOWN&amp;account={account.account_id}" in html


def test_detail_caps_unknown_results(client, viewer, scan_with_errors, monkeypatch):
    monkeypatch.setattr(scan_views, "UNKNOWNS_PER_ACCOUNT", 1)
    html = client.get(scan_with_errors.get_absolute_url()).content.decode()
    assert "Showing the first 1 of 2 groups." in html
    assert "Title of fake_inactive_keys" not in html


def test_detail_clean_scan_lists_no_errors(client, viewer):
    scan = finished_scan({AccountFactory(): [result("fake_monitoring_trail")]})
    html = client.get(scan.get_absolute_url()).content.decode()
    assert "scan-account-errors" not in html


def test_detail_query_count_fixed(client, viewer, django_assert_max_num_queries):
    accounts = [AccountFactory() for _ in range(MANY_ACCOUNTS)]
    scan = finished_scan(
        {
            account: [
                result("fake_monitoring_trail", Status.FAIL),
                unknown("fake_access_ports", f"arn:aws:s3:::bucket-{n}"),
                unknown(
                    "fake_inactive_keys", f"arn:aws:iam::{account.account_id}:user/u{n}", code="Throttling"
                ),
            ]
            for n, account in enumerate(accounts)
        }
    )
    AccountScan.objects.filter(scan=scan).update(errors=[READ_ERROR])
    for headers in ({}, HTMX):
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(scan.get_absolute_url(), headers=headers).status_code in (200, 286)


def test_list_query_count_fixed(client, admin, django_assert_max_num_queries):
    for _ in range(MANY_ACCOUNTS):
        finished_scan({AccountFactory(): [result("fake_monitoring_trail")]})
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(reverse("posture:scan-list")).status_code == 200
