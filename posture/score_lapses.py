"""Take exceptions that expired after a scan out of the scores read from its snapshots.

A snapshot is written once, when its scan ends, with the exceptions valid then. Each snapshot also
stores what its scores owe to exceptions that will expire (`ScoreSnapshot.exception_lapses`, see
posture.scoring.exception_lapses). The rule for reads:

- a snapshot that is still its account's latest stands for the account now, so it loses what it
  owed to every exception that expired before `now`: the score drops at the expiry, without
  waiting for the next scan;
- an older snapshot shows the score as it was at its scan, exceptions included; the account's
  next scan already judged the findings without the expired exception.

posture.scores.scores_by_scan (the score cards and trend) uses `area_scores_lapsed`, and
posture.scores.account_scores_by_scan and the overview's account ranking (one account's overall
score) use `account_area_scores_lapsed`. Each calls them only when one of the snapshots it read owes
something to an exception expired by `now`. The extra reads then grow with accounts, never with
findings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, QuerySet

from posture.models import ScoreSnapshot
from posture.scoring import lapse_delta, mean

# (numerator, raw numerator, denominator) to add to one snapshot's stored values.
Delta = tuple[float, float, float]


def _lapsed_snapshots(
    scan_ids: Iterable[int], *, accounts: Iterable[int] | None, now: dt.datetime
) -> dict[int, tuple[int, int, Delta]]:
    """Return {snapshot pk: (account pk, scan id, delta)} for the latest snapshots that lapsed by `now`."""
    later = ScoreSnapshot.objects.filter(
        account_id=OuterRef("account_id"), scanned_at__gt=OuterRef("scanned_at")
    )
    snapshots: QuerySet[ScoreSnapshot] = ScoreSnapshot.objects.filter(
        scan_id__in=list(scan_ids), exceptions_expire_at__lte=now
    ).exclude(Exists(later))
    if accounts is not None:
        snapshots = snapshots.filter(account_id__in=list(accounts))
    lapsed = {}
    for pk, account_id, scan_id, lapses in snapshots.values_list(
        "pk", "account_id", "scan_id", "exception_lapses"
    ):
        delta = lapse_delta(lapses, now)
        if any(delta):
            lapsed[pk] = (account_id, scan_id, delta)
    return lapsed


def lapsed_deltas(
    scan_ids: Iterable[int], *, accounts: Iterable[int] | None = None, now: dt.datetime
) -> dict[int, Delta]:
    """Return {snapshot pk: delta} for the latest snapshots whose exceptions expired by `now`."""
    return {
        pk: delta for pk, (_, _, delta) in _lapsed_snapshots(scan_ids, accounts=accounts, now=now).items()
    }


def _score(numerator: float, denominator: float) -> float | None:
    return 100.0 * numerator / denominator if denominator > 0 else None


def area_scores_lapsed(
    grouped: dict[int, dict[str, dict]],
    scan_ids: Iterable[int],
    *,
    accounts: Iterable[int] | None = None,
    now: dt.datetime,
) -> None:
    """Recompute in `grouped` ({scan id: {area: row}}) the "score" and "raw_score" that lapsed.

    Each row's scores are the mean over accounts of the account's score, as in
    posture.scores.scores_by_scan; only the (scan, area) pairs with a lapsed snapshot are read
    again, one row per account.
    """
    deltas = lapsed_deltas(scan_ids, accounts=accounts, now=now)
    if not deltas:
        return
    affected = set(
        ScoreSnapshot.objects.filter(pk__in=list(deltas)).values_list("scan_id", "area").distinct()
    )
    snapshots = ScoreSnapshot.objects.filter(
        scan_id__in={scan_id for scan_id, _ in affected}, area__in={area for _, area in affected}
    )
    if accounts is not None:
        snapshots = snapshots.filter(account_id__in=list(accounts))
    headline: dict[tuple[int, str], list[float | None]] = defaultdict(list)
    raw: dict[tuple[int, str], list[float | None]] = defaultdict(list)
    for pk, scan_id, area, numerator, raw_numerator, denominator in snapshots.values_list(
        "pk", "scan_id", "area", "numerator", "raw_numerator", "denominator"
    ):
        if (scan_id, area) not in affected:
            continue
        change = deltas.get(pk, (0.0, 0.0, 0.0))
        headline[(scan_id, area)].append(_score(numerator + change[0], denominator + change[2]))
        raw[(scan_id, area)].append(_score(raw_numerator + change[1], denominator + change[2]))
    for scan_id, area in affected:
        row = grouped.get(scan_id, {}).get(area)
        if row is not None:
            row["score"] = mean(headline[(scan_id, area)])
            row["raw_score"] = mean(raw[(scan_id, area)])


def account_area_scores_lapsed(
    scan_ids: Iterable[int], *, accounts: Iterable[int] | None = None, now: dt.datetime
) -> dict[tuple[int, int], dict[str, float | None]]:
    """Return {(account pk, scan id): {area: headline score}} for the accounts with a lapsed snapshot.

    Every area of such an account and scan is listed, lapsed or not, so the caller can compute the
    account's overall score again from them (posture.scoring.overall). Pairs without a lapsed
    snapshot are left out: their stored scores stand. Two queries when something lapsed, one
    otherwise.
    """
    lapsed = _lapsed_snapshots(scan_ids, accounts=accounts, now=now)
    if not lapsed:
        return {}
    pairs = {(account_id, scan_id) for account_id, scan_id, _ in lapsed.values()}
    snapshots = ScoreSnapshot.objects.filter(
        account_id__in={account_id for account_id, _ in pairs}, scan_id__in={scan_id for _, scan_id in pairs}
    )
    scores: dict[tuple[int, int], dict[str, float | None]] = defaultdict(dict)
    for pk, account_id, scan_id, area, numerator, denominator in snapshots.values_list(
        "pk", "account_id", "scan_id", "area", "numerator", "denominator"
    ):
        if (account_id, scan_id) not in pairs:
            continue
        change = lapsed[pk][2] if pk in lapsed else (0.0, 0.0, 0.0)
        scores[(account_id, scan_id)][area] = _score(numerator + change[0], denominator + change[2])
    return dict(scores)
