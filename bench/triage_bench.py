"""Benchmark triage: a bulk action over 10,000 findings, and 500 exception rules during a scan.

    .venv/bin/python bench/triage_bench.py                  # the two in-process measures
    .venv/bin/python bench/triage_bench.py --scan           # also the large preset's scan, end to end
    .venv/bin/python bench/triage_bench.py --scan --repeat 5 --json result.json

In-process measures run against a fresh SQLite database in a temporary folder:
- bulk: `triage.services.findings_bulk_triage` over 10,000 findings (new state, assignee and a
  comment, so 20,000 events), the wall time of the call;
- rules: `posture.services.findings_sync` of one account with 3,000 results, once as a first scan
  (creating the findings) and once as a rescan. Each runs without rules and with 500 approved
  rules, and the figure is the median of --repeat runs.

--scan runs the large preset of bench/scan_bench.py end to end. One account is seeded on a moto
server on 127.0.0.1, and `manage.py scan --account ID --wait` runs in its own process against a
fresh SQLite database, alternately without rules and with the same 500 rules, --repeat times each.
It reports the median wall time of each. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BULK_FINDINGS = 10_000
RESULTS = 3_000
RULES = 500
BENCH_ACCOUNT = "123412341234"  # the account bench/scan_bench.py seeds


def django_start(workdir: Path) -> None:
    """Configure Django on a fresh SQLite file in `workdir` and create its tables."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.update(
        {
            "DJANGO_DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SQLITE_PATH": str(workdir / "triage-bench.sqlite3"),
            "LOG_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rule_rows(check_ids: list[str], *, account_id: str, count: int = RULES) -> list[dict]:
    """Return `count` approved rules shaped like a real rule set, as model field values.

    Three in five name a check, with a resource glob, an account and region, or another account.
    Two in five name no check, so every finding of the account is compared with them: a tag rule
    and an account-wide resource glob. Few of them match anything, which is the slow case: a
    finding that no rule matches is compared with every rule of its buckets.
    """
    expires_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=180)).isoformat()
    rows = []
    for index in range(count):
        check_id = check_ids[index % len(check_ids)]
        shape = index % 5
        if shape == 0:
            scope = {"check_id": check_id, "resource_pattern": f"*/bench-*-{index:05d}"}
        elif shape == 1:
            scope = {
                "check_id": check_id,
                "account_id": account_id,
                "region": "us-east-1",
                "resource_pattern": f"*user/user-{index:05d}",
            }
        elif shape == 2:
            scope = {"check_id": check_id, "account_id": f"{900000000000 + index}"}
        elif shape == 3:
            scope = {"tags": {"team": f"team-{index}"}}
        else:
            scope = {"account_id": account_id, "resource_pattern": f"*:volume/vol-{index:05x}*"}
        rows.append(
            {
                "kind": "risk_accepted",
                "reason": "Benchmark rule",
                "scope": "rule",
                "state": "approved",
                "enabled": True,
                "expires_at": expires_at,
                **scope,
            }
        )
    return rows


def rules_create(rows: list[dict]) -> None:
    from triage.models import FindingException

    FindingException.objects.bulk_create(
        [
            FindingException(**{**row, "expires_at": dt.datetime.fromisoformat(row["expires_at"])})
            for row in rows
        ]
    )


def synthetic_results(check_ids: list[str], count: int = RESULTS) -> list:
    """Return `count` results spread over the real checks: 70 % PASS, 25 % FAIL, 5 % NOT_APPLICABLE."""
    from posture.checks.base import Result, Status

    results = []
    for index in range(count):
        check_id = check_ids[index % len(check_ids)]
        status = Status.PASS
        if index % 4 == 0:
            status = Status.FAIL
        elif index % 20 == 1:
            status = Status.NOT_APPLICABLE
        results.append(
            Result(
                check_id=check_id,
                region="us-east-1",
                resource_id=f"arn:aws:ec2:us-east-1:{BENCH_ACCOUNT}:volume/vol-{index:08x}",
                resource_type="volume",
                status=status,
                reason=f"{check_id} is {status}.",
                evidence={"Tags": [{"Key": "team", "Value": f"team-{index % 7}"}]},
            )
        )
    return results


def measure_bulk() -> float:
    from django.contrib.auth.models import Group, User

    from accounts.models import Account
    from posture.models import Finding
    from triage.services import findings_bulk_triage

    analyst = User.objects.create_user("bench-analyst")
    analyst.groups.add(Group.objects.get_or_create(name="analyst")[0])
    account = Account.objects.create(
        account_id="999999999999",
        name="bulk",
        role_arn="arn:aws:iam::999999999999:role/R",
        external_id="bench-x",
    )
    now = dt.datetime.now(dt.UTC)
    findings = Finding.objects.bulk_create(
        [
            Finding(
                account=account,
                region="us-east-1",
                check_id="ebs_volume_encrypted",
                resource_id=f"arn:aws:ec2:us-east-1:999999999999:volume/vol-{index:08x}",
                resource_type="volume",
                area="configuration",
                severity="high",
                status="FAIL",
                reason="Not encrypted.",
                first_seen_at=now,
                last_seen_at=now,
                status_changed_at=now,
            )
            for index in range(BULK_FINDINGS)
        ],
        batch_size=1000,
    )
    ids = [finding.pk for finding in findings]
    started = time.perf_counter()
    changed = findings_bulk_triage(
        user=analyst, finding_ids=ids, state="in_progress", assignee=analyst, comment="Benchmark"
    )
    seconds = time.perf_counter() - started
    assert changed == BULK_FINDINGS, changed
    return seconds


