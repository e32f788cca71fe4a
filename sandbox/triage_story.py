"""The demo's triage: people, the exceptions they proposed and approved, and the work in progress.

Everything goes through the triage services, as the browser would, so the demo shows what a real
team's history looks like:

- an accepted risk approved a month ago that expired ten days ago, so the headline score and the
  raw score run apart for two scans and meet again, with "exception expired" events;
- an accepted risk and a false positive that are valid now, so the two lines differ today;
- an accepted risk, counted by the last scan, that expires minutes after the demo is built (the
  demo command expires exceptions every minute while it serves), so a user can watch the headline
  score fall to the raw score;
- a proposal that waits for an admin's review, and findings assigned and in progress.

Steps in the past run between the back-dated scans, at the time they stand for; the rest run when
the history is built.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts import roles
from posture.models import Finding
from sandbox.demo_accounts import LOG_ARCHIVE, PRODUCTION, STAGING
from triage import services
from triage.models import FindingException

ADMIN_USERNAME = "demo"
ANALYST_USERNAME = "analyst"
MANAGER_USERNAME = "manager"
# How long after the demo is built the short-lived accepted risk expires.
LIVE_EXPIRY = dt.timedelta(minutes=10)
# Time between a proposal and its approval in the back-dated history.
APPROVAL_DELAY = dt.timedelta(hours=3)

RISK_ACCEPTED = FindingException.Kind.RISK_ACCEPTED
FALSE_POSITIVE = FindingException.Kind.FALSE_POSITIVE


@dataclass(frozen=True)
class People:
    admin: object
    analyst: object
    manager: object


def people_create(*, password: str) -> People:
    """Create the demo's admin (staff, for the Django admin), analyst and manager (viewer)."""
    users = get_user_model().objects

    def member(username: str, role: str, *, staff: bool = False):
        user = users.create_user(username=username, password=password, is_staff=staff)
        # The role groups come from a migration; get_or_create keeps the demo working without it.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return People(
        admin=member(ADMIN_USERNAME, roles.ADMIN, staff=True),
        analyst=member(ANALYST_USERNAME, roles.ANALYST),
        manager=member(MANAGER_USERNAME, roles.VIEWER),
    )


@dataclass(frozen=True)
class TriageStep:
    """Something people did `days_back` days before the demo was built (None: when it is built).

    `apply` takes the people, the time the step stands for and the time the demo is built.
    """

    days_back: float | None
    summary: str
    apply: Callable[[People, dt.datetime, dt.datetime], None]

    def at(self, today: dt.datetime) -> dt.datetime:
        return today if self.days_back is None else today - dt.timedelta(days=self.days_back)


def _rule(
    people: People,
    when: dt.datetime,
    *,
    kind: str,
    account_id: str,
    check_id: str,
    reason: str,
    expires_at: dt.datetime | None,
    approve: str | None,
) -> FindingException:
    """Have the analyst propose a rule and, when `approve` is a comment, the admin approve it
    APPROVAL_DELAY later."""
    exception = services.exception_propose(
        user=people.analyst,
        kind=kind,
        reason=reason,
        expires_at=expires_at,
        check_id=check_id,
        account_id=account_id,
        now=when,
    )
    # created_at is set by the database; back-date it to the time the step stands for.
    FindingException.objects.filter(pk=exception.pk).update(created_at=when)
    if approve is not None:
        services.exception_approve(
            user=people.admin,
            exception_id=exception.pk,
            comment=approve,
            now=when + APPROVAL_DELAY,
        )
    return exception


