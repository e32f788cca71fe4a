"""Run the demo: simulated AWS accounts, weeks of real scan history, and the dashboard.

`python manage.py demo [--port 8000] [--no-serve]` (or `make demo`) needs an empty SQLite database
and the development requirements (moto). It starts a moto server on 127.0.0.1 in this process,
seeds three accounts through the AWS APIs and registers them. It then runs one scan per entry of
`sandbox.timeline.TIMELINE`, each dated days in the past, with changes to the accounts between
them. Finally it serves the dashboard with the simulator still running, so "Verify role" and new
scans work against it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from accounts.services import account_create, account_verify
from posture.models import Scan, ScoreSnapshot
from posture.services import scan_start

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Seconds between two runs of the exception expiry while the demo serves.
EXPIRY_INTERVAL = 60
# File with the running demo's simulator URL, read by `make demo-scan` in another terminal.
ENDPOINT_FILE = Path(settings.BASE_DIR) / ".demo-endpoint"
# Back-dated scans stand for this time of day (UTC), like a daily schedule would.
SCAN_HOUR = 6


class Command(BaseCommand):
    help = (
        "Build the demo: simulated AWS accounts on a local moto server, a history of real scans dated "
        "in the past, and a demo login; then serve the dashboard on 127.0.0.1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="TCP port on 127.0.0.1 for the dashboard (default 8000)."
        )
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Stop after the scans instead of serving the dashboard (the simulator stops too).",
        )

    def handle(self, *args, **options) -> None:
        port = options["port"]
        serve = not options["no_serve"]
        if serve:
            _require_free_port(port)
        _require_sqlite()

        from sandbox.server import SandboxServer

        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        _require_empty_database()

        server = SandboxServer()
        server.start()
        # SIGTERM (kill, a closed terminal's job control) unwinds like Ctrl-C, so the finally block
        # below removes the endpoint file and `make demo-scan` does not scan a stopped simulator.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            settings.AWS_ENDPOINT_URL = server.url
            # A client created without an explicit endpoint reaches the simulator too, never AWS.
            os.environ["AWS_ENDPOINT_URL"] = server.url
            self.stdout.write(f"Simulated AWS (moto) listening on {server.url}")
            password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
            self._build(server.url, password=password)
            self.stdout.write(f"Demo built in {time.monotonic() - started:.0f} s.")
            if serve:
                self._serve(port, password=password)
        finally:
            ENDPOINT_FILE.unlink(missing_ok=True)
            server.stop()

    def _build(self, endpoint_url: str, *, password: str) -> None:
        from sandbox.demo_accounts import DEMO_ACCOUNTS, clock_advance, seed_demo
        from sandbox.patches import state
        from sandbox.timeline import TIMELINE
        from sandbox.triage_story import TRIAGE_STEPS, TriageStep, people_create

        today = timezone.now()
        dates = [_scan_date(today, entry.days_back) for entry in TIMELINE]

        step = time.monotonic()
        state.clock = dates[0]
        clients = seed_demo(endpoint_url=endpoint_url, now=dates[0])
        accounts = [
            account_create(
                account_id=account.account_id,
                name=account.name,
                role_arn=account.role_arn,
                external_id=account.external_id,
                regions=list(account.regions),
                environment=account.environment,
            )
            for account in DEMO_ACCOUNTS
        ]
        self.stdout.write(
            f"Seeded {len(accounts)} simulated accounts in {time.monotonic() - step:.1f} s: "
            + ", ".join(str(a) for a in accounts)
        )

        people = people_create(password=password)
        # Scans and the triage between them, in the order of the times they stand for.
        history = [(scanned_at, entry) for entry, scanned_at in zip(TIMELINE, dates, strict=True)]
        history += [(step.at(today), step) for step in TRIAGE_STEPS if step.days_back is not None]
        for when, entry in sorted(history, key=lambda item: item[0]):
            if isinstance(entry, TriageStep):
                entry.apply(people, when, today)
                self.stdout.write(f"Triage dated {when:%Y-%m-%d %H:%M}: {entry.summary}")
                continue
            step = time.monotonic()
            state.clock = when
            for change in entry.changes:
                change.apply(clients[change.account.account_id])
            clock_advance(clients, at=when)
            scan = scan_start(trigger=Scan.Trigger.DEMO, scanned_at=when, note=entry.note())
            scan.refresh_from_db()
            self._scan_report(scan, entry.days_back, time.monotonic() - step)
        state.clock = None
        now = timezone.now()
        for triage_step in TRIAGE_STEPS:
            if triage_step.days_back is None:
                triage_step.apply(people, now, today)
                self.stdout.write(f"Triage now: {triage_step.summary}")

        for account in accounts:
            account_verify(account=account)
        # From now on an account the demo did not seed has no role to assume, as on AWS.
        state.deny_unsealed = True
        ENDPOINT_FILE.write_text(endpoint_url + "\n")
        self._summary(Scan.objects.order_by("-scanned_at", "-id").first())

    def _scan_report(self, scan: Scan, days_back: int, seconds: float) -> None:
        counts: dict[str, int] = {}
        for account_scan in scan.account_scans.all():
            for status, count in account_scan.counts.items():
                counts[status] = counts.get(status, 0) + count
        unit = "day" if days_back == 1 else "days"
        self.stdout.write(
            f"Scan {scan.pk} dated {scan.scanned_at:%Y-%m-%d} ({days_back} {unit} back): "
            f"{scan.get_state_display().lower()}, {counts.get('PASS', 0)} passed, "
            f"{counts.get('FAIL', 0)} failed, {counts.get('UNKNOWN', 0)} unknown "
            f"({seconds:.1f} s)"
        )
        if scan.state != Scan.State.COMPLETED:
            for account_scan in scan.account_scans.select_related("account"):
                for error in account_scan.errors[:5]:
                    self.stderr.write(
                        f"  {account_scan.account.name} {error.get('region')} {error.get('key')}: "
                        f"{error.get('code')} {error.get('message')}"
                    )
                if account_scan.error_code:
                    name, code = account_scan.account.name, account_scan.error_code
                    self.stderr.write(f"  {name}: {code} {account_scan.error_message}")

    def _summary(self, scan: Scan | None) -> None:
        """Print each account's area scores from the last scan's snapshots."""
        if scan is None:
            return
        snapshots = (
            ScoreSnapshot.objects.filter(scan=scan).select_related("account").order_by("account__name")
        )
        areas = sorted({s.area for s in snapshots})
        labels = {s.area: s.get_area_display() for s in snapshots}
        width = max(len(labels[a]) for a in areas) if areas else 10
        self.stdout.write(f"\nScores of the last scan ({scan.scanned_at:%Y-%m-%d}), score and coverage:")
        by_account: dict[str, dict[str, ScoreSnapshot]] = {}
        for snapshot in snapshots:
            by_account.setdefault(snapshot.account.name, {})[snapshot.area] = snapshot
        for name, per_area in by_account.items():
            self.stdout.write(f"  {name}")
            for area in areas:
                snapshot = per_area.get(area)
                self.stdout.write(f"    {labels[area]:<{width}}  {_score(snapshot)}")

    def _serve(self, port: int, *, password: str) -> None:
        from sandbox.triage_story import ADMIN_USERNAME, ANALYST_USERNAME, MANAGER_USERNAME

        url = f"http://{HOST}:{port}/"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDashboard: {url}\n"
                f"Logins, all with the password {password}:\n"
                f"  {ADMIN_USERNAME} (admin: approves exceptions, manages accounts and scans)\n"
                f"  {ANALYST_USERNAME} (analyst: triages findings, proposes exceptions)\n"
                f"  {MANAGER_USERNAME} (viewer: reads the scores)\n"
            )
            + "Scan the simulated accounts from another terminal with `make demo-scan`.\n"
            + "Exceptions past their expiry expire within a minute (Celery beat does it in production).\n"
            + "Stop with Ctrl-C. Run `make demo` again to rebuild the demo from scratch.\n"
        )
        _expiry_ticker_start()
        call_command("runserver", f"{HOST}:{port}", use_reloader=False)


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _expiry_ticker_start() -> None:
    """Expire exceptions every EXPIRY_INTERVAL seconds in a daemon thread, in place of Celery beat.

    The demo has no broker, so the periodic task that production runs every five minutes would
    never run, and an accepted risk would keep its findings' triage state after its expiry.
    """
    from triage.services import exceptions_expire

    def tick() -> None:
        while True:
            time.sleep(EXPIRY_INTERVAL)
            try:
                exceptions_expire()
            except Exception:
                # The demo keeps serving; the next tick tries again.
                logger.exception("The demo's exception expiry failed")
            finally:
                connection.close()

    threading.Thread(target=tick, name="demo-exception-expiry", daemon=True).start()


def _scan_date(today: dt.datetime, days_back: int) -> dt.datetime:
    return (today - dt.timedelta(days=days_back)).replace(hour=SCAN_HOUR, minute=0, second=0, microsecond=0)


def _score(snapshot: ScoreSnapshot | None) -> str:
    if snapshot is None or not snapshot.denominator:
        return "   n/a"
    score = 100.0 * snapshot.numerator / snapshot.denominator
    coverage = (
        100.0 * snapshot.results_decided / snapshot.results_expected if snapshot.results_expected else 0
    )
    findings = "finding" if snapshot.failed == 1 else "findings"
    return f"{score:5.1f}%  coverage {coverage:5.1f}%  ({snapshot.failed} failing {findings})"


def _require_free_port(port: int) -> None:
    """Fail before the slow build when the dashboard could not listen on the port."""
    if not 1 <= port <= 65535:
        raise CommandError(f"--port {port} is not a TCP port. Use a number from 1 to 65535.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise CommandError(
                f"Port {port} on {HOST} is not free ({exc.strerror}). Stop what uses it or pass "
                "another port, for example `make demo PORT=8123`."
            ) from None


def _require_sqlite() -> None:
    if connection.vendor != "sqlite":
        raise CommandError(
            f"The demo builds its own SQLite database, but the database is {connection.vendor} "
            "(DATABASE_URL is set). Unset DATABASE_URL and set SQLITE_PATH, as `make demo` does."
        )


def _require_empty_database() -> None:
    """Reject a database that already contains accounts or scans, so simulated ones never mix in."""
    accounts = Account.objects.count()
    scans = Scan.objects.count()
    users = get_user_model().objects.exists()
    if accounts or scans or users:
        raise CommandError(
            f"The database {settings.DATABASES['default']['NAME']} already contains {accounts} account(s), "
            f"{scans} scan(s){' and users' if users else ''}. The demo needs an empty database: "
            "delete the file (`make demo` deletes demo.sqlite3) or set SQLITE_PATH to a new file."
        )
