"""The dashboard as a user drives it in Chromium: overview chart, drill-down, findings, scans.

The history comes from scans whose AWS half is replaced by hand-made results. The scan started
from the scan list is a real one, run against in-process moto.
"""

from __future__ import annotations

import csv
import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from posture import engine, services, tasks
from posture.checks.base import Area, Result, Severity, Status
from posture.models import Finding, Scan
from sandbox import patches
from tests.factories import AccountFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password"
PROD = "111111111111"
STAGING = "222222222222"
SANDBOX = "333333333333"
# Scans of the history, in days before now. The last two fall in the chart's 7-day range.
DAYS_BACK = (60, 30, 6, 1)
# The followed finding: an unencrypted volume in prod, failing in every scan.
FOLLOWED_CHECK = "ebs_volume_encrypted"
FOLLOWED_RESOURCE = f"arn:aws:ec2:us-east-1:{PROD}:volume/vol-0aaa1111"


def check_result(
    check_id: str,
    resource_id: str,
    status: Status,
    *,
    resource_type: str,
    region: str = "us-east-1",
    evidence: dict | None = None,
) -> Result:
    return Result(
        check_id=check_id,
        region=region,
        resource_id=resource_id,
        resource_type=resource_type,
        status=status,
        reason=f"{resource_id} is {'compliant' if status == Status.PASS else 'not compliant'}.",
        evidence=evidence or {},
    )


def account_results(account_id: str, step: int) -> list[Result]:
    """Return one scan's results for an account. Later steps fix some failures and open others."""

    def failing_until(last_step: int) -> Status:
        return Status.FAIL if step <= last_step else Status.PASS

    account_arn = f"arn:aws::{account_id}:account"
    is_prod = account_id == PROD
    return [
        check_result(
            "cloudtrail_enabled", f"{account_arn}/us-east-1", failing_until(0), resource_type="region"
        ),
        check_result(
            "vpc_flow_logs",
            f"arn:aws:ec2:us-east-1:{account_id}:vpc/vpc-0bbb2222",
            failing_until(1),
            resource_type="VPC",
        ),
        check_result(
            "root_mfa",
            account_arn,
            failing_until(2 if is_prod else 0),
            region="global",
            resource_type="account",
        ),
        check_result(
            "iam_user_console_mfa",
            f"arn:aws:iam::{account_id}:user/alice",
            failing_until(1),
            region="global",
            resource_type="user",
        ),
        check_result(
            FOLLOWED_CHECK,
            f"arn:aws:ec2:us-east-1:{account_id}:volume/vol-0aaa1111",
            Status.FAIL if is_prod else Status.PASS,
            resource_type="volume",
            evidence={"VolumeId": "vol-0aaa1111", "Encrypted": False, "Size": 100},
        ),
        check_result(
            "iam_user_inactive",
            f"arn:aws:iam::{account_id}:user/carol",
            Status.FAIL if step >= 2 else Status.PASS,
            region="global",
            resource_type="user",
        ),
        check_result(
            "sg_well_known_ports_open",
            f"arn:aws:ec2:us-east-1:{account_id}:security-group/sg-0ccc3333",
            Status.FAIL if is_prod else Status.PASS,
            resource_type="security group",
        ),
    ]


@pytest.fixture
def admin_user(settings):
    # A fast hasher: the tests log in through the form, and the default one takes most of a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return UserFactory(username="admin", roles=["admin"], password=PASSWORD)


@pytest.fixture
def history(monkeypatch) -> Finding:
    """Run four scans of two accounts on hand-made results and return the followed finding.

    Each scan goes through the scan services and the Celery task (eager here) like a real one.
    Only the AWS half, `engine.account_scan`, is replaced: it returns `account_results`.
    """
    prod = AccountFactory(name="prod", account_id=PROD, environment="production")
    staging = AccountFactory(name="staging", account_id=STAGING, environment="staging")
    now = timezone.now()
    # The results the simulated AWS half returns for each account in the scan being run.
    results: dict[str, list[Result]] = {}

    def account_scan(*, account_id: str, on_regions, on_region_done, **kwargs) -> engine.AccountOutcome:
        on_regions(["us-east-1"])
        on_region_done("us-east-1")
        return engine.AccountOutcome(regions=["us-east-1"], skipped_regions=[], results=results[account_id])

    with monkeypatch.context() as patch:
        patch.setattr(engine, "account_scan", account_scan)
        for step, days in enumerate(DAYS_BACK):
            results.update({PROD: account_results(PROD, step), STAGING: account_results(STAGING, step)})
            services.scan_start(
                trigger=Scan.Trigger.DEMO, accounts=[prod, staging], scanned_at=now - dt.timedelta(days=days)
            )
    assert Scan.objects.filter(state=Scan.State.COMPLETED).count() == len(DAYS_BACK)
    return Finding.objects.get(resource_id=FOLLOWED_RESOURCE)


def plot_x_range(page) -> list[str]:
    return page.evaluate("document.getElementById('trend-chart')._fullLayout.xaxis.range")


