"""Import a Prowler mutelist as proposed accepted-risk rules.

    python manage.py import_mutelist mutelist.yaml --reason "Sandbox" --expires 2027-06-30 --user alice

Every rule is proposed by --user and waits for an admin's approval. Checks without an equivalent
here, and entries that cannot be expressed as rules, are listed and not imported.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.mutelist import mutelist_import


def _expiry(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--expires {value!r} is not a date. Use YYYY-MM-DD, such as 2027-06-30."
        ) from None
    # The exception lasts until the start of that day, UTC.
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Import a Prowler mutelist YAML file as proposed accepted-risk exception rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The mutelist YAML file.")
        parser.add_argument("--reason", required=True, help="Why these findings are accepted (required).")
        parser.add_argument(
            "--expires",
            required=True,
            help="Expiry date YYYY-MM-DD (UTC, the rules lapse as the day starts), at most 365 days ahead.",
        )
        parser.add_argument(
            "--user", required=True, help="User name of the analyst or admin who proposes the rules."
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the mutelist {str(path)!r}: {exc}") from None
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["user"]})
        except user_model.DoesNotExist:
            raise CommandError(
                f"There is no user {options['user']!r}. Create it or check the spelling."
            ) from None
        try:
            report = mutelist_import(
                user=user,
                text=text,
                reason=options["reason"],
                expires_at=_expiry(options["expires"]),
                source=f"Prowler mutelist {path.name}",
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages) + " Nothing was imported.") from None
        except PermissionDenied as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None

        self.stdout.write(f"Proposed {len(report.created)} rule(s); an admin must approve each one.")
        for exception in report.created:
            self.stdout.write(f"  exception {exception.pk}: {exception.describe_scope()}")
        if report.unmatched_checks:
            self.stdout.write("Prowler checks with no equivalent here (not imported):")
            for check in report.unmatched_checks:
                self.stdout.write(f"  {check}")
        if report.skipped:
            self.stdout.write("Not imported:")
            for line in report.skipped:
                self.stdout.write(f"  {line}")
        if report.unregistered_accounts:
            self.stdout.write(
                "Accounts not registered yet (their rules apply once they are): "
                + ", ".join(report.unregistered_accounts)
            )
