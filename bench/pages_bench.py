"""Benchmark the dashboard pages on a year of history: median server time and the CSV export's peak RSS.

    .venv/bin/python bench/pages_bench.py                      # 50 accounts, 365 scans, 2,000 resources
    .venv/bin/python bench/pages_bench.py --accounts 5 --scans 30 --resources 500
    .venv/bin/python bench/pages_bench.py --keep --json result.json --explain 3

The script uses the PostgreSQL database in DATABASE_URL, or creates one on 127.0.0.1:5432 and drops
it at the end. It stores the first scan of every account through the services a scan uses and
measures every page on that single-scan database. Then it adds the rest of the history, measures
again and prints both medians with their ratio. docs/benchmarks.md describes exactly what is
written and how.

Pages are requested in-process through Django's test client, logged in as a viewer, so the time
covers the middleware, the view, its queries and the template, but no socket. The CSV export is also
run in a separate process started by a small launcher, so its peak RSS is its own.

Last, on the database with history, an analyst's bulk triage goes through the findings page's bulk
endpoint as the browser sends it. The selection is "select all matching" for the filter with the
fewest matching findings of at least 10,000. The review POST only counts, then the confirmed POST
changes their state and comments on each. The target, 2 s per 10,000 findings, scales with the
count. --no-triage skips it. The cost of exception rules during a scan is measured by
bench/triage_bench.py --scan.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "backup_posture_pages_bench"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
# Targets from the dashboard's requirements: a page within 1.5 times its single-scan median and
# under 300 ms on a 2-core machine, and the export under 150 MB peak RSS.
MAX_RATIO = 1.5
MAX_PAGE_MS = 300.0
MAX_EXPORT_RSS_MB = 150.0
# The deep page of the findings list, reached by following its "next" link from the first page
# (the page size is the view's own).
FINDINGS_DEEP_PAGE = 200
DEEP_PAGE_FILTERS = {"status": "FAIL"}
# The bulk triage measure: how many findings it aims at, and its target from the triage requirements.
BULK_TARGET_FINDINGS = 10_000
MAX_BULK_SECONDS = 2.0
ANALYST_USERNAME = "bench-analyst"


# Linux keeps a process's peak RSS across fork and exec, so a child started from this (large)
# process would report this process's peak. Children are therefore started by this launcher,
# itself started while the benchmark process is still small. It reads one JSON request per line
# and writes one JSON result per line.
_LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    request = json.loads(line)
    started = time.monotonic()
    process = subprocess.Popen(request["argv"], cwd=request["cwd"], env=request["env"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    print(json.dumps({"wall": time.monotonic() - started, "maxrss_kb": usage.ru_maxrss,
                      "exit_code": os.waitstatus_to_exitcode(status), "output": output}), flush=True)
"""


class Launcher:
    """Runs commands in processes whose peak RSS is their own (see _LAUNCHER)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str], env: dict[str, str]) -> dict:
        """Run `argv` to its end; return wall seconds, peak RSS in kB, exit code and output."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"argv": argv, "cwd": str(ROOT), "env": env}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


# Database.
@dataclass
class Database:
    url: str
    name: str
    created: bool


