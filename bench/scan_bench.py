"""Benchmark one account scan: wall time, peak RSS and AWS API requests of `manage.py scan --wait`.

    .venv/bin/python bench/scan_bench.py --preset large
    .venv/bin/python bench/scan_bench.py --users 50 --buckets 20 --security-groups 50 --volumes 20

The script starts a moto server on 127.0.0.1 in its own process, with the sandbox patches. It seeds
one simulated account through the AWS APIs and registers it in a fresh SQLite database. Then it runs
`python manage.py scan --account ID --wait` as a separate process and measures that process alone:
wall time from start to exit, its peak resident set size (from wait4), and the number of requests
the simulator received while it ran (AssumeRole included). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = {
    "small": {"users": 20, "buckets": 10, "security_groups": 20, "volumes": 10},
    "medium": {"users": 100, "buckets": 50, "security_groups": 100, "volumes": 50},
    "large": {"users": 500, "buckets": 200, "security_groups": 500, "volumes": 200},
}
ACCOUNT_ID = "123412341234"
EXTERNAL_ID = "bench-external-id"
REGION = "us-east-1"
_SERVICE_RE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


# Linux keeps a process's peak RSS across exec, so a child forked from this (large) process would
# report this process's size. The measured command is therefore started by a small launcher that is
# itself started before the simulator and its data exist.
_LAUNCHER = """
import json, os, subprocess, sys, time
request = json.loads(sys.stdin.readline())
started = time.monotonic()
process = subprocess.Popen(request["argv"], cwd=request["cwd"], env=request["env"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
output = process.stdout.read().decode()
_, status, usage = os.wait4(process.pid, 0)
print(json.dumps({"wall": time.monotonic() - started, "maxrss_kb": usage.ru_maxrss,
                  "exit_code": os.waitstatus_to_exitcode(status), "output": output}))
"""


def launcher_start() -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def launcher_run(launcher: subprocess.Popen, argv: list[str], env: dict[str, str]) -> dict:
    request = json.dumps({"argv": argv, "cwd": str(ROOT), "env": env})
    stdout, _ = launcher.communicate(request + "\n")
    return json.loads(stdout)


class RequestCounter:
    """Counts requests reaching the moto server, by service (from the SigV4 credential scope)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.enabled = False
        self._lock = threading.Lock()

    def install(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        original = DomainDispatcherApplication.__call__
        counter = self

        def counting_call(app, environ, start_response):
            if counter.enabled:
                match = _SERVICE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
                with counter._lock:
                    counter.counts[match.group(1) if match else "unsigned"] += 1
            return original(app, environ, start_response)

        DomainDispatcherApplication.__call__ = counting_call


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), help="Account size preset (default: large).")
    parser.add_argument("--users", type=int, help="IAM users to seed.")
    parser.add_argument("--buckets", type=int, help="S3 buckets to seed.")
    parser.add_argument("--security-groups", type=int, help="Security groups to seed in one region.")
    parser.add_argument("--volumes", type=int, help="EBS volumes to seed in one region.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()
    size = dict(PRESETS[args.preset or "large"])
    for name in ("users", "buckets", "security_groups", "volumes"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                parser.error(f"--{name.replace('_', '-')}={value} must be zero or more.")
            size[name] = value
    args.size = size
    return args


def django_env(workdir: Path, endpoint_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        {
            "DJANGO_DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SQLITE_PATH": str(workdir / "bench.sqlite3"),
            "LOG_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_ENDPOINT_URL": endpoint_url,
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def register_account(env: dict[str, str]) -> None:
    code = (
        "from accounts.models import Account;"
        f"Account.objects.create(account_id='{ACCOUNT_ID}', name='bench',"
        f" role_arn='arn:aws:iam::{ACCOUNT_ID}:role/BackupPostureReadOnly',"
        f" external_id='{EXTERNAL_ID}', regions=['{REGION}'])"
    )
    manage(env, "shell", "-c", code)


def main() -> int:
    args = parse_args()
    launcher = launcher_start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        os.environ[key] = value
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from sandbox.seed import SCANNER_ROLE, SimulatedAccount, accounts_seal, seed_sized
    from sandbox.server import SandboxServer

    assert SCANNER_ROLE == "BackupPostureReadOnly", SCANNER_ROLE
    counter = RequestCounter()
    counter.install()
    with SandboxServer() as server, tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        account = SimulatedAccount(
            account_id=ACCOUNT_ID,
            name="bench",
            environment="bench",
            external_id=EXTERNAL_ID,
            regions=(REGION,),
        )
        started = time.monotonic()
        seed_sized(account, endpoint_url=server.url, region=REGION, **args.size)
        accounts_seal([account])
        seed_seconds = time.monotonic() - started

        env = django_env(Path(tmp), server.url)
        manage(env, "migrate", "--verbosity", "0")
        register_account(env)

        counter.counts.clear()
        counter.enabled = True
        measured = launcher_run(
            launcher, [sys.executable, "manage.py", "scan", "--account", ACCOUNT_ID, "--wait"], env
        )
        counter.enabled = False

    figures = {
        "size": args.size,
        "seed_seconds": round(seed_seconds, 1),
        "wall_seconds": round(measured["wall"], 2),
        "peak_rss_mb": round(measured["maxrss_kb"] / 1024, 1),  # Linux reports kilobytes
        "requests": sum(counter.counts.values()),
        "requests_by_service": dict(counter.counts.most_common()),
        "exit_code": measured["exit_code"],
    }
    print(measured["output"].rstrip())
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return measured["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