def measure_rules(repeat: int) -> dict[str, float]:
    """Median findings_sync seconds of a first scan and a rescan, without and with the rules."""
    from django.utils import timezone

    from accounts.models import Account
    from posture import services
    from posture.checks.base import registry
    from posture.models import Scan
    from triage.models import FindingException

    check_ids = list(registry())
    results = synthetic_results(check_ids)
    timings: dict[str, list[float]] = {key: [] for key in ("first_0", "rescan_0", "first_500", "rescan_500")}
    for run in range(repeat):
        for rules in (0, RULES):
            FindingException.objects.all().delete()
            if rules:
                rules_create(rule_rows(check_ids, account_id=BENCH_ACCOUNT, count=rules))
            account = Account.objects.create(
                account_id=BENCH_ACCOUNT,
                name=f"rules-{run}-{rules}",
                role_arn=f"arn:aws:iam::{BENCH_ACCOUNT}:role/R",
                external_id="bench-x",
            )
            for phase in ("first", "rescan"):
                scan = Scan.objects.create(
                    trigger=Scan.Trigger.CLI, ruleset_version="bench", scanned_at=timezone.now()
                )
                started = time.perf_counter()
                services.findings_sync(scan=scan, account=account, results=results)
                timings[f"{phase}_{rules}"].append(time.perf_counter() - started)
            account.delete()
    return {key: round(statistics.median(values), 3) for key, values in timings.items()}


def measure_scan(repeat: int) -> dict[str, float]:
    """Median wall seconds of `manage.py scan --wait` on the large preset, without and with rules."""
    from bench.scan_bench import (
        ACCOUNT_ID,
        EXTERNAL_ID,
        PRESETS,
        REGION,
        django_env,
        manage,
        register_account,
    )
    from posture.checks.base import registry
    from sandbox.seed import SimulatedAccount, accounts_seal, seed_sized
    from sandbox.server import SandboxServer

    assert ACCOUNT_ID == BENCH_ACCOUNT, ACCOUNT_ID
    rows = rule_rows(list(registry()), account_id=ACCOUNT_ID)
    walls: dict[str, list[float]] = {"scan_0": [], "scan_500": []}
    with SandboxServer() as server, tempfile.TemporaryDirectory(prefix="triage-scan-bench-") as tmp:
        account = SimulatedAccount(
            account_id=ACCOUNT_ID,
            name="bench",
            environment="bench",
            external_id=EXTERNAL_ID,
            regions=(REGION,),
        )
        seed_sized(account, endpoint_url=server.url, region=REGION, **PRESETS["large"])
        accounts_seal([account])
        rules_file = Path(tmp) / "rules.json"
        rules_file.write_text(json.dumps(rows))
        for run in range(repeat):
            for rules in (0, RULES):
                workdir = Path(tmp) / f"run-{run}-{rules}"
                workdir.mkdir()
                env = django_env(workdir, server.url)
                manage(env, "migrate", "--verbosity", "0")
                register_account(env)
                if rules:
                    code = (
                        "import json, datetime as dt; from triage.models import FindingException as E;"
                        f"rows = json.load(open({str(rules_file)!r}));"
                        "[r.update(expires_at=dt.datetime.fromisoformat(r['expires_at'])) for r in rows];"
                        "E.objects.bulk_create([E(**r) for r in rows])"
                    )
                    manage(env, "shell", "-c", code)
                started = time.monotonic()
                subprocess.run(  # noqa: S603 - fixed arguments
                    [sys.executable, "manage.py", "scan", "--account", ACCOUNT_ID, "--wait"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                walls[f"scan_{rules}"].append(time.monotonic() - started)
    return {key: round(statistics.median(values), 2) for key, values in walls.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="Runs per configuration (default 5).")
    parser.add_argument("--scan", action="store_true", help="Also run the large preset's scan end to end.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat={args.repeat} must be 1 or more.")

    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        django_start(Path(tmp))
        figures: dict[str, object] = {"bulk_triage_seconds": round(measure_bulk(), 3)}
        sync = measure_rules(args.repeat)
        figures["findings_sync_seconds"] = sync
        figures["rules_added_seconds"] = {
            "first_scan": round(sync["first_500"] - sync["first_0"], 3),
            "rescan": round(sync["rescan_500"] - sync["rescan_0"], 3),
        }
        if args.scan:
            scan = measure_scan(args.repeat)
            figures["scan_wall_seconds"] = scan
            figures["scan_added_percent"] = round(
                100 * (scan["scan_500"] - scan["scan_0"]) / scan["scan_0"], 1
            )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