def _server_url(url: str) -> tuple[str, str]:
    """Split a PostgreSQL URL into (URL of the `postgres` maintenance database, database name)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"DATABASE_URL={url!r} is not a PostgreSQL URL; the benchmark needs PostgreSQL.")
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"DATABASE_URL={url!r} names no database; add /<name> at its end.")
    return urlunsplit(parts._replace(path="/postgres")), name


def database_prepare(url: str, *, reuse: bool) -> Database:
    """Create the database named by `url` unless it exists; an existing one must hold no findings.

    With `reuse`, the database must exist and is measured as it is.
    """
    import psycopg

    server, name = _server_url(url)
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if reuse and not exists:
            raise SystemExit(f"--reuse: the database {name!r} does not exist. Run once with --keep first.")
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            return Database(url=url, name=name, created=True)
    if not reuse:
        with psycopg.connect(url) as connection:
            has_table = connection.execute("SELECT to_regclass('posture_finding') IS NOT NULL").fetchone()[0]
            has_findings = (
                has_table
                and connection.execute("SELECT EXISTS (SELECT 1 FROM posture_finding)").fetchone()[0]
            )
            if has_findings:
                raise SystemExit(
                    f"The database {name!r} already contains findings. Drop it, point DATABASE_URL at an "
                    "empty database, or pass --reuse to measure it as it is."
                )
    return Database(url=url, name=name, created=False)


def database_drop(database: Database) -> None:
    import psycopg

    server, _ = _server_url(database.url)
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def database_analyze() -> None:
    """VACUUM ANALYZE every table, so the planner has statistics as autovacuum would give it."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG only spares the benchmark a secret key; requests run with DEBUG off (see _production_like).
    os.environ["DJANGO_DEBUG"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("CELERY_BROKER_URL", None)
    # WhiteNoise warns that collectstatic has not run; the benchmark serves no static file.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    import django

    django.setup()


# Measurement.
@dataclass
class PageTarget:
    """A page to measure: a name for the table and how to reach its URL."""

    name: str
    url: str
    # Follow the page's "next" link this many times before timing, for deep keyset pages.
    follow_next: int = 0
    streaming: bool = False


@dataclass
class PageFigures:
    name: str
    url: str
    status: int
    median_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    repeat: int = 0
    queries: int | None = None
    response_bytes: int | None = None
    note: str = ""


def page_targets(*, check_id: str, area: str) -> list[PageTarget]:
    """Return the pages to measure: overview, an area, a check, two findings pages, the CSV export."""
    from urllib.parse import urlencode

    from django.urls import reverse

    return [
        PageTarget("overview", reverse("posture:overview")),
        PageTarget(f"area ({area})", reverse("posture:area-detail", args=[area])),
        PageTarget(f"check ({check_id})", reverse("posture:check-detail", args=[check_id])),
        PageTarget("findings, first page", reverse("posture:finding-list")),
        PageTarget(
            f"findings, page {FINDINGS_DEEP_PAGE} ({urlencode(DEEP_PAGE_FILTERS)})",
            f"{reverse('posture:finding-list')}?{urlencode(DEEP_PAGE_FILTERS)}",
            follow_next=FINDINGS_DEEP_PAGE - 1,
        ),
        PageTarget("CSV export, all findings", reverse("posture:finding-export-csv"), streaming=True),
    ]


class _NextLinkParser(HTMLParser):
    """Finds the href of the first link marked rel="next", or else of a link whose text starts with Next."""

    def __init__(self) -> None:
        super().__init__()
        self.rel_next: str | None = None
        self.text_next: str | None = None
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        attributes = dict(attrs)
        if "next" in (attributes.get("rel") or "").split() and self.rel_next is None:
            self.rel_next = attributes.get("href")
        self._href = attributes.get("href")

    def handle_data(self, data: str) -> None:
        if self._href and self.text_next is None and data.strip().lower().startswith("next"):
            self.text_next = self._href

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def next_page_url(current_url: str, html: str) -> str | None:
    parser = _NextLinkParser()
    parser.feed(html)
    href = parser.rel_next or parser.text_next
    return urljoin(current_url, href) if href else None


def _production_like():
    """Return the settings of measured requests: DEBUG off (no query log), the test client's host allowed."""
    from django.conf import settings
    from django.test import override_settings

    return override_settings(DEBUG=False, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"])


def request_once(client, url: str) -> tuple[int, float, int, int, object]:
    """GET `url`, reading a streaming body to its end.

    Returns (status, seconds, body bytes, body lines, response).
    """
    started = time.perf_counter()
    response = client.get(url)
    if response.streaming:
        size = lines = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
    else:
        size = len(response.content)
        lines = response.content.count(b"\n")
    return response.status_code, time.perf_counter() - started, size, lines, response


def page_measure(client, target: PageTarget, *, repeat: int, warmup: int = 2) -> PageFigures:
    """Time `repeat` requests of one page after `warmup` untimed ones; count the queries of one more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = target.url
    for step in range(target.follow_next):
        status, _, _, _, response = request_once(client, url)
        following = next_page_url(url, response.content.decode()) if status == 200 else None
        if following is None:
            return PageFigures(
                target.name, url, status, note=f"no next link after {step + 1} page(s) (status {status})"
            )
        url = following

    status, _, size, _, _ = request_once(client, url)
    if status != 200:
        return PageFigures(target.name, url, status, note="the page did not answer 200")
    for _ in range(max(warmup - 1, 0)):
        request_once(client, url)
    timings = []
    for _ in range(repeat):
        _, seconds, size, _, _ = request_once(client, url)
        timings.append(seconds * 1000)
    with CaptureQueriesContext(connection) as captured:
        request_once(client, url)
    return PageFigures(
        name=target.name,
        url=url,
        status=status,
        median_ms=statistics.median(timings),
        min_ms=min(timings),
        max_ms=max(timings),
        repeat=repeat,
        queries=len(captured.captured_queries),
        response_bytes=size,
    )


def pages_measure(targets: list[PageTarget], *, repeat: int, export_repeat: int) -> list[PageFigures]:
    from django.test import Client

    from bench.pages_history import viewer_create

    user = viewer_create()
    client = Client(raise_request_exception=True)
    client.force_login(user)
    figures = []
    with _production_like():
        for target in targets:
            repeats = export_repeat if target.streaming else repeat
            try:
                # One untimed request of the export is warm-up enough; it takes seconds.
                warmup = 1 if target.streaming else 2
                figures.append(page_measure(client, target, repeat=repeats, warmup=warmup))
            except Exception as exc:  # noqa: BLE001 - a broken page is reported, the others still measured
                figures.append(PageFigures(target.name, target.url, 500, note=f"{type(exc).__name__}: {exc}"))
    return figures


def pages_explain(targets: list[PageTarget], figures: list[PageFigures], *, slowest: int) -> str:
    """Return EXPLAIN (ANALYZE, BUFFERS) of the `slowest` queries of one request of each page."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.pages_history import viewer_create

    client = Client()
    client.force_login(viewer_create())
    report = []
    with _production_like():
        for target, measured in zip(targets, figures, strict=True):
            if measured.status != 200 or target.streaming:
                continue
            with CaptureQueriesContext(connection) as captured:
                client.get(measured.url)
            queries = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)
            for query in queries[:slowest]:
                if not query["sql"].lstrip().upper().startswith("SELECT"):
                    continue
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                report.append(
                    f"-- {target.name}: {float(query['time']) * 1000:.1f} ms\n{query['sql']}\n{plan}\n"
                )
    return "\n".join(report)


def export_child(url: str) -> int:
    """Run in the child process: request one export, read it to the end, print its figures as JSON."""
    from django.contrib.auth.models import User
    from django.test import Client

    from bench.pages_history import VIEWER_USERNAME

    client = Client()
    client.force_login(User.objects.get(username=VIEWER_USERNAME))
    with _production_like():
        status, seconds, size, lines, _ = request_once(client, url)
    print(json.dumps({"status": status, "seconds": round(seconds, 2), "bytes": size, "lines": lines}))
    return 0 if status == 200 else 1


def export_rss(launcher: Launcher, url: str, database_url: str) -> dict:
    """Run the export in its own process; return its status, time, size and peak RSS in MB."""
    env = dict(os.environ, DATABASE_URL=database_url)
    measured = launcher.run([sys.executable, str(Path(__file__).resolve()), "--export-child", url], env)
    lines = [line for line in measured["output"].splitlines() if line.startswith("{")]
    if measured["exit_code"] != 0 and not lines:
        return {"status": None, "peak_rss_mb": None, "output": measured["output"][-2000:]}
    figures = json.loads(lines[-1]) if lines else {}
    figures["peak_rss_mb"] = round(measured["maxrss_kb"] / 1024, 1)  # Linux reports kilobytes
    figures["process_seconds"] = round(measured["wall"], 2)
    return figures


# Report.
def targets_for_database() -> list[PageTarget]:
    """Pick the check with the most current findings, and its area, so those pages carry the most rows."""
    from django.db.models import Count

    from posture.models import Finding

    busiest = (
        Finding.objects.filter(is_current=True)
        .values("check_id", "area")
        .annotate(count=Count("id"))
        .order_by("-count", "check_id")
        .first()
    )
    if busiest is None:
        raise SystemExit("The database contains no current findings, so there is nothing to measure.")
    return page_targets(check_id=busiest["check_id"], area=busiest["area"])


def measure(targets: list[PageTarget], args: argparse.Namespace, launcher: Launcher, url: str) -> dict:
    figures = pages_measure(targets, repeat=args.repeat, export_repeat=args.export_repeat)
    export = next(target for target in targets if target.streaming)
    return {
        "pages": [vars(figure) for figure in figures],
        "export_process": export_rss(launcher, export.url, url),
    }


def bulk_filters() -> tuple[str, int]:
    """Return the filter query string and its count of current findings for the bulk measure.

    Candidates are one area, severity or check (all statuses, or FAIL only) and one environment.
    The smallest count of at least BULK_TARGET_FINDINGS wins, else the largest. Counts above the
    bulk limit are left out, because the endpoint rejects them.
    """
    from django.db.models import Count
    from django.http import QueryDict

    from posture.models import Finding
    from triage.selectors import BULK_MAX

    current = Finding.objects.filter(is_current=True)
    candidates: list[tuple[dict[str, str], int]] = []
    for extra, findings in (({}, current), ({"status": "FAIL"}, current.filter(status="FAIL"))):
        for field, name in (("area", "area"), ("severity", "severity"), ("check_id", "check")):
            for row in findings.values(field).annotate(count=Count("id")):
                candidates.append(({name: row[field], **extra}, row["count"]))
    for row in (
        current.exclude(account__environment="").values("account__environment").annotate(count=Count("id"))
    ):
        candidates.append(({"environment": row["account__environment"]}, row["count"]))
    usable = [(filters, count) for filters, count in candidates if 0 < count <= BULK_MAX]
    if not usable:
        raise SystemExit("No filter matches between 1 and the bulk limit of findings; nothing to triage.")
    enough = [item for item in usable if item[1] >= BULK_TARGET_FINDINGS]
    if enough:
        filters, count = min(enough, key=lambda item: item[1])
    else:
        filters, count = max(usable, key=lambda item: item[1])
    query = QueryDict(mutable=True)
    query.update(filters)
    return query.urlencode(), count


def analyst_create():
    """Create the user the bulk action is sent as: a member of the analyst group only."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import ANALYST

    user, _ = get_user_model().objects.get_or_create(username=ANALYST_USERNAME)
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    return user


def bulk_measure() -> dict:
    """Time the review and the confirmed POST of a bulk state change over about 10,000 findings."""
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from posture.models import Finding

    filters, matching = bulk_filters()
    client = Client(raise_request_exception=True)
    client.force_login(analyst_create())
    # The state most of them are not in yet, so a rerun on a kept database changes them again.
    states = dict(
        Finding.objects.filter(pk__in=_matching_ids(filters))
        .values_list("triage_state")
        .annotate(count=Count("id"))
    )
    state = "in_progress" if states.get("acknowledged", 0) > matching / 2 else "acknowledged"
    data = {
        "all_matching": "1",
        "filters": filters,
        "action": "triage",
        "state": state,
        "comment": "Bulk triage measured by bench/pages_bench.py.",
    }
    url = reverse("posture:finding-bulk")
    figures: dict = {"filters": filters, "matching": matching, "state": state}
    with _production_like():
        for step, extra in (("review", {}), ("confirm", {"confirm": "1"})):
            started = time.perf_counter()
            response = client.post(url, {**data, **extra}, headers={"HX-Request": "true"})
            figures[f"{step}_seconds"] = time.perf_counter() - started
            figures[f"{step}_status"] = response.status_code
    figures["changed"] = Finding.objects.filter(pk__in=_matching_ids(filters), triage_state=state).count()
    return figures


def _matching_ids(filters: str):
    from django.http import QueryDict

    from posture.forms import FindingFilterForm
    from posture.selectors import findings as finding_selectors

    form = FindingFilterForm(QueryDict(filters))
    form.is_valid()
    return finding_selectors.finding_list(**form.filters()).order_by().values("pk")


def bulk_report(figures: dict) -> str:
    """Return the bulk measure's lines. The target scales with the findings changed: 2 s per 10,000."""
    matching = figures["matching"]
    target = MAX_BULK_SECONDS * max(matching, 1) / BULK_TARGET_FINDINGS
    lines = [
        f"Bulk triage (analyst, select all matching {figures['filters']}: {matching:,} findings,"
        f" state to {figures['state']} with a comment)",
    ]
    for step in ("review", "confirm"):
        seconds = figures[f"{step}_seconds"]
        status = figures[f"{step}_status"]
        per_target = seconds * BULK_TARGET_FINDINGS / max(matching, 1)
        verdict = "ok" if seconds <= target and status == 200 else "OVER TARGET"
        lines.append(
            f"  {step:<8} HTTP {status}  {seconds:.2f} s, {per_target:.2f} s per {BULK_TARGET_FINDINGS:,}"
            f" findings (target {target:.1f} s) {verdict}"
        )
    lines.append(f"  findings now in that state: {figures['changed']:,}")
    return "\n".join(lines)


def row_counts() -> dict[str, int]:
    from django.db import connection

    from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot

    counts = {}
    for model in (Scan, AccountScan, Finding, FindingEvent, ScoreSnapshot, CheckCount):
        counts[model.__name__] = model.objects.count()
    counts["current findings"] = Finding.objects.filter(is_current=True).count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            counts["database MB"] = round(cursor.fetchone()[0] / 1024 / 1024)
    return counts


def machine() -> dict[str, str]:
    from django.db import connection

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if "model name" in line
            ),
            "",
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "python": sys.version.split()[0],
        "database": server,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def report_table(single: dict | None, history: dict) -> str:
    """Return a Markdown table: per page its single-scan and history medians, their ratio, the verdict."""
    baseline = {page["name"]: page for page in single["pages"]} if single else {}
    lines = [
        "| page | single scan median (ms) | history median (ms) | ratio | queries | target met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for page in history["pages"]:
        before = baseline.get(page["name"], {})
        ratio = None
        if page["median_ms"] and before.get("median_ms"):
            ratio = page["median_ms"] / before["median_ms"]
        if page["median_ms"] is None:
            verdict = f"not measured: {page['note']}"
        elif page["name"].startswith("CSV export"):
            verdict = "time not targeted"
        else:
            fast = page["median_ms"] < MAX_PAGE_MS
            steady = ratio is None or ratio <= MAX_RATIO
            verdict = "yes" if fast and steady else "NO"
            if ratio is None:
                verdict += " (no single-scan figure)"
        lines.append(
            f"| {page['name']} | {_ms(before.get('median_ms'))} | {_ms(page['median_ms'])} | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} | {_count(page['queries'])} | {verdict} |"
        )
    for label, figures in (("single scan", single), ("history", history)):
        if not figures:
            continue
        process = figures["export_process"]
        rss = process.get("peak_rss_mb")
        if rss is None:
            verdict = "-"
        else:
            verdict = "yes" if rss < MAX_EXPORT_RSS_MB else "NO"
        lines.append(
            f"\nCSV export in its own process ({label}): status {process.get('status')}, "
            f"{process.get('lines', '-')} lines, {process.get('bytes', '-')} bytes, "
            f"{process.get('seconds', '-')} s in the request, peak RSS {rss} MB "
            f"(target under {MAX_EXPORT_RSS_MB:.0f} MB: {verdict})"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50, help="Simulated accounts (default 50).")
    parser.add_argument("--scans", type=int, default=365, help="Daily scans of every account (default 365).")
    parser.add_argument(
        "--resources", type=int, default=2000, help="Results per account in every scan (default 2000)."
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=10,
        help="Results per account that flip between FAIL and PASS at each scan (default 10).",
    )
    parser.add_argument(
        "--turnover",
        type=int,
        default=2,
        help="Resources per account deleted, and as many created, at each scan (default 2).",
    )

    parser.add_argument("--repeat", type=int, default=15, help="Timed requests per page (default 15).")
    parser.add_argument(
        "--export-repeat", type=int, default=3, help="Timed in-process requests of the export (default 3)."
    )
    parser.add_argument("--seed", type=int, default=20261204, help="Seed of the simulated history.")

    parser.add_argument("--keep", action="store_true", help="Keep the database the script created.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Measure an existing database (one kept with --keep) without building; migrations are applied.",
    )
    parser.add_argument(
        "--baseline", type=Path, help="With --reuse: a --json file whose single-scan figures to compare with."
    )
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="N",
        help="Print EXPLAIN ANALYZE of each page's N slowest queries.",
    )
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument(
        "--no-triage", action="store_true", help="Skip the bulk triage measure (it changes triage states)."
    )
    parser.add_argument("--export-child", metavar="URL", help=argparse.SUPPRESS)

    args = parser.parse_args()
    for name in ("accounts", "scans", "resources", "repeat", "export_repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be 1 or more.")
    for name in ("changes", "turnover"):
        if getattr(args, name) < 0:
            parser.error(f"--{name}={getattr(args, name)} must be zero or more.")
    if args.baseline and not args.reuse:
        parser.error("--baseline only applies with --reuse.")
    return args


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def main() -> int:
    args = parse_args()
    if args.export_child:
        django_setup(os.environ["DATABASE_URL"])
        return export_child(args.export_child)

    launcher = Launcher()
    url = os.environ.get("DATABASE_URL") or f"{DEFAULT_SERVER_URL}/{DEFAULT_DATABASE}"
    database = database_prepare(url, reuse=args.reuse)
    log(f"Database {database.name} ({'created' if database.created else 'existing'})")
    try:
        django_setup(url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        results: dict = {
            "parameters": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
            "machine": machine(),
        }
        single = None
        if args.reuse:
            if args.baseline:
                single = json.loads(args.baseline.read_text())["single_scan"]
        else:
            from bench.pages_history import HistoryBuilder

            builder = HistoryBuilder(
                accounts=args.accounts,
                scans=args.scans,
                resources=args.resources,
                changes=args.changes,
                turnover=args.turnover,
                seed=args.seed,
                progress=log,
            )
            log("Storing the first scan through the scan services")
            builder.build_first()
            database_analyze()
            targets = targets_for_database()
            log(f"Measuring the single-scan database: {row_counts()}")
            single = measure(targets, args, launcher, url)
            log("Storing the rest of the history")
            builder.build_history()
            results["build"] = vars(builder.stats)
            log(f"History stored in {builder.stats.seconds:.0f} s")
        database_analyze()
        targets = targets_for_database()
        counts = row_counts()
        results["rows"] = counts
        log(f"Measuring the database with history: {counts}")
        history = measure(targets, args, launcher, url)
        results["single_scan"] = single
        results["history"] = history
        table = report_table(single, history)
        print(json.dumps({key: results[key] for key in ("parameters", "machine", "rows")}, indent=2))
        if "build" in results:
            print(json.dumps({"build": results["build"]}, indent=2))
        print(table)
        if args.explain:
            print(pages_explain(targets, _figures(history), slowest=args.explain))
        if not args.no_triage:
            log("Measuring a bulk triage through the findings page's bulk endpoint")
            results["bulk_triage"] = bulk_measure()
            print(bulk_report(results["bulk_triage"]))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    finally:
        launcher.close()
        from django.db import connections

        connections.close_all()
        if database.created and not args.keep:
            database_drop(database)
            log(f"Database {database.name} dropped")
    return 0


def _figures(measured: dict) -> list[PageFigures]:
    return [PageFigures(**page) for page in measured["pages"]]


if __name__ == "__main__":
    sys.exit(main())
