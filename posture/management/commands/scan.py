"""Start a scan from the command line: `python manage.py scan [--account ID ...] [--wait]`."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.validators import ACCOUNT_ID_RE
from posture import scores, services
from posture.models import Scan


class Command(BaseCommand):
    help = "Scan registered AWS accounts (all enabled accounts by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--account",
            action="append",
            default=[],
            metavar="ACCOUNT_ID",
            help="12-digit id of a registered account to scan; repeat for several. Default: every "
            "enabled account.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until the scan ends, then print its state and the score per area.",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=settings.SCAN_TIME_LIMIT + 60,
            help="With --wait: seconds to wait before giving up (default: the scan time limit + 60).",
        )

    def handle(self, *args, **options) -> None:
        accounts = self._accounts(options["account"])
        try:
            scan = services.scan_start(trigger=Scan.Trigger.CLI, accounts=accounts)
        except services.NoAccountsToScan as exc:
            raise CommandError(str(exc)) from None
        if accounts:
            self.stdout.write(f"Scan {scan.pk} started for {len(accounts)} account(s).")
        else:
            self.stdout.write(f"Scan {scan.pk} started for every enabled account.")
        scan.refresh_from_db()
        if not options["wait"] and not scan.is_finished:
            return
        # Without a broker the tasks ran in this process and the scan has ended already.
        scan = self._wait(scan.pk, options["timeout"])
        self._report(scan)
        if scan.state == Scan.State.FAILED:
            raise CommandError(f"Scan {scan.pk} failed: no account could be scanned.")

    def _accounts(self, account_ids: list[str]) -> list[Account] | None:
        if not account_ids:
            return None
        invalid = [a for a in account_ids if not ACCOUNT_ID_RE.match(a)]
        if invalid:
            raise CommandError(
                f"Invalid account id(s): {', '.join(invalid)}. An account id is exactly 12 digits."
            )
        found = {a.account_id: a for a in Account.objects.filter(account_id__in=account_ids)}
        missing = [a for a in account_ids if a not in found]
        if missing:
            raise CommandError(
                f"Account(s) not registered: {', '.join(missing)}. Register them in the dashboard "
                "(Accounts > Add) first."
            )
        return [found[a] for a in dict.fromkeys(account_ids)]

    def _wait(self, scan_id: int, timeout: int) -> Scan:
        deadline = time.monotonic() + timeout
        while True:
            scan = Scan.objects.get(pk=scan_id)
            if scan.is_finished:
                return scan
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Scan {scan_id} is still {scan.state} after {timeout} s. Is a Celery worker "
                    "running? Check the scan page for its progress."
                )
            time.sleep(1)

    def _report(self, scan: Scan) -> None:
        self.stdout.write(f"Scan {scan.pk} {scan.get_state_display().lower()}.")
        for account_scan in scan.account_scans.select_related("account"):
            line = f"  {account_scan.account}: {account_scan.get_state_display().lower()}"
            if account_scan.error_code:
                line += f" ({account_scan.error_code}: {account_scan.error_message})"
            self.stdout.write(line)
        summary = scores.scan_scores(scan)
        for row in summary.areas:
            self.stdout.write(f"  {row.label:<24} {_fmt(row.score)}  coverage {_fmt(row.coverage)}")
        self.stdout.write(f"  {'Overall':<24} {_fmt(summary.overall)}  coverage {_fmt(summary.coverage)}")


def _fmt(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:5.1f}%"
