"""Celery tasks of triage: each takes ids (or nothing) and calls one service."""

from __future__ import annotations

from celery import shared_task

from triage import services


@shared_task
def expire_exceptions() -> int:
    """Mark exceptions past their expiry as expired and uncover their findings, with events.

    Runs every five minutes (a django-celery-beat row created by a migration). Safe to rerun at any
    time: a second run finds nothing left to change.
    """
    return services.exceptions_expire()
