"""Every triage and exception service for anonymous, no role, viewer, analyst, author and admin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from accounts.roles import ADMIN, ANALYST, can_triage
from posture.models import Finding, FindingEvent
from tests.factories import FindingFactory, UserFactory
from tests.triage.conftest import CHECK
from triage import selectors, services
from triage.models import FindingException
from triage.mutelist import mutelist_import

pytestmark = pytest.mark.django_db

RISK = FindingException.Kind.RISK_ACCEPTED
MUTELIST = """
Mutelist:
  Accounts:
    "111111111111":
      Checks:
        "*":
          Regions: ["us-east-1"]
          Resources: ["scratch"]
"""


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


@pytest.fixture
def finding(fake_checks):
    return FindingFactory(check_id=CHECK)


@pytest.fixture
def users(db):
    return {
        "none": None,
        "anonymous": AnonymousUser(),
        "no role": UserFactory(username="norole"),
        "viewer": UserFactory(username="reader", roles=["viewer"]),
        "analyst": UserFactory(username="triager", roles=[ANALYST]),
        "admin": UserFactory(username="boss", roles=[ADMIN]),
        "superuser": UserFactory(username="root", is_superuser=True),
    }


DENIED_TRIAGE = ["none", "anonymous", "no role", "viewer"]
ALLOWED_TRIAGE = ["analyst", "admin", "superuser"]


def triage_calls(finding: Finding, assignee) -> dict:
    return {
        "state": lambda user: services.finding_state_set(
            user=user, finding_id=finding.pk, state=Finding.TriageState.ACKNOWLEDGED
        ),
        "assign": lambda user: services.finding_assign(user=user, finding_id=finding.pk, assignee=assignee),
        "comment": lambda user: services.finding_comment(
            user=user, finding_id=finding.pk, text="Looked at it"
        ),
        "bulk": lambda user: services.findings_bulk_triage(
            user=user, finding_ids=[finding.pk], state=Finding.TriageState.IN_PROGRESS
        ),
        "propose": lambda user: services.exception_propose(
            user=user, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
        ),
        "propose listed": lambda user: services.exception_propose(
            user=user, kind=RISK, reason="Lab", expires_at=in_days(9), finding_ids=[finding.pk]
        ),
        "import": lambda user: mutelist_import(user=user, text=MUTELIST, reason="Lab", expires_at=in_days(9)),
    }


CALLS = ["state", "assign", "comment", "bulk", "propose", "propose listed", "import"]


@pytest.mark.parametrize("who", DENIED_TRIAGE)
@pytest.mark.parametrize("call", CALLS)
def test_triage_denied(finding, users, who, call):
    with pytest.raises(PermissionDenied):
        triage_calls(finding, users["analyst"])[call](users[who])
    assert not FindingEvent.objects.exists()
    assert not FindingException.objects.exists()


@pytest.mark.parametrize("who", ALLOWED_TRIAGE)
@pytest.mark.parametrize("call", CALLS)
def test_triage_allowed(finding, users, who, call):
    triage_calls(finding, users["analyst"])[call](users[who])
    assert FindingEvent.objects.exists() or FindingException.objects.exists()


@pytest.fixture
def proposal(fake_checks, users):
    return services.exception_propose(
        user=users["admin"], kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )


REVIEWS = {
    "approve": lambda user, pk: services.exception_approve(user=user, exception_id=pk),
    "reject": lambda user, pk: services.exception_reject(user=user, exception_id=pk, comment="No"),
}


@pytest.mark.parametrize("who", ["none", "anonymous", "no role", "viewer", "analyst", "admin"])
@pytest.mark.parametrize("review", sorted(REVIEWS))
def test_review_denied(proposal, users, who, review):
    """ "admin" proposed the exception, so they may not review it either."""
    with pytest.raises(PermissionDenied):
        REVIEWS[review](users[who], proposal.pk)
    proposal.refresh_from_db()
    assert proposal.state == FindingException.State.PROPOSED


def test_author_review_message(proposal, users):
    with pytest.raises(PermissionDenied, match=f"You proposed exception {proposal.pk}"):
        services.exception_approve(user=users["admin"], exception_id=proposal.pk)


@pytest.mark.parametrize("review", sorted(REVIEWS))
def test_review_by_other_admin(proposal, users, review):
    exception = REVIEWS[review](users["superuser"], proposal.pk)
    assert exception.state != FindingException.State.PROPOSED


@pytest.fixture
def approved(proposal, users):
    return services.exception_approve(user=users["superuser"], exception_id=proposal.pk)


SWITCHES = {
    "disable": lambda user, pk: services.exception_disable(user=user, exception_id=pk),
    "delete": lambda user, pk: services.exception_delete(user=user, exception_id=pk),
}


@pytest.mark.parametrize("who", ["none", "anonymous", "no role", "viewer", "analyst"])
@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_switch_denied(approved, users, who, switch):
    with pytest.raises(PermissionDenied):
        SWITCHES[switch](users[who], approved.pk)
    approved.refresh_from_db()
    assert approved.enabled


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_switch_by_admin(approved, users, switch):
    SWITCHES[switch](users["admin"], approved.pk)
    assert not FindingException.objects.filter(pk=approved.pk, enabled=True).exists()


@pytest.mark.parametrize("who", ["none", "anonymous", "no role", "viewer", "analyst"])
def test_enable_denied(approved, users, who):
    services.exception_disable(user=users["admin"], exception_id=approved.pk)
    with pytest.raises(PermissionDenied):
        services.exception_enable(user=users[who], exception_id=approved.pk)
    approved.refresh_from_db()
    assert not approved.enabled


def test_author_cannot_delete_approved(fake_checks, users):
    analyst = users["analyst"]
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    services.exception_approve(user=users["admin"], exception_id=proposed.pk)
    with pytest.raises(PermissionDenied, match="only while it is proposed"):
        services.exception_delete(user=analyst, exception_id=proposed.pk)
    assert FindingException.objects.filter(pk=proposed.pk).exists()


def test_other_analyst_cannot_withdraw(fake_checks, users):
    proposed = services.exception_propose(
        user=users["analyst"], kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    other = UserFactory(username="analyst-b", roles=[ANALYST])
    with pytest.raises(PermissionDenied):
        services.exception_delete(user=other, exception_id=proposed.pk)
    assert FindingException.objects.filter(pk=proposed.pk).exists()


# Reads: a user without a role reads nothing.
@pytest.mark.parametrize("who", ["none", "anonymous", "no role"])
def test_finding_hidden_without_role(finding, users, who):
    with pytest.raises(Http404):
        selectors.finding_get(user=users[who], pk=finding.pk)


def test_finding_visible_to_viewer(finding, users):
    assert selectors.finding_get(user=users["viewer"], pk=finding.pk) == finding


@pytest.mark.parametrize("who", ["none", "anonymous", "no role"])
def test_exception_hidden_without_role(proposal, users, who):
    with pytest.raises(Http404):
        selectors.exception_get(user=users[who], pk=proposal.pk)


def test_exception_list_empty_without_role(proposal, users):
    assert not selectors.exception_list(user=users["no role"]).exists()


def test_exceptions_expiring_lists_soon_ones(approved, users):
    assert list(selectors.exceptions_expiring(user=users["viewer"])) == [approved]
    assert not selectors.exceptions_expiring(user=users["viewer"], within_days=5).exists()


@pytest.mark.parametrize(("who", "expected"), [("none", False), ("viewer", False), ("analyst", True)])
def test_can_triage(users, who, expected):
    assert can_triage(users[who]) is expected
