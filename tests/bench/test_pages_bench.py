"""The pages benchmark's history builder and measuring code, on a tiny history (no timing asserts)."""

from __future__ import annotations

import sys
from collections import Counter

import pytest
from django.urls import reverse

from bench import pages_bench
from bench.pages_history import HistoryBuilder
from posture import services
from posture.checks.base import Status
from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot

pytestmark = pytest.mark.django_db

ACCOUNTS = 2
SCANS = 3
RESOURCES = 20
AREAS = 5


def history(**overrides) -> HistoryBuilder:
    options = {
        "accounts": ACCOUNTS,
        "scans": SCANS,
        "resources": RESOURCES,
        "changes": 2,
        "turnover": 1,
        "failure_every": 0,
        "seed": 7,
    }
    options.update(overrides)
    builder = HistoryBuilder(**options)
    builder.build_first()
    builder.build_history()
    return builder


def snapshot_values(scan: Scan) -> list[tuple]:
    return list(
        ScoreSnapshot.objects.filter(scan=scan)
        .order_by("account_id", "area")
        .values_list(
            "account_id",
            "area",
            "numerator",
            "raw_numerator",
            "denominator",
            "results_expected",
            "results_decided",
            "passed",
            "failed",
            "not_applicable",
        )
    )


def test_history_row_counts():
    history()
    assert Scan.objects.count() == SCANS
    assert AccountScan.objects.count() == SCANS * ACCOUNTS
    assert ScoreSnapshot.objects.count() == SCANS * ACCOUNTS * AREAS
    assert Finding.objects.filter(is_current=True).count() == ACCOUNTS * RESOURCES


def test_history_retires_and_creates():
    history()
    assert Finding.objects.filter(is_current=False).count() == (SCANS - 1) * ACCOUNTS
    assert FindingEvent.objects.filter(kind=FindingEvent.Kind.GONE).count() == (SCANS - 1) * ACCOUNTS


def test_history_snapshots_match_services():
    history()
    latest = Scan.objects.order_by("-scanned_at").first()
    stored = snapshot_values(latest)
    services.snapshots_write(latest)
    assert snapshot_values(latest) == stored


def test_history_check_counts_match_findings():
    history()
    latest = Scan.objects.order_by("-scanned_at").first()
    fields = {Status.PASS: "passed", Status.FAIL: "failed", Status.NOT_APPLICABLE: "not_applicable"}
    expected = Counter()
    for account_id, check_id, status in Finding.objects.filter(is_current=True).values_list(
        "account_id", "check_id", "status"
    ):
        expected[(account_id, check_id, fields[status])] += 1
    stored = Counter()
    for row in CheckCount.objects.filter(scan=latest):
        for name in fields.values():
            if getattr(row, name):
                stored[(row.account_id, row.check_id, name)] = getattr(row, name)
    assert stored == expected


def test_history_events_end_in_status():
    history(changes=6)
    latest_status = {}
    for finding_id, new_status in (
        FindingEvent.objects.exclude(new_status="")
        .order_by("created_at", "id")
        .values_list("finding_id", "new_status")
    ):
        latest_status[finding_id] = new_status
    current = dict(Finding.objects.values_list("id", "status"))
    assert latest_status == current


def test_history_flips_write_events():
    history(changes=6)
    kinds = set(
        FindingEvent.objects.exclude(scan__in=Scan.objects.order_by("scanned_at")[:1]).values_list(
            "kind", flat=True
        )
    )
    assert FindingEvent.Kind.RESOLVED in kinds
    assert FindingEvent.Kind.REOPENED in kinds


def test_history_triage_follows_status():
    history(changes=6)
    states = set(Finding.objects.values_list("status", "triage_state").distinct())
    assert states <= {
        (Status.FAIL, Finding.TriageState.OPEN),
        (Status.PASS, Finding.TriageState.RESOLVED),
        (Status.NOT_APPLICABLE, Finding.TriageState.RESOLVED),
    }


def test_history_failed_account():
    history(failure_every=2)
    failed = AccountScan.objects.get(state=AccountScan.State.FAILED)
    assert failed.scan.state == Scan.State.PARTIAL
    assert not ScoreSnapshot.objects.filter(
        scan=failed.scan, account=failed.account, denominator__gt=0
    ).exists()


def test_history_rejects_too_few_resources():
    with pytest.raises(SystemExit, match="--resources=3 is too small"):
        HistoryBuilder(accounts=1, scans=1, resources=3)


