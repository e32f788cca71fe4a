"""Runs every registered check over one account's collected data."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from posture.aws.inventory import GLOBAL_REGION, AccountData, DataUnavailable
from posture.checks.base import CheckContext, CheckDefinition, EmptyScope, Result, Status, registry

logger = logging.getLogger(__name__)


def run_check(
    definition: CheckDefinition, data: AccountData, *, thresholds: dict[str, Any], now: dt.datetime
) -> list[Result]:
    """Run one check; failures become UNKNOWN results and empty scopes become NOT_APPLICABLE."""
    ctx = CheckContext(definition, data, thresholds=thresholds, now=now)
    try:
        definition.func(ctx)
        # Only a check that ran to the end may report "nothing to judge"; an aborted one did not look.
        _fill_empty_scopes(ctx)
    except DataUnavailable as exc:
        region = exc.region
        ctx.unknown(
            region=region,
            resource_id=ctx.region_resource_id(region),
            error=exc.error,
            resource_type="region" if region != GLOBAL_REGION else "account",
        )
    except Exception as exc:  # noqa: BLE001 - a broken check must not stop the others
        logger.exception("Check %s failed for account %s", definition.id, data.account_id)
        ctx.unknown(
            region=GLOBAL_REGION,
            resource_id=ctx.region_resource_id(GLOBAL_REGION),
            error=f"The check raised {type(exc).__name__}: {exc}",
            resource_type="account",
        )
    return _deduplicate(ctx.results)


def _fill_empty_scopes(ctx: CheckContext) -> None:
    definition = ctx.definition
    reason = f"No {definition.resource_type} to judge."
    if definition.empty == EmptyScope.ACCOUNT:
        if not ctx.results:
            ctx.not_applicable(
                region=GLOBAL_REGION,
                resource_id=ctx.region_resource_id(GLOBAL_REGION),
                reason=reason,
                resource_type="account",
            )
        return
    seen = {r.region for r in ctx.results}
    for region in ctx.data.region_names():
        if region not in seen:
            ctx.not_applicable(
                region=region,
                resource_id=ctx.region_resource_id(region),
                reason=f"{reason[:-1]} in {region}.",
                resource_type="region",
            )


def _deduplicate(results: list[Result]) -> list[Result]:
    """Keep one result per identity; the worst status wins, so listing order cannot change a verdict."""
    rank = {Status.FAIL: 3, Status.UNKNOWN: 2, Status.PASS: 1, Status.NOT_APPLICABLE: 0}
    best: dict[tuple[str, str, str], Result] = {}
    for result in results:
        key = (result.check_id, result.region, result.resource_id)
        current = best.get(key)
        if current is None or rank[result.status] > rank[current.status]:
            best[key] = result
    return sorted(best.values(), key=lambda r: (r.region, r.resource_id))


def run_checks(data: AccountData, *, thresholds: dict[str, dict[str, Any]], now: dt.datetime) -> list[Result]:
    results: list[Result] = []
    for check_id, definition in registry().items():
        effective = {**definition.default_thresholds(), **thresholds.get(check_id, {})}
        results.extend(run_check(definition, data, thresholds=effective, now=now))
    return results