def _elb_logging_accepted(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    _rule(
        people,
        when,
        kind=RISK_ACCEPTED,
        account_id=PRODUCTION.account_id,
        check_id="elb_access_logging",
        reason="The CDN in front of the legacy load balancer keeps request logs for 400 days; "
        "ELB access logs would duplicate them until the balancer is retired.",
        expires_at=when + dt.timedelta(days=21),
        approve="Approved until the retirement date of the Classic Load Balancer.",
    )


def _exceptions_expire(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    services.exceptions_expire(now=when)


def _staging_rds_accepted(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    _rule(
        people,
        when,
        kind=RISK_ACCEPTED,
        account_id=STAGING.account_id,
        check_id="rds_storage_encrypted",
        reason="The staging database holds generated test data only. It is rebuilt encrypted in "
        "the migration planned for next quarter.",
        expires_at=when + dt.timedelta(days=60),
        approve="Approved for 60 days; the data is synthetic.",
    )


def _log_archive_default_group_false_positive(
    people: People, when: dt.datetime, built_at: dt.datetime
) -> None:
    _rule(
        people,
        when,
        kind=FALSE_POSITIVE,
        account_id=LOG_ARCHIVE.account_id,
        check_id="sg_default_restricts_all",
        reason="An organization policy denies attaching the default security group in this "
        "account, so its rules cannot reach any resource.",
        expires_at=when + dt.timedelta(days=25),
        approve="Confirmed the service control policy in the organization.",
    )


def _production_ssh_keys_live_expiry(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    _rule(
        people,
        when,
        kind=RISK_ACCEPTED,
        account_id=PRODUCTION.account_id,
        check_id="ssh_key_rotation",
        reason="The deployment SSH keys rotate with today's release; accepted until then.",
        expires_at=built_at + LIVE_EXPIRY,
        approve="Approved until the release window closes.",
    )


def _staging_security_groups_proposed(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    _rule(
        people,
        when,
        kind=RISK_ACCEPTED,
        account_id=STAGING.account_id,
        check_id="security_group_count",
        reason="Each feature branch gets its own staging environment with its own security "
        "groups; the count falls when the branches merge.",
        expires_at=when + dt.timedelta(days=90),
        approve=None,
    )


def _staging_findings_triaged(people: People, when: dt.datetime, built_at: dt.datetime) -> None:
    """Assign staging's root findings to the analyst, one in progress, with comments."""
    staging = Finding.objects.filter(account__account_id=STAGING.account_id, status="FAIL", is_current=True)
    for finding in staging.filter(check_id__in=("root_mfa", "root_access_keys")):
        services.finding_assign(
            user=people.admin,
            finding_id=finding.pk,
            assignee=people.analyst,
            comment="Root credentials of staging: please take these two.",
        )
    for finding in staging.filter(check_id="root_mfa"):
        services.finding_state_set(
            user=people.analyst,
            finding_id=finding.pk,
            state=Finding.TriageState.IN_PROGRESS,
            comment="A hardware MFA token for the root user is ordered.",
        )
    ids = list(staging.filter(check_id="sg_well_known_ports_open").values_list("pk", flat=True))
    if ids:
        services.findings_bulk_triage(
            user=people.analyst,
            finding_ids=ids,
            state=Finding.TriageState.ACKNOWLEDGED,
            comment="Owners asked to close these ports this week.",
        )


# Back-dated steps fall between the scans of sandbox.timeline (31, 22, 15, 8 and 1 days back).
TRIAGE_STEPS = (
    TriageStep(30.5, "accepted risk: ELB access logs in production, 21 days", _elb_logging_accepted),
    TriageStep(9.5, "exceptions past their expiry expire", _exceptions_expire),
    TriageStep(7.5, "accepted risk: staging database encryption, 60 days", _staging_rds_accepted),
    TriageStep(
        7.4, "false positive: log archive default security group", _log_archive_default_group_false_positive
    ),
    # Approved before the last scan, so that scan's headline score counts it until it expires.
    TriageStep(
        2, "accepted risk until minutes after the demo starts: SSH keys", _production_ssh_keys_live_expiry
    ),
    TriageStep(
        None, "proposal waiting for review: staging security group count", _staging_security_groups_proposed
    ),
    TriageStep(
        None,
        "staging root findings assigned, root MFA in progress, open ports acknowledged",
        _staging_findings_triaged,
    ),
)
