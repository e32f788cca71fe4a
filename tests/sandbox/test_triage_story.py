"""The demo's triage history, run through the triage services against hand-made findings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import roles
from posture.models import Finding, FindingEvent
from sandbox.demo_accounts import DEMO_ACCOUNTS, LOG_ARCHIVE, PRODUCTION, STAGING
from sandbox.triage_story import (
    ANALYST_USERNAME,
    LIVE_EXPIRY,
    TRIAGE_STEPS,
    people_create,
)
from tests.factories import AccountFactory, FindingFactory
from triage.models import FindingException

# (account, check id) of the failing findings the story's steps act on.
FAILING = (
    (PRODUCTION, "elb_access_logging"),
    (PRODUCTION, "ssh_key_rotation"),
    (STAGING, "rds_storage_encrypted"),
    (STAGING, "security_group_count"),
    (STAGING, "root_mfa"),
    (STAGING, "root_access_keys"),
    (STAGING, "sg_well_known_ports_open"),
    (LOG_ARCHIVE, "sg_default_restricts_all"),
)


@pytest.fixture
def story(db, settings):
    """Run every step at the time it stands for; return the people and the build time."""
    # Three users per test: a slow password hasher would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    accounts = {
        demo.account_id: AccountFactory(account_id=demo.account_id, name=demo.name) for demo in DEMO_ACCOUNTS
    }
    built_at = timezone.now()
    for demo, check_id in FAILING:
        FindingFactory(
            account=accounts[demo.account_id],
            check_id=check_id,
            first_seen_at=built_at - dt.timedelta(days=31),
        )
    people = people_create(password="demo-test-password")
    for step in sorted(TRIAGE_STEPS, key=lambda s: s.at(built_at)):
        step.apply(people, step.at(built_at), built_at)
    return people, built_at


def _exception(check_id: str) -> FindingException:
    return FindingException.objects.get(check_id=check_id)


def test_people_have_one_role_each(story):
    people, _ = story
    assert list(people.admin.groups.values_list("name", flat=True)) == [roles.ADMIN]
    assert list(people.analyst.groups.values_list("name", flat=True)) == [roles.ANALYST]
    assert list(people.manager.groups.values_list("name", flat=True)) == [roles.VIEWER]


def test_admin_is_staff_for_the_django_admin(story):
    people, _ = story
    assert people.admin.is_staff


def test_first_accepted_risk_expired_in_the_past(story):
    _, built_at = story
    exception = _exception("elb_access_logging")
    assert exception.state == FindingException.State.EXPIRED
    assert exception.expires_at < built_at - dt.timedelta(days=8)


def test_expiry_left_an_event_on_the_finding(story):
    finding = Finding.objects.get(check_id="elb_access_logging")
    assert finding.events.filter(kind=FindingEvent.Kind.EXCEPTION_EXPIRED).count() == 1


def test_expired_finding_is_open_again(story):
    finding = Finding.objects.get(check_id="elb_access_logging")
    assert finding.triage_state == Finding.TriageState.OPEN


CURRENT_EXCEPTION_CHECKS = ["rds_storage_encrypted", "sg_default_restricts_all", "ssh_key_rotation"]


@pytest.mark.parametrize("check_id", CURRENT_EXCEPTION_CHECKS)
def test_current_exceptions_are_approved_by_the_admin(story, check_id):
    people, _ = story
    exception = _exception(check_id)
    assert (exception.state, exception.reviewed_by, exception.created_by) == (
        FindingException.State.APPROVED,
        people.admin,
        people.analyst,
    )


def test_live_exception_expires_minutes_after_the_build(story):
    _, built_at = story
    assert _exception("ssh_key_rotation").expires_at == built_at + LIVE_EXPIRY


def test_live_exception_was_approved_before_the_last_scan(story):
    _, built_at = story
    # The last demo scan is dated one day back at 06:00: the approval must come before it.
    last_scan_at = (built_at - dt.timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    assert _exception("ssh_key_rotation").reviewed_at < last_scan_at


def test_false_positive_is_within_the_thirty_day_window(story):
    _, built_at = story
    assert _exception("sg_default_restricts_all").expires_at < built_at + dt.timedelta(days=30)


def test_covered_findings_show_the_accepted_risk(story):
    finding = Finding.objects.get(check_id="rds_storage_encrypted")
    assert finding.triage_state == Finding.TriageState.RISK_ACCEPTED


def test_one_proposal_waits_for_review(story):
    assert _exception("security_group_count").state == FindingException.State.PROPOSED


def test_root_findings_are_assigned_to_the_analyst(story):
    assignees = set(
        Finding.objects.filter(check_id__in=["root_mfa", "root_access_keys"]).values_list(
            "assignee__username", flat=True
        )
    )
    assert assignees == {ANALYST_USERNAME}


def test_root_mfa_is_in_progress(story):
    assert Finding.objects.get(check_id="root_mfa").triage_state == Finding.TriageState.IN_PROGRESS


def test_open_ports_are_acknowledged(story):
    finding = Finding.objects.get(check_id="sg_well_known_ports_open")
    assert finding.triage_state == Finding.TriageState.ACKNOWLEDGED
