"""Write docs/checks.md from the check registry: `python manage.py checks_doc [--check]`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from posture.checks.catalog import render

DOC_PATH = Path(settings.BASE_DIR) / "docs" / "checks.md"


class Command(BaseCommand):
    help = "Write docs/checks.md from the check registry."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit with an error when docs/checks.md is out of date.",
        )

    def handle(self, *args, **options) -> None:
        text = render()
        if options["check"]:
            current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
            if current != text:
                raise CommandError(
                    f"{DOC_PATH} is out of date. Run `python manage.py checks_doc` and commit it."
                )
            self.stdout.write(f"{DOC_PATH} is up to date.")
            return
        DOC_PATH.write_text(text)
        self.stdout.write(f"Wrote {DOC_PATH}.")