def test_measure_pages_answer():
    history()
    targets = [target for target in pages_bench.targets_for_database() if not target.follow_next]
    figures = pages_bench.pages_measure(targets, repeat=1, export_repeat=1)
    assert {figure.name: figure.status for figure in figures} == {target.name: 200 for target in targets}


def test_measure_counts_queries():
    history()
    target = pages_bench.PageTarget("overview", reverse("posture:overview"))
    [figure] = pages_bench.pages_measure([target], repeat=2, export_repeat=1)
    assert figure.queries > 0
    assert figure.median_ms is not None


def test_measure_reads_whole_export():
    history()
    target = pages_bench.PageTarget("export", reverse("posture:finding-export-csv"), streaming=True)
    [figure] = pages_bench.pages_measure([target], repeat=1, export_repeat=1)
    assert figure.response_bytes > ACCOUNTS * RESOURCES * 50


def test_next_page_url_rel():
    html = '<nav><a href="?after=abc&amp;status=FAIL" rel="next">Later</a></nav>'
    assert pages_bench.next_page_url("/findings/?status=FAIL", html) == "/findings/?after=abc&status=FAIL"


def test_next_page_url_text():
    html = '<a href="?page=1">Previous</a> <a href="?page=3">Next →</a>'
    assert pages_bench.next_page_url("/findings/?page=2", html) == "/findings/?page=3"


def test_next_page_url_missing():
    assert pages_bench.next_page_url("/findings/", "<p>No more.</p>") is None


def test_launcher_measures_child_alone():
    launcher = pages_bench.Launcher()
    try:
        small = launcher.run([sys.executable, "-c", "pass"], env={})
        large = launcher.run([sys.executable, "-c", "block = bytearray(96 * 1024 * 1024)"], env={})
    finally:
        launcher.close()
    assert large["maxrss_kb"] >= 96 * 1024
    assert small["maxrss_kb"] < large["maxrss_kb"]


def test_report_flags_slow_growth():
    page = {"name": "overview", "status": 200, "median_ms": 100.0, "queries": 10, "note": ""}
    single = {"pages": [dict(page, median_ms=50.0)], "export_process": {}}
    table = pages_bench.report_table(single, {"pages": [page], "export_process": {}})
    assert "| overview | 50 | 100 | 2.00 | 10 | NO |" in table


def test_report_accepts_steady_page():
    page = {"name": "overview", "status": 200, "median_ms": 60.0, "queries": 10, "note": ""}
    single = {"pages": [dict(page, median_ms=50.0)], "export_process": {}}
    table = pages_bench.report_table(single, {"pages": [page], "export_process": {}})
    assert "| overview | 50 | 60 | 1.20 | 10 | yes |" in table


def test_database_url_must_be_postgres():
    with pytest.raises(SystemExit, match="is not a PostgreSQL URL"):
        pages_bench.database_prepare("sqlite:///tmp/bench.sqlite3", reuse=False)


def test_rank_index_matches_list_order():
    from posture.models import FINDING_SEVERITY_RANK, FINDING_STATUS_RANK
    from posture.selectors.findings import SEVERITY_RANK, STATUS_RANK

    assert (FINDING_STATUS_RANK, FINDING_SEVERITY_RANK) == (STATUS_RANK, SEVERITY_RANK)


def test_rank_index_serves_list():
    from django.db import connection

    from posture.selectors import findings as finding_selectors

    if connection.vendor != "postgresql":
        pytest.skip("the planner check needs PostgreSQL")
    history()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = finding_selectors.finding_list()[:51].explain()
    assert "finding_current_rank" in plan


def test_bulk_filters_pick_smallest_enough(monkeypatch):
    history()
    monkeypatch.setattr(pages_bench, "BULK_TARGET_FINDINGS", 5)
    filters, count = pages_bench.bulk_filters()
    assert count >= 5
    assert filters


def test_bulk_measure_changes_matching(monkeypatch):
    history()
    monkeypatch.setattr(pages_bench, "BULK_TARGET_FINDINGS", 5)
    figures = pages_bench.bulk_measure()
    assert (figures["review_status"], figures["confirm_status"]) == (200, 200)
    assert figures["changed"] == figures["matching"]


def test_bulk_report_flags_slow_confirm():
    figures = {
        "filters": "area=access",
        "matching": 10,
        "state": "acknowledged",
        "review_seconds": 0.1,
        "review_status": 200,
        "confirm_seconds": 3.0,
        "confirm_status": 200,
        "changed": 10,
    }
    assert "OVER TARGET" in pages_bench.bulk_report(figures).splitlines()[2]
