"""The demo stays meaningful: across its three accounts, every check passes somewhere and fails somewhere.

The accounts are seeded in-process (moto's `mock_aws`) and judged by the real collectors and checks,
exactly as a scan does. A new check without demo data fails here, and so does a seed change that
removes the last failing or passing resource of a check.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from django.test import override_settings
from django.utils import timezone
from moto import mock_aws

from posture import engine
from posture.checks.base import Status, registry
from sandbox import patches
from sandbox.demo_accounts import DEMO_ACCOUNTS, seed_demo
from sandbox.timeline import TIMELINE

CHECK_IDS = sorted(registry())


@pytest.fixture(scope="module")
def demo_world():
    """Seed the demo accounts once; yield (administrator clients, statuses per check id, results)."""
    now = timezone.now()
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_demo(endpoint_url=None, now=now)
        statuses: dict[str, set[str]] = defaultdict(set)
        results = []
        for account in DEMO_ACCOUNTS:
            outcome = engine.account_scan(
                account_id=account.account_id,
                role_arn=account.role_arn,
                external_id=account.external_id,
                partition="aws",
                configured_regions=list(account.regions),
                thresholds={},
                now=now,
            )
            results.extend(outcome.results)
            for result in outcome.results:
                statuses[result.check_id].add(result.status)
        yield clients, statuses, results


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_passes_somewhere(demo_world, check_id):
    _, statuses, _ = demo_world
    assert Status.PASS in statuses[check_id], f"{check_id} gave only {sorted(statuses[check_id])}"


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_fails_somewhere(demo_world, check_id):
    _, statuses, _ = demo_world
    assert Status.FAIL in statuses[check_id], f"{check_id} gave only {sorted(statuses[check_id])}"


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("check_id", [check_id for check_id, d in registry().items() if d.thresholds])
def test_evidence_carries_thresholds(demo_world, check_id):
    _, _, results = demo_world
    names = {t.name for t in registry()[check_id].thresholds}
    decided = [r for r in results if r.check_id == check_id and r.status in (Status.PASS, Status.FAIL)]
    assert decided
    for result in decided:
        assert names <= _keys(result.evidence), f"{result.resource_id}: {sorted(result.evidence)}"


def test_evidence_is_json_without_secrets(demo_world):
    _, _, results = demo_world
    secret_fields = {"SecretAccessKey", "SessionToken", "Base32StringSeed", "QRCodePNG", "Password"}
    for result in results:
        json.dumps(result.evidence)
        assert not secret_fields & _keys(result.evidence), result.resource_id


def test_timeline_changes_apply(demo_world):
    """Every change between the demo's scans goes through against the seeded accounts."""
    clients, _, _ = demo_world
    with override_settings(AWS_ENDPOINT_URL=""):
        applied = []
        for entry in TIMELINE:
            for change in entry.changes:
                change.apply(clients[change.account.account_id])
                applied.append(change.summary)
    assert len(applied) == sum(len(entry.changes) for entry in TIMELINE)


def test_timeline_notes_fit_the_column():
    for entry in TIMELINE:
        assert len(entry.note()) <= 200, entry.note()


def test_timeline_dates_go_forward():
    days_back = [entry.days_back for entry in TIMELINE]
    assert days_back == sorted(days_back, reverse=True)