def test_overview_chart_and_range(browser, admin_user, history):
    page = browser.page
    browser.log_in("admin", PASSWORD)
    traces = page.locator("#trend-chart .scatterlayer .trace")
    traces.first.wait_for()
    assert traces.count() == len(Area) + 1
    browser.screenshot("overview")

    full_range = plot_x_range(page)
    page.locator("#trend-chart .rangeselector .button", has_text="7d").click()
    page.wait_for_function(
        "range => document.getElementById('trend-chart')._fullLayout.xaxis.range[0] !== range[0]",
        arg=full_range,
    )
    start = dt.datetime.fromisoformat(plot_x_range(page)[0][:19])
    end = dt.datetime.fromisoformat(plot_x_range(page)[1][:19])
    assert end - start == dt.timedelta(days=7)

    # A hover label runs more of plotly.js under the Content-Security-Policy.
    point = page.locator("#trend-chart .scatterlayer .trace .points path").last.bounding_box()
    page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    expect(page.locator("#trend-chart .hoverlayer").locator("*").first).to_be_attached()


def test_drill_down_from_area_to_finding(browser, admin_user, history):
    page = browser.page
    browser.log_in("admin", PASSWORD)
    area_url = browser.url("posture:area-detail", Area.CONFIGURATION.value)
    check_url = browser.url("posture:check-detail", FOLLOWED_CHECK)
    finding_url = browser.url("posture:finding-detail", history.pk)

    page.locator(f'a[href="{area_url.removeprefix(browser.base_url)}"]').first.click()
    page.wait_for_url(area_url)
    expect(page.locator("nav.breadcrumbs")).to_contain_text("Overview")

    page.locator(f'a[href="{check_url.removeprefix(browser.base_url)}"]').first.click()
    page.wait_for_url(check_url)
    breadcrumbs = page.locator("nav.breadcrumbs")
    expect(breadcrumbs.locator(f'a[href="{area_url.removeprefix(browser.base_url)}"]')).to_have_count(1)
    browser.screenshot("check")

    page.locator(f'a[href="{finding_url.removeprefix(browser.base_url)}"]').first.click()
    page.wait_for_url(finding_url)
    expect(page.locator("main")).to_contain_text("vol-0aaa1111")
    expect(
        page.locator("nav.breadcrumbs").locator(f'a[href="{check_url.removeprefix(browser.base_url)}"]')
    ).to_have_count(1)
    browser.screenshot("finding")

    page.go_back()
    page.wait_for_url(check_url)
    page.go_back()
    page.wait_for_url(area_url)


def test_findings_filter_url_and_back(browser, admin_user, history):
    page = browser.page
    browser.log_in("admin", PASSWORD)
    browser.goto("posture:finding-list")
    rows = page.locator("#finding-table tbody tr")
    rows.first.wait_for()
    all_rows = rows.count()

    page.select_option("select[name=severity]", Severity.CRITICAL.value)
    page.wait_for_url(re.compile(r"severity=critical"))
    expect(rows).not_to_have_count(all_rows)
    critical_rows = rows.count()

    page.go_back()
    page.wait_for_url(browser.url("posture:finding-list"))
    expect(rows).to_have_count(all_rows)
    assert critical_rows < all_rows


def test_findings_export_filtered_csv(browser, admin_user, history, tmp_path):
    page = browser.page
    browser.log_in("admin", PASSWORD)
    browser.goto("posture:finding-list", query=f"severity={Severity.CRITICAL.value}")
    expected = Finding.objects.filter(severity=Severity.CRITICAL, is_current=True).count()

    with page.expect_download() as download_info:
        page.locator('a[href*="export.csv"]').first.click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(str(path))
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == expected
    assert {row["severity"] for row in rows} == {Severity.CRITICAL.value}


def test_scan_start_progress_to_completed(browser, admin_user, mock_aws_env, monkeypatch):
    """Start a scan in the page, play the worker in the test, and watch the page follow it."""
    page = browser.page
    AccountFactory(
        name="sandbox",
        account_id=SANDBOX,
        role_arn=f"arn:aws:iam::{SANDBOX}:role/BackupPostureReadOnly",
        regions=["us-east-1", "eu-west-1"],
    )
    # A broker would hold the task until a worker takes it. Here the test plays the worker.
    queued: list[int] = []
    monkeypatch.setattr(tasks.scan_account, "delay", queued.append)

    browser.log_in("admin", PASSWORD)
    browser.goto("posture:scan-list")
    page.select_option("#scan-start select[name=account]", SANDBOX)
    page.click("#scan-start button[type=submit]")
    page.wait_for_url(re.compile(r"/scans/\d+/$"))
    state = page.locator("#scan-state")
    regions = page.locator(f'tr[data-account-id="{SANDBOX}"] .scan-regions')
    expect(state).to_have_text("Queued")
    expect(page.locator("#scan-progress")).to_have_attribute("hx-trigger", "every 2s")

    real_account_scan = engine.account_scan

    def account_scan_watched(**kwargs):
        on_regions = kwargs["on_regions"]

        def on_regions_watched(names: list[str]) -> None:
            on_regions(names)
            # The worker waits until the page's poll shows the scan mid-way.
            expect(state).to_have_text("Running")
            expect(regions).to_contain_text("0 of 2")
            browser.screenshot("scan-running")

        return real_account_scan(**{**kwargs, "on_regions": on_regions_watched})

    monkeypatch.setattr(engine, "account_scan", account_scan_watched)
    with patches.installed() as sandbox:
        # moto's credential report has no root row. The sandbox adds one, so no check is UNKNOWN.
        sandbox.roots[SANDBOX] = patches.RootUser(created_at=timezone.now() - dt.timedelta(days=400))
        (account_scan_id,) = queued
        tasks.scan_account(account_scan_id)

    expect(state).to_have_text("Completed")
    expect(regions).to_contain_text("2 of 2")
    expect(page.locator("#scan-progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    browser.screenshot("scan-completed")
