"""Exceptions in Chromium: an analyst proposes a rule with the live preview; an admin approves, deletes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.roles import ADMIN, ANALYST
from posture.checks.base import Status
from posture.models import Finding
from tests.factories import AccountFactory, FindingFactory, UserFactory
from triage.models import FindingException

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password"
ACCOUNT_ID = "111111111111"
ARN_PREFIX = f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:volume/"
CHECK = "ebs_volume_encrypted"


@pytest.fixture
def volumes():
    account = AccountFactory(account_id=ACCOUNT_ID, name="production")
    for name, status in (("test-1", Status.FAIL), ("test-2", Status.FAIL), ("prod-1", Status.FAIL)):
        FindingFactory(account=account, check_id=CHECK, resource_id=f"{ARN_PREFIX}{name}", status=status)


def test_propose_approve_delete_rule(browser, volumes):
    UserFactory(username="analyst", roles=[ANALYST], password=PASSWORD)
    UserFactory(username="admin2", roles=[ADMIN], password=PASSWORD)
    page = browser.page

    browser.log_in("analyst", PASSWORD)
    browser.goto("posture:exception-list")
    page.get_by_role("link", name="Propose a rule").click()
    page.select_option("select[name=kind]", "false_positive")
    page.fill("textarea[name=reason]", "The check misreads test volumes.")
    page.select_option("select[name=check_id]", CHECK)
    # Leaving the field fires `change`, on which htmx requests the preview.
    page.fill("input[name=resource_pattern]", f"{ARN_PREFIX}test-*")
    page.locator("input[name=region]").focus()
    expect(page.locator("#rule-preview")).to_contain_text("matches 2 current findings, 2 of them failing")
    browser.screenshot("exception-form-preview")

    page.get_by_role("button", name="Propose rule").click()
    expect(page.locator(".message--success")).to_contain_text("proposed")
    exception = FindingException.objects.get()
    assert browser.path() == f"/exceptions/{exception.pk}/"

    page.get_by_role("button", name="Log out").click()
    browser.log_in("admin2", PASSWORD)
    browser.goto("posture:exception-list", query="state=awaiting_review")
    page.get_by_role("link", name=str(exception.pk), exact=True).first.click()
    page.get_by_role("button", name=f"Approve exception {exception.pk}").click()
    expect(page.locator(".message--success")).to_contain_text("It covers 2 findings now.")
    browser.screenshot("exception-detail-approved")
    assert Finding.objects.filter(exception=exception).count() == 2

    page.get_by_role("link", name=f"Delete exception {exception.pk}…").click()
    expect(page.locator("#confirm-delete")).to_contain_text("It covers 2 findings now, 2 of them failing.")
    browser.screenshot("exception-delete-confirmation")
    page.get_by_role("button", name=f"Delete exception {exception.pk}", exact=True).click()
    expect(page.locator(".message--success")).to_contain_text("deleted")
    assert browser.path() == "/exceptions/"
    assert not Finding.objects.filter(exception__isnull=False).exists()


def test_exception_tables_scroll_on_narrow_screen(browser, volumes):
    UserFactory(username="analyst", roles=[ANALYST], password=PASSWORD)
    admin = UserFactory(username="admin2", roles=[ADMIN])
    analyst = UserFactory(username="analyst2", roles=[ANALYST])
    for name in ("test-1", "test-2"):
        exception = FindingException.objects.create(
            kind=FindingException.Kind.FALSE_POSITIVE,
            reason="The check misreads test volumes, which hold no data and are deleted every night.",
            scope=FindingException.Scope.RULE,
            check_id=CHECK,
            account_id=ACCOUNT_ID,
            resource_pattern=f"{ARN_PREFIX}{name}",
            state=FindingException.State.APPROVED,
            created_by=analyst,
            reviewed_by=admin,
        )
        exception.findings.set(Finding.objects.filter(resource_id__endswith=name))
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 900})
    browser.log_in("analyst", PASSWORD)
    browser.goto("posture:exception-list")
    browser.screenshot("exception-list-390")
    table_wrap = page.locator("#all-exceptions .table-wrap")
    assert table_wrap.evaluate("element => element.scrollWidth > element.clientWidth")
    card = page.locator("#all-exceptions").bounding_box()
    assert card["x"] + card["width"] <= 390
