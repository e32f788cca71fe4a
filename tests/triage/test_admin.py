from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from posture.models import Finding, FindingEvent
from tests.factories import UserFactory
from tests.triage.conftest import CHECK, fail, rescan
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def proposal(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    return services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Lab",
        expires_at=timezone.now() + dt.timedelta(days=9),
        check_id=CHECK,
    )


def run_action(client: Client, action: str, exception: FindingException):
    return client.post(
        reverse("admin:triage_findingexception_changelist"),
        {"action": action, "_selected_action": [exception.pk]},
        follow=True,
    )


def test_admin_approve_action_applies(superuser_client, proposal):
    run_action(superuser_client, "approve", proposal)
    proposal.refresh_from_db()
    assert proposal.state == FindingException.State.APPROVED
    assert Finding.objects.get().exception_id == proposal.pk


def test_admin_action_reports_denial(fake_checks, account):
    """The author may not approve their own proposal, in the admin either."""
    author = UserFactory(username="root", is_superuser=True, is_staff=True)
    exception = services.exception_propose(
        user=author,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="Wrong",
        check_id=CHECK,
    )
    client = Client()
    client.force_login(author)
    response = run_action(client, "approve", exception)
    exception.refresh_from_db()
    assert exception.state == FindingException.State.PROPOSED
    assert f"You proposed exception {exception.pk}" in response.content.decode()


def test_admin_delete_restores_findings(superuser_client, proposal, admin_user):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    superuser_client.post(
        reverse("admin:triage_findingexception_delete", args=[proposal.pk]), {"post": "yes"}, follow=True
    )
    assert not FindingException.objects.exists()
    assert Finding.objects.get().exception is None
    assert FindingEvent.objects.filter(kind=FindingEvent.Kind.EXCEPTION_REMOVED).count() == 1


def test_admin_has_no_add_page(superuser_client):
    response = superuser_client.get(reverse("admin:triage_findingexception_add"))
    assert response.status_code == 403
